"""The rule table (provenance/knowledge/rules.py) carries what SARIF and the docs need for every rule,
and docs/rules.md, which every ``helpUri`` points into, is generated from it and current."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from provenance import REPOSITORY_URL
from provenance.knowledge.rules import COMPARE_RULES, RULE_BY_ID, RULES, compare_rule
from provenance.report import rules_page

ROOT = Path(__file__).resolve().parents[2]
PASCAL = re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*")


def test_rows_are_unique_and_sarif_friendly() -> None:
    rows = RULES + COMPARE_RULES
    assert len({r.id for r in rows}) == len({r.name for r in rows}) == len(rows) == len(RULE_BY_ID)
    for r in rows:
        assert PASCAL.fullmatch(r.name), r.name
        assert r.title and r.trigger and r.why and r.action, r.id
        assert r.help_uri == f"{REPOSITORY_URL}/blob/main/docs/rules.md#{r.id.lower()}"
    assert all(r.check is not None for r in RULES) and all(r.check is None for r in COMPARE_RULES)
    for verdict in ("derived", "independent", "inconclusive"):
        assert f"`{verdict}`" in compare_rule(verdict).trigger
    assert compare_rule("no such verdict") is compare_rule("inconclusive")


def test_rules_page_is_current_and_has_every_anchor() -> None:
    page = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert page == rules_page.render(), "docs/rules.md is stale: run python docs/regenerate.py"
    headings = re.findall(r"^### (\S+)$", page, flags=re.MULTILINE)
    assert sorted(headings) == sorted(r.id for r in RULES + COMPARE_RULES)
    # GitHub's heading anchor: lower-cased, punctuation other than "-" dropped, spaces to "-"
    assert {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings} == \
        {r.anchor for r in RULES + COMPARE_RULES}
    for r in RULES:  # each section says what the table says
        section = page.split(f"### {r.id}\n", 1)[1].split("\n### ", 1)[0]
        assert r.name in section and r.trigger in section and r.why in section and r.action in section


def test_regenerate_check_mode(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "regenerate.py"), "--check"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
