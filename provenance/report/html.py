"""HTML: one self-contained page (inline CSS and SVG, no script, no network fetch).

A Content-Security-Policy of ``default-src 'none'`` backs the rule that nothing is loaded from
anywhere; every string from the report passes through :func:`esc` (HTML-escaped, control and bidi
characters dropped), so a hostile tensor name or model-card field renders as text, never as markup.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from provenance.report import baseline, view
from provenance.report.model import Report

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'"

_CSS = """
:root{--ink:#101828;--muted:#475467;--line:#eaecf0;--bg:#f9fafb;
--bad:#b42318;--bad-bg:#fef3f2;--warn:#b54708;--warn-bg:#fffaeb;--good:#067647;--good-bg:#ecfdf3;
--info:#175cd3;--info-bg:#eff8ff}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
main{max-width:1100px;margin:0 auto;padding:24px}
h2{font-size:18px;margin:28px 0 10px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:16px 0 8px}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
pre{background:#fff;border:1px solid var(--line);border-radius:6px;padding:10px;white-space:pre-wrap;
word-break:break-all;margin:0}
.banner{border-radius:10px;padding:20px 24px;border:1px solid;margin-bottom:8px}
.banner .kind{text-transform:uppercase;letter-spacing:.08em;font-size:12px;font-weight:600;opacity:.85}
.banner h1{margin:4px 0 2px;font-size:26px}
.banner .subject{font-size:16px;color:var(--muted);word-break:break-all}
.banner .summary{margin:6px 0 0;color:var(--ink)}
.facts{display:flex;flex-wrap:wrap;gap:8px 28px;margin:14px 0 0}
.facts div{min-width:110px}.facts dt{font-size:12px;color:var(--muted)}.facts dd{margin:0;font-weight:600}
.tone-bad{background:var(--bad-bg);border-color:var(--bad);color:var(--bad)}
.tone-warn{background:var(--warn-bg);border-color:var(--warn);color:var(--warn)}
.tone-good{background:var(--good-bg);border-color:var(--good);color:var(--good)}
.tone-info{background:var(--info-bg);border-color:var(--info);color:var(--info)}
.banner .facts dd{color:var(--ink)}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--line);border-radius:6px}
th,td{text-align:left;vertical-align:top;padding:7px 10px;border-bottom:1px solid var(--line)}
th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);background:#f2f4f7}
td.k{width:170px;color:var(--muted)}td.wrap{word-break:break-all}td.num{white-space:nowrap}
.badge{display:inline-block;border-radius:999px;padding:1px 9px;font-size:12px;font-weight:600;border:1px solid}
.s-strong{background:#101828;color:#fff;border-color:#101828}
.s-medium{background:#d1e9ff;color:#194185;border-color:#84caff}
.s-weak{background:#fff;color:#475467;border-color:#d0d5dd}
.sup-derived{color:var(--bad)}.sup-independent{color:var(--good)}.sup-neutral{color:var(--muted)}
.meter{display:inline-block;width:56px;height:8px;background:#eaecf0;border-radius:4px;vertical-align:middle;
margin-right:6px;overflow:hidden}.meter i{display:block;height:100%;background:#2e90fa}
.finding{background:#fff;border:1px solid var(--line);border-left:5px solid;border-radius:6px;padding:10px 14px;
margin:8px 0}.finding .t{font-weight:600}.finding p{margin:4px 0}.finding .a{color:var(--muted)}
.sev-critical{border-left-color:#7a271a}.sev-high{border-left-color:#d92d20}.sev-medium{border-left-color:#f79009}
.sev-low{border-left-color:#2e90fa}.sev-none{border-left-color:#17b26a}
.checklist{list-style:none;padding:0;margin:0}.checklist li{background:#fff;border:1px solid var(--line);
border-radius:6px;padding:8px 12px;margin:6px 0}.checklist input{margin-right:8px}
.plot{background:#fff;border:1px solid var(--line);border-radius:6px;padding:10px;overflow-x:auto}
.plot svg{display:block}.caption{color:var(--muted);font-size:13px;margin:6px 0 12px}
footer{margin-top:32px;color:var(--muted);font-size:13px}footer pre{margin:6px 0}
"""


def esc(value: object, limit: int | None = None) -> str:
    """Inert HTML text of ``value``."""
    return html.escape(view.clean(value, limit), quote=True)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]], num: tuple[int, ...] = ()) -> str:
    """A table; columns listed in ``num`` hold a meter and a number and never wrap."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="num">{c}</td>' if i in num else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _facts_table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f'<tr><td class="k">{esc(k)}</td><td class="wrap">{esc(v)}</td></tr>' for k, v in rows)
    return f"<table><tbody>{body}</tbody></table>"


def _meter(frac: float | None) -> str:
    if frac is None:
        return ""
    return f'<span class="meter"><i style="width:{max(0.0, min(1.0, frac)) * 100:.1f}%"></i></span>'


def _banner(body: dict[str, Any]) -> str:
    h = view.headline(body)
    facts = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in h.facts)
    return (f'<header class="banner tone-{h.tone}"><div class="kind">provenance {esc(h.kind)}'
            f'{" · risk " + esc(h.risk.upper()) if h.risk else ""}</div><h1>{esc(h.title)}</h1>'
            f'<div class="subject">{esc(h.subject)}</div>'
            + (f'<p class="summary">{esc(h.summary)}</p>' if h.summary else "")
            + f'<dl class="facts">{facts}</dl></header>')


def _evidence(body: dict[str, Any]) -> str:
    ev = view.evidence(body)
    if not ev:
        return "<h2>Evidence</h2><p>No lineage evidence was collected.</p>"
    rows = []
    for e in ev:
        sup = e.get("supports") or "neutral"
        value = e.get("value")
        frac = value if isinstance(value, float) and 0.0 <= value <= 1.0 else None
        rows.append((f"<code>{esc(e['name'])}</code>", esc(e["kind"]),
                     f'<span class="badge s-{esc(e["strength"])}">{esc(e["strength"])}</span>',
                     f'<span class="sup-{esc(sup)}">{esc(sup)}</span>', _meter(frac) + esc(view.fmt_num(value)),
                     esc(e.get("summary"))))
    return "<h2>Evidence</h2>" + _table(("evidence", "kind", "strength", "supports", "value", "summary"), rows, num=(4,))


# -- per-layer plots ---------------------------------------------------------------------------------
def _bar_svg(p: view.LayerPlot) -> str:
    n = max(1, len(p.pairs))
    step = max(6.0, min(36.0, 900.0 / n))
    left, top, h = 34, 8, 110
    width = int(left + n * step + 10)
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{top + h + 30}" role="img" '
    out = [svg + 'aria-label="per-layer similarity">']
    for frac in (0.0, 0.5, 1.0):
        y = top + h * (1 - frac)
        out.append(f'<line x1="{left}" x2="{width - 6}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eaecf0"/>'
                   f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" fill="#667085">{frac:g}</text>')
    label_every = max(1, round(n / 15))
    for i, (a, b, s) in enumerate(p.pairs):
        bh = max(1.0, h * min(1.0, max(0.0, s)))
        x = left + i * step
        faint, note = (' fill-opacity="0.35"', " (not matched)") if i in p.unmatched else ("", "")
        if i in p.unmatched:  # a dashed slot: this layer found no partner
            out.append(f'<rect x="{x + 1:.1f}" y="{top}" width="{step - 2:.1f}" height="{h}" fill="none" '
                       'stroke="#98a2b3" stroke-dasharray="3 2"/>')
        out.append(f'<rect x="{x + 1:.1f}" y="{top + h - bh:.1f}" width="{step - 2:.1f}" height="{bh:.1f}" '
                   f'fill="{view.heat_color(s)}"{faint}><title>A layer {a} / B layer {b}: {s:.3f}{note}</title></rect>')
        if i % label_every == 0:
            lab = str(a) if a == b else f"{a}:{b}"
            out.append(f'<text x="{x + step / 2:.1f}" y="{top + h + 14}" font-size="10" text-anchor="middle" '
                       f'fill="#667085">{lab}</text>')
    out.append(f'<text x="{left}" y="{top + h + 27}" font-size="10" fill="#667085">layer</text></svg>')
    return "".join(out)


def _heatmap_svg(p: view.LayerPlot) -> str:
    assert p.matrix is not None
    cell = max(3, min(28, 560 // max(p.n_a, p.n_b)))
    left, top = 44, 22
    width, height = left + p.n_b * cell + 90, top + p.n_a * cell + 30
    titles = p.n_a * p.n_b <= 2500  # hover text per cell, bounded for huge models
    rotate = f"rotate(90 12 {top + 10})"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" ',
           'aria-label="layer similarity heatmap">',
           f'<text x="{left}" y="12" font-size="11" fill="#475467">B layers →</text>',
           f'<text x="12" y="{top + 10}" font-size="11" fill="#475467" transform="{rotate}">A layers →</text>']
    for i, row in enumerate(p.matrix):
        for j, v in enumerate(row):
            t = f"<title>A {i} / B {j}: {v:.3f}</title>" if titles else ""
            out.append(f'<rect x="{left + j * cell}" y="{top + i * cell}" width="{cell}" height="{cell}" '
                       f'fill="{view.heat_color(v)}">{t}</rect>')
    for k, (a, b, _) in enumerate(p.pairs):  # best partners; dashed when below the match threshold
        dash = ' stroke-dasharray="2 2"' if k in p.unmatched else ""
        out.append(f'<rect x="{left + b * cell + 0.75}" y="{top + a * cell + 0.75}" width="{cell - 1.5}" '
                   f'height="{cell - 1.5}" fill="none" stroke="#f79009" stroke-width="1.5"{dash}/>')
    every = max(1, round(max(p.n_a, p.n_b) / 10))
    for i in range(0, p.n_a, every):
        out.append(f'<text x="{left - 4}" y="{top + i * cell + cell / 2 + 3:.1f}" font-size="9" text-anchor="end" '
                   f'fill="#667085">{i}</text>')
    for j in range(0, p.n_b, every):
        out.append(f'<text x="{left + j * cell + cell / 2:.1f}" y="{top + p.n_a * cell + 12}" font-size="9" '
                   f'text-anchor="middle" fill="#667085">{j}</text>')
    lx = left + p.n_b * cell + 16
    for k in range(11):
        out.append(f'<rect x="{lx}" y="{top + (10 - k) * 10}" width="14" height="10" fill="{view.heat_color(k / 10)}"/>')
    out.append(f'<text x="{lx + 18}" y="{top + 9}" font-size="10" fill="#667085">1</text>'
               f'<text x="{lx + 18}" y="{top + 109}" font-size="10" fill="#667085">0</text></svg>')
    return "".join(out)


def _layers(body: dict[str, Any]) -> str:
    plots = view.layer_plots(body)
    if not plots:
        return ""
    out = ["<h2>Per-layer similarity</h2>"]
    for p in plots:
        kind = ("heatmap of every A layer against every B layer (outlined: best partners, dashed when not a match)"
                if p.heatmap else "one bar per matched layer pair")
        svg = _heatmap_svg(p) if p.heatmap else _bar_svg(p)
        pairs = f"<br>Layer pairs (A→B): {esc(p.pair_list('→'))}" if p.irregular else ""
        out.append(f'<h3>{esc(p.title)}</h3><div class="plot">{svg}</div><p class="caption">{p.dims_text}; '
                   f'{kind}; similarity {esc(view.summary_stats(p.values))}{pairs}</p>')
    return "".join(out)


# -- other sections ----------------------------------------------------------------------------------
def _behaviour(title: str, result: dict[str, Any] | None) -> str:
    b = view.behaviour(result)
    if b is None:
        return ""
    out = [f"<h2>{esc(title)}</h2>", _table(("statistic", "value"), [(esc(k), _meter(f) + esc(v)) for k, v, f in b.rows],
                                              num=(1,))]
    if b.table:
        cols = tuple(range(1, len(b.columns) + 1))
        rows = [(esc(kind), *(_meter(f) + esc(v) for v, f in cells)) for kind, cells in b.table]
        out.append('<p class="caption">By probe kind:</p>' + _table(("probe kind", *map(esc, b.columns)), rows, num=cols))
    return "".join(out)


def _notes(body: dict[str, Any]) -> str:
    ns, since = view.notes(body), baseline.lines(body)
    out = "<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in ns) + "</ul>" if ns else ""
    return out + ("<h2>Since the baseline</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in since) + "</ul>"
                  if since else "")


def _references(body: dict[str, Any]) -> str:
    refs = body["lineage"].get("references") or []
    if not refs:
        return ""
    rows = [(esc(r.get("name")), esc(r.get("verdict")), esc(view.fmt_num(r.get("score"))),
             esc(view.fmt_p(r.get("p_value")))) for r in refs]
    return "<h2>References checked</h2>" + _table(("reference", "verdict", "score", "p-value"), rows)


def _obligations(body: dict[str, Any]) -> str:
    lic = body.get("license") or {}
    declared, concluded = esc(lic.get("declared") or "-"), esc(lic.get("concluded") or "-")
    out = [f"<h2>License obligations</h2><p>Declared <code>{declared}</code> · concluded <code>{concluded}</code></p>"]
    obs = view.obligations(body)
    if not obs:
        return out[0] + "<p>No obligations recorded for the concluded license.</p>"
    out.append('<ul class="checklist">')
    for o in obs:
        sec = f" ({esc(o['section'])})" if o.get("section") else ""
        out.append(f"<li><label><input type=\"checkbox\"><strong>{esc(o.get('kind'))}</strong>{sec}: "
                   f"{esc(o.get('summary'))}</label><br><span class=\"caption\">Action: {esc(o.get('action'))}</span></li>")
    return "".join(out) + "</ul>"


def _findings(body: dict[str, Any]) -> str:
    groups = view.findings_by_severity(body)
    out = ["<h2>Findings</h2>"]
    if not groups:
        return out[0] + "<p>No findings.</p>"
    for sev, fs in groups:
        out.append(f"<h3>{esc(view.SEVERITY_LABEL[sev])} ({len(fs)})</h3>")
        for f in fs:
            anchor = view.anchor_text(f.get("anchor"))
            out.append(f'<div class="finding sev-{esc(sev)}"><div class="t"><code>{esc(f["id"])}</code> '
                       f'{esc(f.get("title"))}</div><p>{esc(f.get("message"))}</p>'
                       + (f'<p class="a">Action: {esc(f["action"])}</p>' if f.get("action") else "")
                       + (f'<p class="a">At <code>{esc(anchor)}</code></p>' if anchor else "") + "</div>")
    return "".join(out)


def render(report: Report) -> str:
    body, meta = report.body, report.meta
    h = view.headline(body)
    parts = [_banner(body)]
    if body["kind"] == "audit":
        parts += [_findings(body), "<h2>Model</h2>", _facts_table(view.model_facts(body["model"]))]
        if view.integrity_facts(body):
            parts += [f"<h2>{esc(view.INTEGRITY_TITLE)}</h2>", _facts_table(view.integrity_facts(body))]
        parts += [_evidence(body), _notes(body), _references(body), _layers(body)]
        parts += [_behaviour(f"Behavioural probes: {r.get('name')}", r.get("behaviour"))
                  for r in body["lineage"].get("references") or []]
        parts.append(_obligations(body))
    else:
        for side in ("a", "b"):
            parts += [f"<h2>Model {side.upper()}</h2>", _facts_table(view.model_facts(body.get(side) or {}))]
        parts += [_evidence(body), _notes(body), _layers(body), _behaviour("Behavioural probes", body.get("behaviour"))]
        if body.get("findings"):
            parts.append(_findings(body))
    parts.append(f"<footer>Generated by {esc(meta.tool)} {esc(meta.version)} at {esc(meta.generated_at or '-')}"
                 f"<pre><code>{esc(view.command_line(meta.command) or '-')}</code></pre></footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>provenance {esc(h.kind)}: {esc(h.subject, 120)}</title><style>{_CSS}</style></head>"
            f"<body><main>{''.join(parts)}</main></body></html>\n")
