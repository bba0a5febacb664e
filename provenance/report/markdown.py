"""Markdown (GitHub-flavoured) for pull requests and wikis.

Every value that came from a model file is neutralised before it reaches the page: :func:`text`
backslash-escapes Markdown and HTML punctuation (so a tensor name cannot open a link, an image, raw
HTML, emphasis, math or a table cell) and breaks autolinks and @mentions with a zero-width space;
:func:`code` picks a backtick fence longer than any run inside the value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from provenance.report import baseline, view
from provenance.report.model import Report

_ESCAPE = re.compile(r"([\\`*_\[\]<>|~$&])")
_AUTOLINK = re.compile(r"(?i)(://|www\.|@)")
_ZWSP = "\u200b"


def text(value: object, limit: int | None = 300) -> str:
    """``value`` as inert inline Markdown text (one line, safe inside a table cell)."""
    s = _ESCAPE.sub(r"\\\1", view.one_line(value, limit))
    return _AUTOLINK.sub(lambda m: m.group(1)[0] + _ZWSP + m.group(1)[1:], s)


def code(value: object, limit: int | None = 300, cell: bool = False) -> str:
    """``value`` as an inline code span (no link, HTML or emphasis is parsed inside one); ``cell``: it
    goes in a table, where GFM splits on ``|`` even inside code unless escaped."""
    s = view.one_line(value, limit)
    if cell:
        s = s.replace("|", "\\|")
    longest = max((len(m) for m in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s.strip() else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out + [""]


def _section_evidence(body: dict[str, Any]) -> list[str]:
    ev = view.evidence(body)
    if not ev:
        return ["## Evidence", "", "No lineage evidence was collected.", ""]
    rows = [(code(e["name"], cell=True), text(e["kind"]), f"**{text(e['strength'])}**", text(e.get("supports") or "neutral"),
             text(view.fmt_num(e.get("value"))), text(e.get("summary"))) for e in ev]
    return ["## Evidence", ""] + _table(("evidence", "kind", "strength", "supports", "value", "summary"), rows)


def _section_notes(body: dict[str, Any]) -> list[str]:
    ns, since = view.notes(body), baseline.lines(body)
    out = ["## Notes", ""] + [f"- {text(n, None)}" for n in ns] + [""] if ns else []
    return out + (["## Since the baseline", ""] + [f"- {text(n, None)}" for n in since] + [""] if since else [])


def _section_layers(body: dict[str, Any]) -> list[str]:
    plots = view.layer_plots(body)
    if not plots:
        return []
    out = ["## Per-layer similarity", ""]
    for p in plots:
        what = "A x B heatmap in the HTML report" if p.heatmap else "matched pairs" if p.irregular else "layer by layer"
        out += [f"**{text(p.title)}** ({p.dims_text}; {what}): {text(view.summary_stats(p.values))}", "",
                "```text", view.sparkline(p.values), "```", ""]
        if p.irregular:
            out += [f"Layer pairs (A→B): {text(p.pair_list('→'), None)}", ""]
    return out


def _section_references(body: dict[str, Any]) -> list[str]:
    refs = body["lineage"].get("references") or []
    if not refs:
        return []
    rows = [(text(r.get("name")), text(r.get("verdict")), text(view.fmt_num(r.get("score"))),
             text(view.fmt_p(r.get("p_value")))) for r in refs]
    return ["## References checked", ""] + _table(("reference", "verdict", "score", "p-value"), rows)


def _cell(value: str, frac: float | None) -> str:
    """A statistic, with a one-block bar when it is an agreement in [0, 1]."""
    return text(value) + (f" {view.sparkline([frac])}" if frac is not None else "")


def _section_behaviour(title: str, result: dict[str, Any] | None) -> list[str]:
    b = view.behaviour(result)
    if b is None:
        return []
    out = [f"## {title}", ""] + _table(("statistic", "value"), [(text(k), _cell(v, f)) for k, v, f in b.rows])
    if b.table:
        rows = [(text(kind), *(_cell(v, f) for v, f in cells)) for kind, cells in b.table]
        out += ["By probe kind:", ""] + _table(("probe kind", *map(text, b.columns)), rows)
    return out


def _section_obligations(body: dict[str, Any]) -> list[str]:
    obs = view.obligations(body)
    lic = body.get("license") or {}
    head = ["## License obligations", "",
            f"Declared: {code(lic.get('declared') or '-')} · concluded: {code(lic.get('concluded') or '-')}", ""]
    if not obs:
        return head + ["No obligations recorded for the concluded license.", ""]
    items = [f"- [ ] **{text(o.get('kind'))}**" + (f" ({text(o['section'])})" if o.get("section") else "")
             + f": {text(o.get('summary'))} *Action:* {text(o.get('action'))}" for o in obs]
    return head + items + [""]


def _section_findings(body: dict[str, Any]) -> list[str]:
    groups = view.findings_by_severity(body)
    out = ["## Findings", ""]
    if not groups:
        return out + ["No findings.", ""]
    for sev, fs in groups:
        out += [f"### {view.SEVERITY_LABEL[sev]} ({len(fs)})", ""]
        for f in fs:
            line = f"- **{code(f['id'])}** {text(f.get('title'))}: {text(f.get('message'), None)}"
            if f.get("action"):
                line += f" *Action:* {text(f['action'], None)}"
            if f.get("anchor"):
                line += f" (at {code(view.anchor_text(f['anchor']))})"
            out.append(line)
        out.append("")
    return out


def _facts(rows: list[tuple[str, str]]) -> list[str]:
    return _table(("", ""), [(text(k), text(v, 400)) for k, v in rows])


def render(report: Report) -> str:
    body, meta = report.body, report.meta
    h = view.headline(body)
    out = [f"# provenance {h.kind}: {text(h.subject, 200)}", "",
           f"> **{text(h.title, 200)}**" + (f" · risk **{text(h.risk.upper())}**" if h.risk else ""),
           *([f"> {text(h.summary, None)}"] if h.summary else []),
           "> ", "> " + " · ".join(f"{text(k)}: {text(v)}" for k, v in h.facts), ""]
    if body["kind"] == "audit":
        out += _section_findings(body)
        out += ["## Model", ""] + _facts(view.model_facts(body["model"]))
        if view.integrity_facts(body):
            out += [f"## {view.INTEGRITY_TITLE}", ""] + _facts(view.integrity_facts(body))
        out += _section_evidence(body) + _section_notes(body) + _section_references(body) + _section_layers(body)
        for r in body["lineage"].get("references") or []:
            out += _section_behaviour(f"Behavioural probes: {text(r.get('name'), 80)}", r.get("behaviour"))
        out += _section_obligations(body)
    else:
        for side in ("a", "b"):
            out += [f"## Model {side.upper()}", ""] + _facts(view.model_facts(body.get(side) or {}))
        out += _section_evidence(body) + _section_notes(body) + _section_layers(body)
        out += _section_behaviour("Behavioural probes", body.get("behaviour"))
        if body.get("findings"):
            out += _section_findings(body)
    footer = (f"Generated by {text(meta.tool)} {text(meta.version)} at {text(meta.generated_at or '-')} with "
              f"{code(view.command_line(meta.command) or '-', None)}")
    out += ["---", "", footer, ""]
    return "\n".join(out)
