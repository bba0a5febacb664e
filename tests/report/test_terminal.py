"""The terminal views of audit and compare bodies (rich), drawn into files and pipes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from provenance.cli import terminal
from provenance.report import view

ROOT = Path(__file__).resolve().parents[2]


def _draw(fn: Any, body: dict[str, Any], **kw: Any) -> str:
    buf = io.StringIO()
    fn(Console(file=buf, width=kw.pop("width", 120), **kw), body)
    return buf.getvalue()


def test_audit_view_sections(hostile_audit: dict[str, Any]) -> None:
    out = _draw(terminal.render_audit, hostile_audit)
    assert "\x1b" not in out  # a file or a pipe gets no colour codes
    h = view.headline(hostile_audit)
    assert h.title in out and f"risk {h.risk.upper()}" in out
    for f in hostile_audit["findings"]:
        assert f["id"] in out and view.anchor_text(f["anchor"]) in out
    sev = {f["severity"] for f in hostile_audit["findings"]}
    assert all(f"{s.upper()} (" in out for s in sev)
    for e in hostile_audit["lineage"]["evidence"]:
        assert e["name"] in out
    assert out.count("\u2610 ") == len(hostile_audit["license"]["obligations"])
    # findings come first: a reader sees what to act on before the details
    assert out.index("Findings") < out.index("Evidence") < out.index("License obligations")


def test_audit_view_references_and_behaviour(stories_audit: dict[str, Any]) -> None:
    out = _draw(terminal.render_audit, stories_audit, width=160)
    assert f"{stories_audit['model']['n_params']:,}" in out
    for ref in stories_audit["lineage"]["references"]:
        assert (f"Per-layer similarity: {ref['name']}" in out) == bool(ref["layers"])
        if ref["behaviour"]:
            assert f"Behavioural probes: {ref['name']}" in out
    assert "top-1 agreement" in out and "by probe kind" in out


def test_compare_view_layer_rows(compare_same_depth: dict[str, Any], compare_other_depth: dict[str, Any]) -> None:
    same = _draw(terminal.render_compare, compare_same_depth)
    assert view.sparkline([p["similarity"] for p in compare_same_depth["layers"]]) in same
    assert "layer pairs" not in same  # layer i faces layer i: the row says it all
    other = _draw(terminal.render_compare, compare_other_depth, width=200)
    pairs = ", ".join(f"{p['a']}->{p['b']}" + ("" if p.get("matched", True) else " (unmatched)")
                      for p in compare_other_depth["layers"])
    assert f"layer pairs A->B: {pairs}" in other


def test_colour_only_on_a_terminal(compare_other_depth: dict[str, Any]) -> None:
    coloured = _draw(terminal.render_compare, compare_other_depth, force_terminal=True, color_system="truecolor")
    assert "\x1b[" in coloured
    plain = _draw(terminal.render_compare, compare_other_depth, color_system=None)
    assert "\x1b" not in plain


def test_narrow_terminal_still_renders(hostile_audit: dict[str, Any]) -> None:
    out = _draw(terminal.render_audit, hostile_audit, width=60)
    assert all(len(line) <= 60 for line in out.splitlines())
    assert hostile_audit["findings"][0]["id"] in out


@pytest.mark.slow
def test_cli_text_report_through_a_pipe_has_no_escapes(stories: Path, tmp_path: Path) -> None:
    """``provenance audit`` into a pipe and into ``-o FILE``: plain text, no colour codes."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "provenance", "-q", "audit", str(stories), "--no-behaviour", "--fail-on", "none"]
    piped = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    assert piped.returncode == 0, piped.stderr
    assert "\x1b" not in piped.stdout and "Evidence" in piped.stdout
    out = tmp_path / "audit.md"
    written = subprocess.run([*cmd, "--format", "md", "-o", str(out)], capture_output=True, text=True, env=env,
                             check=False)
    assert written.returncode == 0, written.stderr
    assert written.stdout == "" and "\x1b" not in out.read_text() and out.read_text().startswith("# provenance audit")
