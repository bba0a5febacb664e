"""What ``provenance scan`` draws and writes: its progress display, the text summary, the summary files.

The command itself is in :mod:`provenance.cli` with the others (this module imports nothing of it)."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any, Self

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from provenance.cli.terminal import safe
from provenance.fileio import Inputs, write_output
from provenance.report.model import Format

#: summary file suffix -> format: every format that renders a scan, longest suffix first (.cdx.json before .json)
_SUFFIXES = sorted(((f.suffix, f.value) for f in Format if "scan" in f.kinds), key=lambda sf: -len(sf[0]))


def summary_files(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[tuple[str, str]]:
    """``--summary`` values as ``(file, format)``: the suffix picks the format."""
    out = []
    for v in values:
        fmt = next((f for s, f in _SUFFIXES if v.lower().endswith(s)), None)
        if fmt is None:
            names = ", ".join(sfx for sfx, _ in sorted(_SUFFIXES))
            raise click.BadParameter(f"{v}: name it {names} (the suffix picks the format)")
        out.append((v, fmt))
    return out


class ScanDisplay:
    """One rich progress display for the whole scan on stderr (only on a terminal, and not with ``-q``):
    models done / total, cache hits, errors, and what each running model is doing."""

    def __init__(self, ctx: click.Context) -> None:
        self._bar: Any = None
        self._task: Any = None
        if not ctx.find_root().params.get("quiet", False) and sys.stderr.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("cached {task.fields[cached]} · errors {task.fields[errors]}"),
                                 TimeElapsedColumn(), TextColumn("{task.fields[current]}"),
                                 console=Console(file=sys.stderr, highlight=False), transient=True)

    def __enter__(self) -> Self:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task("scan", total=None, cached=0, errors=0, current="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, st: Any) -> None:  # provenance.scan.runner.ScanStatus
        if self._bar is None:
            return
        current = "; ".join(f"{Path(p).name}: {s}" for p, s in sorted(st.running.items())[:2])
        self._bar.update(self._task, description=st.stage, completed=st.done, total=max(st.total, 1),
                         cached=st.cached, errors=st.errors, current=current[:70])


def render_scan_text(console: Console, body: dict[str, Any]) -> None:
    """The summary table for people at a terminal."""
    from provenance.report import scan as rs

    console.print(Text(rs.headline(body), style="bold"))
    t = Table(show_lines=False)
    for c in rs.COLUMNS:
        t.add_column(c, overflow="fold")  # paths and findings whole, wrapped, never cut
    for row in rs.table(body):
        t.add_row(*(safe(c) for c in row))
    console.print(t)
    fams = rs.families(body)
    if body.get("relations") is None:
        console.print("Relations between the scanned models were not computed.")
    for i, f in enumerate(fams, 1):
        console.print(Text(f"family {i}: ") + safe(", ".join(f), 2000))


def write_summary(body: dict[str, Any], path: str, fmt: str, figure: str | None, reads: Inputs) -> None:
    """The scan summary in ``fmt`` to ``path`` (``figure``: the family graph for HTML), through the one
    writer (never over anything in ``reads``)."""
    from provenance.report import make_report
    from provenance.report.scan import render

    if fmt == "text":
        buf = io.StringIO()
        render_scan_text(Console(file=buf, width=160, color_system=None), body)
        write_output(path, buf.getvalue(), reads)
        return
    report = make_report(body, command=["provenance", *sys.argv[1:]])
    write_output(path, render(report, fmt, figure), reads)
