"""The command-line stages: ``compare``, ``fingerprint``, ``audit`` and how their cost grows (``scaling``).

Every number is a fresh ``python -m provenance`` process (imports included), timed by wall clock
with the child's own peak resident set (:func:`measure.run_cli`). The weight stages run with
``--no-behaviour`` so they measure the streaming weight work that the read floor bounds; the real
SmolLM2 model is also run end to end with behaviour (the canary forward passes, whose cost is the
engine's: see the engine stage).

Complexity (L layers, D width, F MLP width, V vocabulary, N = total weight bytes):

* ``compare``: one streaming pass over both checkpoints, O(N) reads and dequantization, plus per
  layer the invariant maps compressed to a 128-wide probe (O(D²·128 + D·F·128)) and the L×L
  layer matching (O(L²·128²)); anchors are capped (16384 rows), so the alignment is O(D²·16384).
  Memory: a few tensors at once (the largest: the embedding, V×D) plus a fixed overhead.
* ``fingerprint``: the same single pass over one checkpoint; the file is O(L·128² + 4096·D + V)
  bytes, so its share of the checkpoint falls as models grow.
* ``audit``: a fingerprint-style pass over the candidate plus one sketch comparison per registry
  entry (O(registry size · L²·128²)) and, with behaviour, forward passes over the canary prompts.
"""

from __future__ import annotations

import io
import json
import math
import pstats
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import generate as gen
import torch
from measure import Context, Run, device_args, nbytes, read_floor, run_cli

from provenance.modelargs import ModelArgs
from tests.models import fetch, stories260k
from tests.zoo import _target as zoo_path

AUDIT_TARGET_S = 30.0
FLOOR_TARGET_X = 3.0
FINGERPRINT_TARGET = 0.02


@dataclass(frozen=True)
class Pair:
    """A compared pair; ``size`` groups pairs for the scaling stage, ``depth`` marks reduced-depth runs."""

    label: str
    size: str
    relation: str
    paths: Callable[[], tuple[Path, Path]]
    depth: int | None = None  # layers of a reduced-depth pair (extrapolated to ``full_depth``)
    full_depth: int | None = None
    behaviour: bool = False  # also time the end-to-end run with behaviour (real models only)


def _zoo(a: str, b: str) -> Callable[[], tuple[Path, Path]]:
    def paths() -> tuple[Path, Path]:
        pa, pb = zoo_path(a), zoo_path(b)
        missing = [str(p) for p in (pa, pb) if not p.exists()]
        if missing:
            raise FileNotFoundError(f"zoo not built ({', '.join(missing)}): python -m tests.zoo build {a} {b}")
        return pa, pb
    return paths


def _gen(name: str, args: ModelArgs, dtype: torch.dtype = torch.float16) -> Callable[[], tuple[Path, Path]]:
    spec = gen.PairSpec(name, args, dtype)
    return lambda: gen.pair(spec)


def _stories_vs(other: Callable[[], tuple[Path, Path]]) -> Callable[[], tuple[Path, Path]]:
    def paths() -> tuple[Path, Path]:
        s = stories260k()
        if s is None:
            raise FileNotFoundError("../shared/data/models/stories260K.bin is absent")
        return s, other()[0]
    return paths


def pairs(quick: bool) -> list[Pair]:
    """The compared pairs of a run: real SmolLM2 pairs, a generated 1B-class pair and reduced-depth
    7B-shaped pairs (``--quick``: stories260K and tiny generated stand-ins)."""
    if quick:
        tiny = _gen("tiny", gen.TINY)
        return [
            Pair("tiny derived", "tiny", "derived", tiny),
            Pair("stories260K vs tiny", "tiny", "independent", _stories_vs(tiny), behaviour=True),
            Pair("small derived", "small", "derived", _gen("small", gen.SMALL)),
            *(Pair(f"medium@{n} derived", "medium", "derived", _gen(f"medium{n}", gen.with_layers(gen.MEDIUM, n)),
                   depth=n, full_depth=gen.MEDIUM.n_layers) for n in (1, 2)),
        ]
    return [
        Pair("smollm2 derived (ft-light)", "smollm2-135m", "derived", _zoo("smol-hf", "smol-ft-light"), behaviour=True),
        Pair("smollm2 independent (random)", "smollm2-135m", "independent", _zoo("smol-hf", "smol-random")),
        Pair("1b derived (bf16)", "1b", "derived", _gen("llama32-1b", gen.LLAMA32_1B, torch.bfloat16)),
        *(Pair(f"7b@{n} derived (f16)", "7b", "derived", _gen(f"llama2-7b-l{n}", gen.with_layers(gen.LLAMA2_7B, n)),
               depth=n, full_depth=gen.LLAMA2_7B.n_layers) for n in (2, 4)),
    ]


