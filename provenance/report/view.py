"""What the human formats show, as plain data; the terminal, Markdown and HTML renderers only lay it out.

Nothing here judges a model: every value is read from the report body (the verdict, the risk, the
findings) and turned into strings, rows and colours. Strings that came from model files are returned
raw (but without control or bidirectional-override characters): each renderer escapes for its own medium.
"""

from __future__ import annotations

import itertools
import math
import shlex
from dataclasses import dataclass
from typing import Any

from provenance.domain import Severity, Verdict
from provenance.errors import CONTROL, path_text

#: severities worst first, as reports list them
SEVERITIES = tuple(sorted(Severity, key=lambda s: -s.rank))
#: how a severity is headed; a ``none`` finding is a check that passed
SEVERITY_LABEL: dict[str, str] = {Severity.CRITICAL: "Critical", Severity.HIGH: "High", Severity.MEDIUM: "Medium",
                  Severity.LOW: "Low", Severity.NONE: "OK"}

#: tone of a verdict or a risk level: what colour family a renderer paints it
TONE: dict[str, str] = {
    Verdict.DERIVED: "bad", Verdict.IMITATES: "warn", Verdict.UNVERIFIED: "warn", Verdict.INCONCLUSIVE: "warn",
    Verdict.INDEPENDENT: "good", Severity.CRITICAL: "bad", Severity.HIGH: "bad", Severity.MEDIUM: "warn",
    Severity.LOW: "info", Severity.NONE: "good"}

_HEADLINE = {Verdict.DERIVED: "Derived from {base}", Verdict.INDEPENDENT: "Independent of the references checked",
             Verdict.UNVERIFIED: "Lineage unverified", Verdict.INCONCLUSIVE: "Inconclusive",
             Verdict.IMITATES: "Imitates {base}"}
_COMPARE_HEADLINE = {Verdict.DERIVED: "Derived: one model descends from the other",
                     Verdict.INDEPENDENT: "Independent: no shared weights lineage", Verdict.INCONCLUSIVE: "Inconclusive",
                     Verdict.UNVERIFIED: "Unverified: the weights could not be compared"}


def clean(value: object, limit: int | None = None) -> str:
    """``value`` as a string without control or bidi-override characters, cut at ``limit``."""
    s = CONTROL.sub("", "" if value is None else str(value))
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    return s


def one_line(value: object, limit: int | None = 300) -> str:
    """:func:`clean`, with every run of whitespace (newlines included) made one space."""
    return clean(" ".join(clean(value).split()), limit)


def fmt_num(x: object, digits: int = 3) -> str:
    """A score or similarity for people: ``0.973``; ``-`` when absent."""
    if x is None or isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return "-" if x is None else clean(x)
    return f"{x:.{digits}f}" if isinstance(x, float) else f"{x:,}"


def fmt_p(p: object) -> str:
    """A p-value: ``0.0312``, ``3.1e-09``, or ``-``."""
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not math.isfinite(p):
        return "-"
    return f"{p:.4f}" if p >= 1e-3 else f"{p:.1e}"


def command_line(command: tuple[str, ...] | list[str]) -> str:
    """The argv as a shell would need it typed (quoted), on one line."""
    return one_line(shlex.join(command), None)


def anchor_text(anchor: dict[str, Any] | None) -> str:
    """``README.md:3 (license)`` for a finding's anchor; empty when it has none."""
    if not anchor:
        return ""
    out = path_text(anchor.get("path") or "")
    if anchor.get("line"):
        out += f":{anchor['line']}"
    if anchor.get("field"):
        out += f" ({clean(anchor['field'])})"
    return out


# -- headline ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Headline:
    """The banner: ``title`` (one sentence), ``verdict``, ``risk`` (audit only) and labelled facts."""

    kind: str
    subject: str
    verdict: str
    risk: str | None
    title: str
    facts: tuple[tuple[str, str], ...]
    summary: str = ""

    @property
    def tone(self) -> str:
        return TONE.get(self.risk or self.verdict, "warn")


def model_name(model: dict[str, Any]) -> str:
    """The declared name of a described model, else its file or folder name."""
    declared = (model.get("declared") or {}).get("name")
    path = clean(model.get("path") or "?").rstrip("/")
    return one_line(declared or path.rsplit("/", 1)[-1], 200)


