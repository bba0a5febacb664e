"""Rich rendering for the terminal: the only place besides the CLI that draws.

Everything printed here comes from files a stranger wrote (tensor names, model card fields), so every
string passes through :func:`safe` first: control characters are dropped and rich markup escaped, so a
hostile name can neither inject escape sequences into the terminal nor markup into the output.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from provenance.report import baseline, view


def safe(value: object, limit: int = 200) -> Text:
    """A plain rich Text of ``value`` with control and bidi characters removed, cut at ``limit``."""
    return Text(view.clean(str(value), limit))


def _fmt_int(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def render_inspect(console: Console, info: dict[str, Any]) -> None:
    """Human view of :func:`provenance.describe.describe_checkpoint`."""
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("path", Text(view.path_text(info["path"], 300)))
    t.add_row("format", safe(f"{info['format']}" + (f" ({info['quantization']})" if info["quantization"] else "")))
    arch = info.get("architecture")
    if arch:
        t.add_row("architecture", safe(arch["arch"] + ("" if info["runnable"] else "  (forward pass unsupported)")))
        t.add_row(
            "dimensions",
            safe(
                f"hidden {arch['dim']}, layers {arch['n_layers']}, heads {arch['n_heads']}, "
                f"kv heads {arch['n_kv_heads']}, ffn {arch['hidden_dim']}, head_dim {arch['head_dim']}, "
                f"vocab {arch['vocab_size']}"
            ),
        )
        rope = f"theta {arch['rope_theta']:g}"
        if arch.get("rope_scaling"):
            rope += f", {arch['rope_scaling']['rope_type']} x{arch['rope_scaling']['factor']:g}"
        t.add_row("rotary", safe(rope))
        t.add_row("tied embeddings", safe(arch["tie_embeddings"]))
    t.add_row("parameters", safe(_fmt_int(info["n_params"])))
    t.add_row("tensors", safe(f"{info['n_tensors']}: " + ", ".join(f"{k} x{v}" for k, v in info["dtypes"].items())))
    tok = info.get("tokenizer")
    if tok:
        t.add_row("tokenizer", safe(f"{tok['kind']}, {tok['vocab_size']:,} tokens, identity {tok['identity'][:16]}…"))
    else:
        t.add_row("tokenizer", safe("none found"))
    d = info["declared"]
    t.add_row("declared name", safe(d.get("name") or "-"))
    t.add_row("declared base", safe(", ".join(d.get("base_model") or []) or "-"))
    t.add_row("declared license", safe(d.get("license") or d.get("license_name") or "-"))
    if info.get("adapter"):
        a = info["adapter"]
        t.add_row("adapter", safe(f"LoRA r={a['r']} alpha={a['alpha']:g} on {a['base_model'] or '?'}"))
    for f in info["files"]:
        sha = f"  sha256 {f['sha256'][:16]}…" if "sha256" in f else ""
        t.add_row("file", Text(view.path_text(f"{f['path']}  {f['size']:,} B{sha}", 400)))
    console.print(t)


# -- audit and compare reports ------------------------------------------------------------------------
_TONE_STYLE = {"bad": "bold red", "warn": "bold yellow", "good": "bold green", "info": "bold blue"}
_SEVERITY_STYLE = {"critical": "bold white on red", "high": "bold red", "medium": "bold yellow", "low": "blue",
                   "none": "green"}
_STRENGTH_STYLE = {"strong": "bold magenta", "medium": "cyan", "weak": "dim"}
_SUPPORTS_STYLE = {"derived": "red", "independent": "green"}


def _styled(value: object, style: str, limit: int = 200) -> Text:
    t = safe(value, limit)
    t.stylize(style)
    return t


def _banner(console: Console, body: dict[str, Any]) -> None:
    h = view.headline(body)
    style = _TONE_STYLE[h.tone]
    facts = Text("   ").join(Text.assemble(safe(k), ": ", _styled(v, "bold")) for k, v in h.facts)
    title = _styled(h.title, style)
    if h.risk:
        title = Text.assemble(title, "   risk ", _styled(h.risk.upper(), _SEVERITY_STYLE.get(h.risk, "bold")))
    lines = [title, safe(h.subject)] + ([safe(h.summary, 500)] if h.summary else []) + [facts]
    console.print(Panel(Group(*lines), title=safe(f"provenance {h.kind}"),
                        title_align="left", border_style=style.replace("bold ", "")))


def _facts(console: Console, title: str, rows: list[tuple[str, str]]) -> None:
    t = Table(show_header=False, box=None, pad_edge=False, title=safe(title), title_justify="left",
              title_style="bold")
    t.add_column(style="bold", no_wrap=True)
    t.add_column(overflow="fold")
    for k, v in rows:
        t.add_row(safe(k), safe(v, 400))
    console.print(t)


def _evidence(console: Console, body: dict[str, Any]) -> None:
    ev = view.evidence(body)
    if not ev:
        console.print(safe("No lineage evidence was collected."))
        return
    # the evidence kind is the first part of its name; the summary sits under the name
    t = Table(title=safe("Evidence"), title_justify="left", title_style="bold", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column(safe("evidence"), overflow="fold", ratio=1)
    for col in ("strength", "supports", "value"):
        t.add_column(safe(col), no_wrap=True)
    for e in ev:
        sup = e.get("supports") or "neutral"
        t.add_row(Text.assemble(_styled(e["name"], "bold"), "\n", _styled(e.get("summary"), "dim", 400)),
                  _styled(e["strength"], _STRENGTH_STYLE.get(e["strength"], "")),
                  _styled(sup, _SUPPORTS_STYLE.get(sup, "dim")), safe(view.fmt_num(e.get("value"))))
    console.print(t)


def _heat_row(values: list[float]) -> Text:
    """One block per layer: its height and its colour both say the similarity."""
    row = Text()
    for ch, v in zip(view.sparkline(values), values):
        row.append(ch, style=view.heat_color(max(0.25, v)))  # the lightest ramp colours vanish on white
    return row


def _layers(console: Console, body: dict[str, Any]) -> None:
    for p in view.layer_plots(body):
        console.print(Text.assemble(_styled(f"Per-layer similarity: {view.clean(p.title)}", "bold"),
                                    safe(f"  ({p.dims_text})")))
        console.print(Text.assemble("  ", _heat_row(p.values), "  ", safe(view.summary_stats(p.values))))
        if p.irregular:
            console.print(Padding(safe(f"layer pairs A->B: {p.pair_list()}", 2000), (0, 0, 0, 2)))


def _notes(console: Console, body: dict[str, Any]) -> None:
    for n in view.notes(body):
        console.print(Text.assemble(_styled("note: ", "bold yellow"), safe(n, 500)))
    for line in baseline.lines(body):
        console.print(Text.assemble(_styled("baseline: ", "bold cyan"), safe(line, 500)))


def _behaviour(console: Console, title: str, result: dict[str, Any] | None) -> None:
    b = view.behaviour(result)
    if b is None:
        return

    def cell(value: str, frac: float | None) -> Text:
        return Text.assemble(_heat_row([frac]), " ", safe(value)) if frac is not None else safe(value)

    t = Table(show_header=False, box=None, pad_edge=False, title=safe(title), title_justify="left", title_style="bold")
    t.add_column(no_wrap=True)
    t.add_column(no_wrap=True)
    for label, value, frac in b.rows:
        t.add_row(safe(label), cell(value, frac))
    console.print(t)
    if b.table:
        k = Table(title=safe("by probe kind"), title_justify="left", box=None, pad_edge=False)
        for col in ("probe kind", *b.columns):
            k.add_column(safe(col), no_wrap=True)
        for kind, cells in b.table:
            k.add_row(safe(kind), *(cell(v, f) for v, f in cells))
        console.print(Padding(k, (0, 0, 0, 2)))


def _obligations(console: Console, body: dict[str, Any]) -> None:
    lic = body.get("license") or {}
    console.print(Text.assemble(_styled("License obligations", "bold"), "  declared ",
                                safe(lic.get("declared") or "-"), ", concluded ", safe(lic.get("concluded") or "-")))
    obs = view.obligations(body)
    if not obs:
        console.print(safe("  No obligations recorded for the concluded license."))
    for o in obs:
        sec = f" ({view.clean(o['section'])})" if o.get("section") else ""
        console.print(Padding(Text.assemble("\u2610 ", _styled(o.get("kind"), "bold"), safe(sec), ": ",
                                            safe(o.get("summary"), 400)), (0, 0, 0, 2)))
        console.print(Padding(_styled(o.get("action"), "dim", 400), (0, 0, 0, 4)))


def _findings(console: Console, body: dict[str, Any]) -> None:
    groups = view.findings_by_severity(body)
    console.print(_styled("Findings", "bold"))
    if not groups:
        console.print(safe("  No findings."))
    for sev, fs in groups:
        label = view.SEVERITY_LABEL[sev].upper()
        console.print(Text.assemble("  ", _styled(f"{label} ({len(fs)})", _SEVERITY_STYLE.get(sev, "bold"))))
        for f in fs:
            lines: list[RenderableType] = [Text.assemble(_styled(f["id"], "bold"), "  ", safe(f.get("title"))),
                     Padding(safe(f.get("message"), 1000), (0, 0, 0, 4))]
            if f.get("action"):
                lines.append(Padding(Text.assemble(_styled("-> ", "bold"), safe(f["action"], 1000)), (0, 0, 0, 4)))
            if f.get("anchor"):
                lines.append(Padding(_styled(f"at {view.anchor_text(f['anchor'])}", "dim", 400), (0, 0, 0, 4)))
            console.print(Padding(Group(*lines), (0, 0, 0, 2)))


def render_audit(console: Console, body: dict[str, Any]) -> None:
    """Human view of an audit body: banner, findings by severity, model, evidence, references with
    their per-layer similarity and behaviour, obligations checklist."""
    _banner(console, body)
    _findings(console, body)
    console.print()
    _facts(console, "Model", view.model_facts(body["model"]))
    console.print()
    if view.integrity_facts(body):
        _facts(console, view.INTEGRITY_TITLE, view.integrity_facts(body))
        console.print()
    _evidence(console, body)
    _notes(console, body)
    refs = body["lineage"].get("references") or []
    if refs:
        rows = [(r.get("name") or "?",
                 f"{r.get('verdict')}, score {view.fmt_num(r.get('score'))}, p {view.fmt_p(r.get('p_value'))}")
                for r in refs]
        _facts(console, "References checked", rows)
    _layers(console, body)
    for r in refs:
        _behaviour(console, f"Behavioural probes: {view.clean(r.get('name'))}", r.get("behaviour"))
    console.print()
    _obligations(console, body)


def render_compare(console: Console, body: dict[str, Any]) -> None:
    """Human view of a compare body: banner, both models, evidence, per-layer similarity, behaviour."""
    _banner(console, body)
    for side in ("a", "b"):
        _facts(console, f"Model {side.upper()}", view.model_facts(body.get(side) or {}))
    console.print()
    _evidence(console, body)
    _notes(console, body)
    _layers(console, body)
    _behaviour(console, "Behavioural probes", body.get("behaviour"))
    if body.get("findings"):
        console.print()
        _findings(console, body)


def render_registry(console: Console, entries: list[dict[str, Any]]) -> None:
    """Table of registry entries."""
    t = Table(title="registered references")
    for col in ("name", "family", "license", "arch", "params", "weights", "behaviour", "origin", "size"):
        t.add_column(col)
    for e in entries:
        t.add_row(safe(e["name"]), safe(e["family"] or "-"), safe(e["license"] or "-"), safe(e["arch"] or "-"),
                  safe(_fmt_int(e["n_params"])), safe("yes" if e["has_weights"] else "no"),
                  safe("yes" if e["has_behaviour"] else "no"), safe(e["origin"]), safe(f"{e['size']:,} B"))
    console.print(t)
