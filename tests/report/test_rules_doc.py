"""The rule table (provenance/rule_docs.py) covers every rule id the code can emit, its names are what
SARIF wants, and docs/rules.md, which every ``helpUri`` points into, is generated from it and current."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from provenance import rule_docs
from provenance.report import rules_page

ROOT = Path(__file__).resolve().parents[2]
PASCAL = re.compile(r"[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)*")


def _emitted_ids() -> set[str]:
    """Every finding id written in the package's source: ``Finding("PROV-...")`` literals and the
    ``_f("LIC-001", ...)`` short form of the risk rules (which add the ``PROV-`` prefix)."""
    ids: set[str] = set()
    for path in (ROOT / "provenance").rglob("*.py"):
        if path.name == "rule_docs.py":
            continue
        text = path.read_text(encoding="utf-8")
        ids |= set(re.findall(r'Finding\(\s*"(PROV-[A-Z]+-\d{3})"', text))
        ids |= {f"PROV-{i}" for i in re.findall(r'_f\(\s*"([A-Z]+-\d{3})"', text)}
    return ids


def test_every_emitted_id_has_a_row_and_every_row_is_used() -> None:
    emitted = _emitted_ids()
    assert len(emitted) >= 20  # the scan itself works (LIC-001..015, LIN-001..005, OK-001/002)
    table = {r.id for r in rule_docs.RULES if not r.id.startswith("PROV-CMP-")}
    assert emitted == table


def test_rows_are_unique_and_sarif_friendly() -> None:
    ids = [r.id for r in rule_docs.RULES]
    names = [r.name for r in rule_docs.RULES]
    assert len(set(ids)) == len(ids) and len(set(names)) == len(names)
    for r in rule_docs.RULES:
        assert PASCAL.fullmatch(r.name), r.name
        assert r.title and r.trigger and r.why and r.action, r.id
        assert r.help_uri == f"{rule_docs.REPOSITORY_URL}/blob/main/docs/rules.md#{r.id.lower()}"
    for verdict in ("derived", "independent", "inconclusive"):
        assert rule_docs.compare_rule(verdict).trigger.count(f"`{verdict}`") == 1


def test_rules_page_is_current_and_has_every_anchor() -> None:
    page = (ROOT / rule_docs.RULES_PAGE).read_text(encoding="utf-8")
    assert page == rules_page.render(), "docs/rules.md is stale: run python docs/regenerate.py"
    headings = re.findall(r"^### (\S+)$", page, flags=re.MULTILINE)
    assert headings == [r.id for group in ("LIN", "LIC", "OK", "CMP") for r in rule_docs.RULES
                        if r.id.split("-")[1] == group]
    # GitHub's heading anchor: lower-cased, punctuation other than "-" dropped, spaces to "-"
    assert {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings} == \
        {r.anchor for r in rule_docs.RULES}


def test_regenerate_check_mode(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "regenerate.py"), "--check"], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