def headline(body: dict[str, Any]) -> Headline:
    """The summary of an audit or compare body."""
    if body["kind"] == "audit":
        lin = body["lineage"]
        base = one_line(lin.get("base") or lin.get("family") or "", 80)
        verdict = lin["verdict"]
        title = _HEADLINE.get(verdict, verdict).format(base=base or "a reference")
        lic = body.get("license") or {}
        facts: tuple[tuple[str, Any], ...] = (("risk", body["risk"]), ("lineage", verdict), ("base", base or "-"),
                 ("p-value", fmt_p(lin.get("p_value"))), ("score", fmt_num(lin.get("score"))),
                 ("declared license", one_line(lic.get("declared") or "-")),
                 ("concluded license", one_line(lic.get("concluded") or "-")))
        return Headline("audit", model_name(body["model"]), verdict, body["risk"], title, facts,
                        one_line(lin.get("summary") or "", 500))
    verdict = body["verdict"]
    layers = body.get("layers") or []
    matched = sum(1 for p in layers if p.get("matched", True))
    facts = (("verdict", verdict), ("p-value", fmt_p(body.get("p_value"))),
                                          ("score", fmt_num(body.get("score"))), ("layers matched", f"{matched}/{len(layers)}"))
    subject = f"{_side_name(body.get('a') or {})} vs {_side_name(body.get('b') or {})}"
    return Headline("compare", subject, verdict, None, _COMPARE_HEADLINE.get(verdict, verdict), facts)


def _side_name(side: dict[str, Any]) -> str:
    return model_name({"path": side.get("path"), "declared": {"name": side.get("name")}})


