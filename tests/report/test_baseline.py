"""``audit --baseline``: new / fixed / unchanged findings and the verdicts that moved, on a real
registry change (tests/report/conftest.py ``registry_change``), exit codes counting only new findings,
SARIF ``baselineState``, and hostile baseline files."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from rich.console import Console

from provenance.cli import cli, terminal
from provenance.fingerprint import registry
from provenance.report import baseline, json_, make_report, render
from tests.report.bodies import RegistryChange
from tests.report.schemas import validate_sarif


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def test_registry_change_moves_the_verdict(registry_change: RegistryChange) -> None:
    before, after = _load(registry_change.before), _load(registry_change.after)
    # a tokenizer-less model cannot be compared with the shipped text-vocabulary references of other widths
    # (Gemma, Qwen): fail closed, unverified with a medium PROV-LIN-006, never "independent"
    assert before["lineage"]["verdict"] == "unverified" and "baseline" not in before
    assert [(f["id"], f["severity"]) for f in before["findings"]] == [("PROV-LIN-006", "medium")]
    assert (after["lineage"]["verdict"], after["lineage"]["base"]) == ("derived", "parent")
    jsonschema.validate(after, json_.schema())
    section = after["baseline"]
    assert section["source"] == str(registry_change.before)
    assert section["counts"] == {"new": 1, "fixed": 0, "unchanged": 1}
    assert [(r["state"], r["id"]) for r in section["findings"]] == [("new", "PROV-LIC-015"), ("unchanged", "PROV-LIN-006")]
    moved = {m["what"]: (m["before"], m["after"]) for m in section["moves"]}
    assert moved["lineage.verdict"] == ("unverified", "derived")
    assert moved["references[parent].verdict"] == (None, "derived")  # the reference the registry gained
    assert moved["license.concluded"] == ("apache-2.0", "mit") and "risk" not in moved  # medium before and after
    assert not any(k.startswith("references[stories260K]") for k in moved)  # shipped references did not move
    (entry,) = [e for e in registry.list_entries(registry_change.registry) if e.origin == "user"]
    assert (entry.name, entry.license, entry.has_weights, entry.has_behaviour) == ("parent", "mit", True, False)


def test_only_new_findings_fail(registry_change: RegistryChange) -> None:
    """--fail-on low: the first audit fails on its medium PROV-LIN-006 (1); against it as baseline only the
    new low finding counts, and fails (1); against a baseline that already has both, nothing fails (0)."""
    assert registry_change.codes == (1, 1, 0)


def test_sarif_carries_baseline_state(registry_change: RegistryChange) -> None:
    doc = json.loads(registry_change.again.read_text(encoding="utf-8"))
    validate_sarif(doc)
    run = doc["runs"][0]
    assert [(r["ruleId"], r["baselineState"]) for r in run["results"]] == [("PROV-LIN-006", "unchanged"),
                                                                          ("PROV-LIC-015", "unchanged")]
    assert run["properties"]["baseline"]["counts"] == {"new": 0, "fixed": 0, "unchanged": 2}
    after = _load(registry_change.after)  # against the first report instead: the finding is new
    doc = json.loads(render(make_report(after, ["provenance", "audit", "child"]), "sarif"))
    assert [(r["ruleId"], r["baselineState"]) for r in doc["runs"][0]["results"]] == [("PROV-LIN-006", "unchanged"),
                                                                                     ("PROV-LIC-015", "new")]
    assert [r["id"] for r in doc["runs"][0]["properties"]["baseline"]["findings"] if r["state"] == "fixed"] == []


def test_human_formats_show_what_moved(registry_change: RegistryChange) -> None:
    report = make_report(_load(registry_change.after), ["provenance", "audit", "child"])
    buf = io.StringIO()
    terminal.render_audit(Console(file=buf, width=200), report.body)
    assert "baseline: moved: lineage.verdict unverified → derived" in buf.getvalue()
    for fmt in ("md", "html"):
        text = render(report, fmt)
        assert "Since the baseline" in text and "1 new, 0 fixed, 1 unchanged" in text, fmt
        assert "moved: lineage.verdict unverified → derived" in text, fmt
        assert "references\\[parent\\].verdict (absent) → derived" in text if fmt == "md" else \
            "references[parent].verdict (absent) → derived" in text


def test_same_finding_is_keyed_by_rule_and_place_not_line(registry_change: RegistryChange) -> None:
    after = _load(registry_change.after)
    (f,) = [g for g in after["findings"] if g["id"] == "PROV-LIC-015"]  # anchored to the card's license line
    one = {**after, "findings": [f]}
    moved_line = {**after, "findings": [{**f, "anchor": {**f["anchor"], "line": 40}}]}
    d = baseline.diff(one, moved_line)
    assert (len(d.new), len(d.unchanged), len(d.fixed)) == (0, 1, 0)
    other_field = {**after, "findings": [{**f, "anchor": {**f["anchor"], "field": "base_model"}}]}
    d = baseline.diff(one, other_field)
    assert (len(d.new), len(d.unchanged), len(d.fixed)) == (1, 0, 1)
    assert baseline.diff(after, after).moves == ()


@pytest.mark.parametrize("content", [
    b"not json", b"[]", b'{"kind": "compare", "findings": []}', b'{"kind": "audit", "findings": {}}',
    b'{"kind": "audit", "findings": [{"id": 3, "severity": "low"}]}',
    b'{"kind": "audit", "findings": [{"id": "PROV-LIC-001", "severity": "dire"}]}',
    b'{"kind": "audit", "findings": [{"id": "X", "severity": "low", "anchor": "README.md"}]}',
    b"\xff\xfe\x00garbage", b'{"kind": "audit", "findings": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}",
], ids=["text", "array", "compare", "findings-object", "id-int", "severity", "anchor-str", "binary", "deep"])
def test_hostile_baseline_is_one_line_exit_2(content: bytes, tmp_path: Path) -> None:
    """Refused before the audit starts (the model path does not even exist)."""
    bad = tmp_path / "prev.json"
    bad.write_bytes(content)
    result = CliRunner().invoke(cli, ["-q", "audit", str(tmp_path / "no-model"), "--baseline", str(bad)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("provenance: error:") and "baseline" in lines[0], lines


def test_missing_or_folder_baseline_is_exit_2(tmp_path: Path) -> None:
    for path in (tmp_path / "absent.json", tmp_path):
        result = CliRunner().invoke(cli, ["-q", "audit", str(tmp_path / "m"), "--baseline", str(path)])
        assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
