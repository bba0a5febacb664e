"""Reports: one data model (:mod:`.model`), many renderers.

A :class:`~provenance.report.model.Report` wraps the JSON contract of an audit or a comparison
(``body``, what ``provenance.audit``/``provenance.compare`` return from ``to_dict()``), or of a scan
summary (:mod:`provenance.scan.summary`, laid out by :mod:`.scan`), with facts about the run. Every format renders that same body, so a finding can never appear in one format and
not another; renderers format, they never decide.

========== ============================ ===========================================================
format     module                       for
========== ============================ ===========================================================
text       provenance.cli.terminal      people at a terminal (rich; the CLI draws it, not render())
json       :mod:`.json_`                programs; byte-deterministic, schema ``data/report.schema.json``
md         :mod:`.markdown`             pull requests and wikis
html       :mod:`.html`                 one self-contained page (no network, inline CSS and SVG)
sarif      :mod:`.sarif`                GitHub code scanning and other SARIF 2.1.0 consumers
cyclonedx  :mod:`.cyclonedx`            CycloneDX 1.6 ML-BOM
intoto     :mod:`.intoto`               an in-toto Statement v1 of the audit, ready to sign (audit only)
spdx       :mod:`.spdx`                 SPDX 3.0.1 JSON-LD with the AI profile
========== ============================ ===========================================================
"""

from __future__ import annotations

from collections.abc import Callable

from provenance.report import cyclonedx, html, intoto, json_, markdown, sarif, scan, spdx
from provenance.report.model import (
    Format,
    Report,
    ReportMeta,
    anchor_base,
    generated_at,
    make_report,
)

#: format -> its renderer (``text`` is drawn by the CLI with rich)
RENDERERS: dict[Format, Callable[[Report], str]] = {
    Format.JSON: json_.render,
    Format.MD: markdown.render,
    Format.HTML: html.render,
    Format.SARIF: sarif.render,
    Format.CYCLONEDX: cyclonedx.render,
    Format.INTOTO: intoto.render,
    Format.SPDX: spdx.render,
}


def render(report: Report, fmt: Format | str) -> str:
    """The report as text in ``fmt``. ``text`` is drawn by the CLI with rich (``terminal.render_audit`` /
    ``render_compare``), so it is refused here."""
    fmt = Format(fmt)
    if fmt is Format.TEXT:
        raise ValueError("text reports are drawn by the CLI (provenance.cli.terminal), not render())")
    if report.kind == "scan":
        return scan.render(report, fmt)
    return RENDERERS[fmt](report)


__all__ = ["Format", "Report", "ReportMeta", "anchor_base", "generated_at", "make_report", "render"]