# -- tables -----------------------------------------------------------------------------------------
def evidence(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The lineage evidence, in the order the body gives it."""
    return list((body["lineage"] if body["kind"] == "audit" else body).get("evidence") or [])


def findings_by_severity(body: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Findings grouped worst severity first; empty groups left out."""
    found = body.get("findings") or []
    groups = [(s, [f for f in found if f.get("severity") == s]) for s in SEVERITIES]
    return [(s, fs) for s, fs in groups if fs]


def obligations(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list((body.get("license") or {}).get("obligations") or [])


def notes(body: dict[str, Any]) -> list[str]:
    """Free-text caveats the analysis attached (e.g. why a comparison was not possible)."""
    return [one_line(n, 500) for n in body.get("notes") or []]


INTEGRITY_TITLE = "Integrity (model signing)"


def integrity_facts(body: dict[str, Any]) -> list[tuple[str, str]]:
    """Labelled facts of an audit's model-signing check (``integrity``); empty when there was none."""
    i = body.get("integrity")
    if not isinstance(i, dict):
        return []
    files = i.get("files") or []
    odd = [f"{f.get('path')} ({f.get('state')})" for f in files if f.get("state") != "match"]
    rows = [("state", one_line(i.get("state"))), ("signature", one_line(i.get("signature"))),
            ("verified with", one_line(i.get("verified_with") or "-")), ("signer", one_line(i.get("signer") or "-")),
            ("files", one_line(f"{len(files) - len(odd)} of {len(files)} match" + (f"; {', '.join(odd)}" if odd else ""),
                               600))]
    if i.get("reason"):
        rows.append(("reason", one_line(i["reason"], 400)))
    return rows + [("note", one_line(i.get("note"), 400))]


def model_facts(model: dict[str, Any]) -> list[tuple[str, str]]:
    """Labelled facts of a :func:`provenance.describe.describe_checkpoint` dict (or a compare side)."""
    rows = [("name", model_name(model)), ("path", path_text(model.get("path") or "-", 300))]
    fmt = clean(model.get("format") or "-")
    if model.get("quantization"):
        fmt += f" ({clean(model['quantization'])})"
    rows.append(("format", fmt))
    # an inspect dict has "architecture"; a compare side has "arch" and "dims"
    arch = model.get("architecture") or {"arch": model.get("arch"), **(model.get("dims") or {})}
    if arch.get("n_layers") is not None:
        rows.append(("architecture", one_line(
            f"{arch.get('arch')}: {arch.get('n_layers')} layers, hidden {arch.get('dim')}, heads {arch.get('n_heads')}"
            f"/{arch.get('n_kv_heads')} kv, ffn {arch.get('hidden_dim')}, vocab {arch.get('vocab_size')}")))
    elif arch.get("arch"):
        rows.append(("architecture", one_line(arch["arch"])))
    if model.get("n_params") is not None:
        rows.append(("parameters", fmt_num(model["n_params"])))
    tok = model.get("tokenizer")
    if isinstance(tok, dict):
        rows.append(("tokenizer", one_line(f"{tok.get('kind')}, {fmt_num(tok.get('vocab_size'))} tokens, "
                                           f"identity {clean(tok.get('identity'))[:16]}")))
    elif "tokenizer" in model:
        rows.append(("tokenizer", one_line(tok or "none found")))
    declared = model.get("declared")
    if isinstance(declared, dict):
        rows.append(("declared base", one_line(", ".join(map(str, declared.get("base_model") or [])) or "-")))
        rows.append(("declared license", one_line(declared.get("license") or declared.get("license_name") or "-")))
    for f in model.get("files") or []:
        sha = f" sha256 {clean(f['sha256'])}" if f.get("sha256") else ""
        rows.append(("file", path_text(f"{f.get('path')} ({fmt_num(f.get('size'))} bytes){sha}", 400)))
    return rows


#: labels of the behavioural statistics (provenance.evidence.behaviour.probes); others are shown as named
_LABELS = {"top1": "top-1 agreement", "overlap": "top-k overlap", "js": "Jensen-Shannon divergence",
           "tail": "tail agreement", "score": "agreement score", "z": "z", "p_value": "p-value",
           "n_positions": "canary positions", "n_shared_keys": "shared token keys"}
#: statistics in [0, 1] that are not agreements, so get no bar
_NO_BAR = ("p_value", "js", "z")


def _label(key: str) -> str:
    return _LABELS.get(key, key.replace("_", " "))


def _stat(key: str, v: object) -> tuple[str, float | None]:
    """A statistic as shown, with a bar fraction when it is an agreement in [0, 1]."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return one_line(v, 80), None
    bar = float(v) if isinstance(v, float) and 0.0 <= v <= 1.0 and key not in _NO_BAR else None
    return (fmt_p(v) if key == "p_value" else fmt_num(v)), bar


@dataclass(frozen=True)
class Behaviour:
    """Behavioural probe results: scalar ``rows`` (label, shown, bar) and, when the body has one, a
    per-probe-kind ``table`` (kind -> cells under ``columns``)."""

    rows: tuple[tuple[str, str, float | None], ...]
    columns: tuple[str, ...]
    table: tuple[tuple[str, tuple[tuple[str, float | None], ...]], ...]


def behaviour(result: dict[str, Any] | None) -> Behaviour | None:
    """The view of a behaviour dict (``references[i].behaviour`` of an audit, ``behaviour`` of a compare)."""
    if not result:
        return None
    rows: list[tuple[str, str, float | None]] = []
    columns: tuple[str, ...] = ()
    table: list[tuple[str, tuple[tuple[str, float | None], ...]]] = []
    for k, v in result.items():
        if isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values()) and not table:
            columns = tuple(dict.fromkeys(c for x in v.values() for c in x))
            table = [(one_line(kind, 40), tuple(_stat(c, x.get(c)) if c in x else ("-", None) for c in columns))
                     for kind, x in v.items()]
        elif isinstance(v, (int, float, str)) and len(str(v)) <= 120:
            rows.append((_label(k), *_stat(k, v)))
    return Behaviour(tuple(rows), tuple(_label(c) for c in columns), tuple(table))


# -- per-layer similarity ---------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerPlot:
    """Per-layer similarity of two models: matched ``pairs`` (a, b, similarity) and, when the body has
    it, the whole ``matrix`` [A layers][B layers]. Drawn as a heatmap when the depths differ."""

    title: str
    pairs: tuple[tuple[int, int, float], ...]
    matrix: tuple[tuple[float, ...], ...] | None
    n_a: int
    n_b: int
    unmatched: frozenset[int] = frozenset()  # indices into ``pairs`` the analysis did not count as a match

    @property
    def heatmap(self) -> bool:
        return self.matrix is not None and self.n_a != self.n_b

    @property
    def values(self) -> list[float]:
        return [s for _, _, s in self.pairs]

    @property
    def n_matched(self) -> int:
        return len(self.pairs) - len(self.unmatched)

    @property
    def dims_text(self) -> str:
        """``30 x 28 layers, 28/30 pairs matched``."""
        return f"{self.n_a} x {self.n_b} layers, {self.n_matched}/{len(self.pairs)} pairs matched"

    @property
    def irregular(self) -> bool:
        """Some layers match, but layer i does not simply face layer i: the pairs need listing."""
        return self.n_matched > 0 and (self.n_a != self.n_b or bool(self.unmatched)
                                       or any(a != b for a, b, _ in self.pairs))

    def pair_list(self, arrow: str = "->") -> str:
        """``0->0, 1->1, 2->2 (unmatched), 3->2``."""
        return ", ".join(f"{a}{arrow}{b}" + (" (unmatched)" if i in self.unmatched else "")
                         for i, (a, b, _) in enumerate(self.pairs))


def _plot(title: str, layers: list[dict[str, Any]], matrix: list[list[float]] | None,
          depths: tuple[int | None, int | None] = (None, None)) -> LayerPlot | None:
    pairs = tuple((int(p["a"]), int(p["b"]), _finite(p.get("similarity"))) for p in layers)
    mat = tuple(tuple(_finite(v) for v in row) for row in matrix) if matrix else None
    if not pairs and not mat:
        return None
    n_a = len(mat) if mat else depths[0] or max(a for a, _, _ in pairs) + 1
    n_b = len(mat[0]) if mat and mat[0] else depths[1] or max(b for _, b, _ in pairs) + 1
    unmatched = frozenset(i for i, p in enumerate(layers) if p.get("matched") is False)
    return LayerPlot(title, pairs, mat, n_a, n_b, unmatched)


def _depth(side: dict[str, Any] | None) -> int | None:
    n = ((side or {}).get("dims") or {}).get("n_layers")
    return n if isinstance(n, int) and n > 0 else None


def _finite(v: object) -> float:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else 0.0


def layer_plots(body: dict[str, Any]) -> list[LayerPlot]:
    """Compare: one plot of A against B. Audit: one per reference that has per-layer values."""
    if body["kind"] == "compare":
        p = _plot("A layers vs B layers", body.get("layers") or [], body.get("layer_matrix"),
                  (_depth(body.get("a")), _depth(body.get("b"))))
        return [p] if p else []
    out = []
    for ref in body["lineage"].get("references") or []:
        p = _plot(one_line(ref.get("name"), 80), ref.get("layers") or [], ref.get("layer_matrix"))
        if p:
            out.append(p)
    return out


#: sequential colour ramp for similarity in [0, 1], light to dark (ColorBrewer "Blues" stops)
_RAMP = ((0.0, (247, 251, 255)), (0.25, (198, 219, 239)), (0.5, (107, 174, 214)), (0.75, (33, 113, 181)),
         (1.0, (8, 48, 107)))


def heat_color(v: float) -> str:
    """``#rrggbb`` for a similarity ``v`` (clamped to [0, 1])."""
    v = min(1.0, max(0.0, v))
    for (x0, c0), (x1, c1) in itertools.pairwise(_RAMP):
        if v <= x1:
            t = (v - x0) / (x1 - x0)
            return "#" + "".join(f"{round(a + (b - a) * t):02x}" for a, b in zip(c0, c1))
    return "#08306b"


_BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    """One block character per value in [0, 1]: ``▁▃█``."""
    return "".join(_BLOCKS[min(7, max(0, int(min(1.0, max(0.0, v)) * 8)))] for v in values)


def summary_stats(values: list[float]) -> str:
    """``min 0.12 / mean 0.80 / max 0.99`` of a layer row."""
    if not values:
        return "-"
    return f"min {min(values):.2f} / mean {sum(values) / len(values):.2f} / max {max(values):.2f}"
