"""Rich rendering for the terminal: the only place besides the CLI that draws.

Everything printed here comes from files a stranger wrote (tensor names, model card fields), so every
string passes through :func:`safe` first: control characters are dropped and rich markup escaped, so a
hostile name can neither inject escape sequences into the terminal nor markup into the output.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def safe(value: object, limit: int = 200) -> Text:
    """A plain rich Text of ``value`` with control and bidi characters removed, cut at ``limit``."""
    s = _CONTROL.sub("", str(value))
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return Text(s)


def _fmt_int(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def render_inspect(console: Console, info: dict[str, Any]) -> None:
    """Human view of :func:`provenance.inspect.describe_checkpoint`."""
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_column(style="bold")
    t.add_column()
    t.add_row("path", safe(info["path"]))
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
        t.add_row("file", safe(f"{f['path']}  {f['size']:,} B" + (f"  sha256 {f['sha256'][:16]}…" if "sha256" in f else "")))
    console.print(t)