def _mb(x: float) -> str:
    return f"{x:,.0f} MB"


def _peak(r: dict[str, Any]) -> str:
    return f"peak RSS {_mb(r['peak_rss_mb'])} (anon {_mb(r['peak_anon_mb'])})"


def _mem(run: Run) -> dict[str, float]:
    return {"seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb, "peak_anon_mb": run.peak_anon_mb}


def compare_pair(ctx: Context, p: Pair) -> dict[str, Any]:
    """Weights-only compare of ``p`` against the read floor of its two checkpoints."""

    def measure() -> dict[str, Any]:
        a, b = p.paths()
        floor = read_floor([a, b])
        args = ["compare", str(a), str(b), "--format", "json", "--no-behaviour"]
        # reduced-depth pairs are differenced for the per-layer cost, so noise matters twice: best of 2
        run = min((run_cli(args).check(f"compare {p.label}") for _ in range(2 if p.depth else 1)),
                  key=lambda r: r.seconds)
        out = {"a": str(a), "b": str(b), "args": args, "bytes": nbytes([a, b]), **_mem(run),
               "floor_seconds": floor["seconds"], "floor_gb_per_s": floor["gb_per_s"],
               "x_floor": run.seconds / floor["seconds"], "verdict": json.loads(run.stdout)["verdict"],
               "expected": p.relation}
        if p.behaviour:
            full = run_cli(["compare", str(a), str(b), "--format", "json", *device_args(ctx.device)])
            full.check(f"compare {p.label} with behaviour")
            out["with_behaviour"] = {**_mem(full), "verdict": json.loads(full.stdout)["verdict"]}
        return out

    return ctx.memo(("compare", p.label), measure)


def _extrapolate(lo: dict[str, Any], hi: dict[str, Any], keys: list[str], depth: tuple[int, int], full: int) -> dict:
    """Linear in depth: per-layer cost from two reduced depths, then ``fixed + full * per_layer``."""
    (d1, d2), out = depth, {}
    for k in keys:
        per_layer = max(hi[k] - lo[k], 0.0) / (d2 - d1)  # a cost falling with depth is noise
        out[k] = lo[k] + (full - d1) * per_layer
        out[k + "_per_layer"] = per_layer
    out["extrapolated_from_layers"] = [d1, d2]
    out["layers"] = full
    return out


def _sized(ctx: Context, ps: list[Pair], one: Callable[[Context, Pair], dict[str, Any]], keys: list[str]) -> dict:
    """Measurements at each size: the pair's own, or extrapolated to full depth from reduced depths."""
    out: dict[str, Any] = {}
    for size in dict.fromkeys(p.size for p in ps):
        group = [p for p in ps if p.size == size]
        if group[0].depth is None:
            out[size] = one(ctx, group[0])
        else:
            lo, hi = one(ctx, group[0]), one(ctx, group[-1])
            out[size] = _extrapolate(lo, hi, keys, (group[0].depth, group[-1].depth), group[0].full_depth or 0)
    return out


def stage_compare(ctx: Context) -> dict[str, Any]:
    res: dict[str, Any] = {"pairs": {}, "target": f"<= {FLOOR_TARGET_X}x read floor; peak RSS independent of size"}
    ps = pairs(ctx.quick)
    for p in ps:
        try:
            r = res["pairs"][p.label] = compare_pair(ctx, p)
        except FileNotFoundError as e:
            res["pairs"][p.label] = {"skipped": str(e)}
            ctx.row("compare", p.label, f"skipped: {e}")
            continue
        ok = "ok" if r["verdict"] == p.relation else f"WRONG (expected {p.relation})"
        ctx.row("compare", p.label, f"{r['seconds']:.1f} s = {r['x_floor']:.1f}x floor ({r['floor_seconds']:.2f} s, "
                f"{r['bytes'] / 1e9:.2f} GB); {_peak(r)}; {r['verdict']} {ok}", f"<= {FLOOR_TARGET_X}x")
        if "with_behaviour" in r:
            w = r["with_behaviour"]
            ctx.row("compare", p.label + " +behaviour", f"{w['seconds']:.1f} s; {_peak(w)}; {w['verdict']}")
    measured = [r for r in res["pairs"].values() if "skipped" not in r]
    if measured and (worst := max(measured, key=lambda r: r["x_floor"]))["x_floor"] > FLOOR_TARGET_X:
        res["profile"] = {"args": worst["args"], **profile_top15(worst["args"], "compare")}
    big = [p for p in ps if p.depth is not None and "skipped" not in res["pairs"][p.label]]
    if len(big) == 2:
        lo, hi = res["pairs"][big[0].label], res["pairs"][big[1].label]
        x = _extrapolate(lo, hi, ["seconds", "peak_rss_mb", "peak_anon_mb", "bytes"], (big[0].depth, big[1].depth), big[0].full_depth or 0)
        # the floor of the full-depth pair: its bytes at the read speed measured on the reduced ones
        x["floor_seconds"] = x["bytes"] / (max(lo["floor_gb_per_s"], hi["floor_gb_per_s"]) * 1e9)
        x["x_floor"] = x["seconds"] / x["floor_seconds"]
        res["extrapolated"] = {big[0].size: x}
        ctx.row("compare", f"{big[0].size} at {x['layers']} layers (EXTRAPOLATED)",
                f"{x['seconds']:.0f} s = {x['x_floor']:.1f}x floor ({x['bytes'] / 1e9:.1f} GB); "
                f"{x['seconds_per_layer']:.2f} s/layer; {_peak(x)}", f"<= {FLOOR_TARGET_X}x")
    return res


def fingerprint_one(ctx: Context, p: Pair, model: Path | None = None, behaviour: bool = False) -> dict[str, Any]:
    """Fingerprint the first model of ``p`` (or ``model``): time, peak RSS, file size vs checkpoint."""

    def measure() -> dict[str, Any]:
        path = model or p.paths()[0]
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "m.fingerprint.safetensors"
            args = ["fingerprint", str(path), "-o", str(out)]
            args += device_args(ctx.device) if behaviour else ["--no-behaviour"]
            run = run_cli(args).check(f"fingerprint {path}")
            size = out.stat().st_size
        ck = nbytes([path])
        return {"model": str(path), **_mem(run), "bytes": size,
                "checkpoint_bytes": ck, "fraction": size / ck, "behaviour": behaviour}

    return ctx.memo(("fingerprint", str(model) if model else p.label), measure)


def _real_model(quick: bool) -> Path:
    if quick:
        s = stories260k()
        if s is None:
            raise FileNotFoundError("../shared/data/models/stories260K.bin is absent")
        return s
    return fetch("smollm2")


def stage_fingerprint(ctx: Context) -> dict[str, Any]:
    res: dict[str, Any] = {"models": {}, "target": f"file < {FINGERPRINT_TARGET:.0%} of the checkpoint"}
    real = _real_model(ctx.quick)
    first = pairs(ctx.quick)[0]
    r = res["models"][real.name + " +behaviour"] = fingerprint_one(ctx, first, real, behaviour=True)
    ctx.row("fingerprint", real.name + " +behaviour", f"{r['seconds']:.1f} s; {r['bytes'] / 1e6:.2f} MB = "
            f"{r['fraction']:.2%} of {r['checkpoint_bytes'] / 1e6:.0f} MB; {_peak(r)}", "< 2%")
    ps = [p for p in pairs(ctx.quick) if p.relation == "derived"]
    try:
        sized = _sized(ctx, ps, fingerprint_one, ["seconds", "peak_rss_mb", "peak_anon_mb", "bytes", "checkpoint_bytes"])
    except FileNotFoundError as e:
        ctx.row("fingerprint", "sizes", f"skipped: {e}")
        return res
    for size, r in sized.items():
        r["fraction"] = r["bytes"] / r["checkpoint_bytes"]
        res["models"][size] = r
        tag = f" at {r['layers']} layers (EXTRAPOLATED)" if "layers" in r else ""
        ctx.row("fingerprint", size + tag, f"{r['seconds']:.1f} s; {r['bytes'] / 1e6:.2f} MB = {r['fraction']:.2%} of "
                f"{r['checkpoint_bytes'] / 1e9:.2f} GB; {_peak(r)}", "< 2%")
    return res


def profile_top15(args: list[str], what: str) -> dict[str, list[str]]:
    """cProfile of one CLI run (for a run that misses its target): the top 15 functions of the
    package below the CLI by cumulative time, and the top 15 of all by own time."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        prof = Path(tmp) / "run.prof"
        run_cli(args, profile_to=prof).check(f"{what} under cProfile")
        for key, restrict in (("cumulative", r"provenance/(?!cli/|__main__)"), ("tottime", "")):
            buf = io.StringIO()
            pstats.Stats(str(prof), stream=buf).sort_stats(key).print_stats(restrict, 15)
            lines = buf.getvalue().splitlines()
            start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
            out[key] = [line.rstrip() for line in lines[start:] if line.strip()]
    return out


def stage_audit(ctx: Context) -> dict[str, Any]:
    model = _real_model(ctx.quick)
    with tempfile.TemporaryDirectory() as empty:  # the shipped registry only
        args = ["audit", str(model), "--format", "json", "--registry-dir", empty, *device_args(ctx.device)]
        run = run_cli(args).check("audit")
        report = json.loads(run.stdout)
        res: dict[str, Any] = {"model": str(model), **_mem(run),
                               "target_seconds": AUDIT_TARGET_S, "summary": _audit_summary(report)}
        if run.seconds > AUDIT_TARGET_S:
            res["profile"] = profile_top15(args, "audit")
    ctx.row("audit", model.name, f"{run.seconds:.1f} s; {_peak(res)}; {res['summary']}",
            f"< {AUDIT_TARGET_S:.0f} s")
    return res


def _audit_summary(report: dict[str, Any]) -> str:
    body = report.get("result", report)
    lineage = body.get("lineage") or {}
    return str(lineage.get("verdict") or lineage.get("summary") or body.get("verdict") or "?")[:60]


def _growth(points: list[tuple[float, float]]) -> float | None:
    """Exponent k of cost ∝ size^k between the smallest and the largest size."""
    (x0, y0), (x1, y1) = points[0], points[-1]
    if x1 <= x0 or y0 <= 0 or y1 <= 0:
        return None
    return math.log(y1 / y0) / math.log(x1 / x0)


def stage_scaling(ctx: Context) -> dict[str, Any]:
    ps = pairs(ctx.quick)
    derived = [p for p in ps if p.relation == "derived"]
    res: dict[str, Any] = {}
    for name, one, keys in (
        ("compare", compare_pair, ["seconds", "peak_rss_mb", "peak_anon_mb", "bytes"]),
        ("fingerprint", fingerprint_one, ["seconds", "peak_rss_mb", "peak_anon_mb", "bytes", "checkpoint_bytes"]),
    ):
        try:
            sized = _sized(ctx, derived, one, keys)
        except FileNotFoundError as e:
            ctx.row("scaling", name, f"skipped: {e}")
            continue
        size_key = "bytes" if name == "compare" else "checkpoint_bytes"
        pts = [(r[size_key], r) for r in sized.values()]
        res[name] = {
            "sizes": {s: {k: r[k] for k in ("seconds", "peak_rss_mb", "peak_anon_mb", size_key)} for s, r in sized.items()},
            "time_exponent": _growth([(b, r["seconds"]) for b, r in pts]),
            "rss_exponent": _growth([(b, r["peak_rss_mb"]) for b, r in pts]),
            "anon_exponent": _growth([(b, r["peak_anon_mb"]) for b, r in pts]),
        }
        cells = "; ".join(f"{s}{'*' if 'layers' in r else ''} {r[size_key] / 1e9:.2f} GB: {r['seconds']:.1f} s, "
                          f"{_peak(r)}" for s, r in sized.items())
        ex = {k: res[name][k + "_exponent"] for k in ("time", "rss", "anon")}
        growth = ", ".join(f"{k} ∝ size^{v:.2f}" for k, v in ex.items() if v is not None)
        ctx.row("scaling", name, f"{cells}; {growth}",
                "RSS flat" if name == "compare" else "")
    res["note"] = "* = extrapolated from reduced-depth checkpoints (linear in depth)"
    return res


STAGES: dict[str, Callable[[Context], dict[str, Any]]] = {
    "compare": stage_compare, "fingerprint": stage_fingerprint, "audit": stage_audit, "scaling": stage_scaling,
}
