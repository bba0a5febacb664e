"""The engine stage: our forward pass against transformers' ``LlamaForCausalLM`` (prefill throughput and
peak memory, via :mod:`bench_engine`), and where our engine's time goes.

Where time goes (:func:`breakdown`): one profiled prefill with ``torch.profiler`` plus module hooks
that open a named range around every RMSNorm, attention block and q/k/v/o projection. Shares of the
forward's wall time: ``matmul`` (every ``aten::linear``, the output head included), ``attention``
(``scaled_dot_product_attention``), ``norm`` (the RMSNorm modules), ``rotary`` (the rest of the
attention block: rotary embedding and head reshapes) and ``other`` (embedding lookup, SwiGLU
activation, residual adds, profiler overhead). On a GPU every part is its kernels' time and
``other`` is mostly the GPU waiting for the host to launch kernels (a 135M model at batch 1 is
launch-bound).

Complexity: prefill is O(T·N) for the projections (N parameters, T tokens) plus O(L·T²·D) for
attention; peak memory is the weights plus O(T·F) activations for one layer at a time.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import bench_engine as be
import generate as gen
import torch
from measure import Context
from torch import nn

from provenance.engine.model import Attention, RMSNorm
from tests.models import cache_dir, stories260k

PROFILED_PASSES = 3


def _ranges(model: nn.Module) -> list[Any]:
    """Hooks opening a profiler range named after the module's role; returns the handles."""
    stack: list[Any] = []

    def pre(label: str) -> Any:
        def hook(_m: nn.Module, _args: Any) -> None:
            rf = torch.profiler.record_function(label)
            rf.__enter__()
            stack.append(rf)
        return hook

    def post(_m: nn.Module, _args: Any, _out: Any) -> None:
        stack.pop().__exit__(None, None, None)

    handles = []
    for name, m in model.named_modules():
        label = ("bench.norm" if isinstance(m, RMSNorm) else "bench.attention_block" if isinstance(m, Attention)
                 else "bench.attn_linear" if isinstance(m, nn.Linear) and ".self_attn." in f".{name}" else None)
        if label:
            handles += [m.register_forward_pre_hook(pre(label)), m.register_forward_hook(post)]
    return handles


def breakdown(model: nn.Module, x: torch.Tensor, device: str) -> dict[str, float]:
    """Shares of one prefill's wall time (see the module docstring); they sum to 1."""
    handles = _ranges(model)
    cuda = device.startswith("cuda")
    acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if cuda else [])
    try:
        with torch.inference_mode():
            model(x)  # warm-up outside the profile
            with torch.profiler.profile(activities=acts) as prof:  # summed over a few passes: less noise
                be.sync(device)
                start = time.perf_counter()
                for _ in range(PROFILED_PASSES):
                    model(x)
                be.sync(device)
                wall = time.perf_counter() - start
    finally:
        for h in handles:
            h.remove()
    # time per key: host (CPU) time, or on a GPU the kernels' time; a range may be listed twice
    # (CPU range and GPU annotation), so take the largest entry of each key
    t: dict[str, float] = {}
    for e in prof.key_averages():
        v = getattr(e, "device_time_total", 0.0) if cuda else e.cpu_time_total
        t[e.key] = max(t.get(e.key, 0.0), v / 1e6)
    matmul, sdpa, norm = t.get("aten::linear", 0.0), t.get("aten::scaled_dot_product_attention", 0.0), t.get("bench.norm", 0.0)
    rotary = max(t.get("bench.attention_block", 0.0) - t.get("bench.attn_linear", 0.0) - sdpa, 0.0)
    parts = {"matmul": matmul, "attention": sdpa, "norm": norm, "rotary": rotary}
    parts["other"] = max(wall - sum(parts.values()), 0.0)
    total = sum(parts.values())
    return {k: round(v / total, 3) for k, v in parts.items()} | {"profiled_seconds": round(wall / PROFILED_PASSES, 4)}


def _model_path(quick: bool) -> tuple[Path, str]:
    """SmolLM2's GGUF when cached (stories260K with --quick); else random weights in SmolLM2's shapes
    (throughput does not depend on the values), e.g. on a GPU machine without the model cache."""
    if quick:
        s = stories260k()
        if s is not None:
            return s, "stories260K"
    else:
        smol = cache_dir() / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if smol.exists():
            return smol, "SmolLM2-135M (Q4_1 GGUF, dequantized)"
    shape = gen.TINY if quick else gen.SMOLLM2_135M
    return gen.pair(gen.PairSpec("engine-" + ("tiny" if quick else "smollm2"), shape))[0], "random weights, shapes of " + (
        "stories260K" if quick else "SmolLM2-135M")


def stage_engine(ctx: Context) -> dict[str, Any]:
    path, what = _model_path(ctx.quick)
    lengths, repeat = ([16, 64], 2) if ctx.quick else ([128, 512], 5)
    vocab = be.vocab_of(path)
    dtypes = [torch.float32] + ([torch.bfloat16] if ctx.device.startswith("cuda") else [])
    res: dict[str, Any] = {"model": what, "path": str(path), "threads": torch.get_num_threads(), "device": ctx.device,
                           "target": "ours/transformers >= 1.0; peak memory <= 1.3x weights"}
    for dtype in dtypes:
        tag = str(dtype).removeprefix("torch.")
        models = {e: be.load(e, path, dtype, ctx.device) for e in ("ours", "transformers")}
        r = res[tag] = {"tokens_per_s": be.time_prefill(models, lengths, repeat, vocab, ctx.device)}
        for n, row in r["tokens_per_s"].items():
            ctx.row("engine", f"{tag} prefill {n} tok", f"ours {row['ours']:,.0f} tok/s vs transformers "
                    f"{row['transformers']:,.0f} = {row['ratio']:.2f}x", ">= 1.0x")
        r["where_time_goes"] = breakdown(models["ours"], be.tokens(lengths[-1], vocab, ctx.device), ctx.device)
        shares = ", ".join(f"{k} {v:.0%}" for k, v in r["where_time_goes"].items() if k != "profiled_seconds")
        ctx.row("engine", f"{tag} ours at {lengths[-1]} tok", shares)
        if ctx.device.startswith("cuda"):
            r["memory"] = {e: _cuda_peak(m, lengths, vocab, ctx.device) for e, m in models.items()}
        del models
    if not ctx.device.startswith("cuda"):
        res["float32"]["memory"] = be.memory(path, lengths, torch.get_num_threads())
    for tag in (str(d).removeprefix("torch.") for d in dtypes):
        mem = res[tag]["memory"]
        ctx.row("engine", f"{tag} peak memory / weights", f"ours {mem['ours']['forward_peak_x']:.2f}x, transformers "
                f"{mem['transformers']['forward_peak_x']:.2f}x ({mem['ours']['weights_mb']:.0f} MB)", "<= 1.3x")
    return res


def _cuda_peak(model: nn.Module, lengths: list[int], vocab: int, device: str) -> dict[str, float]:
    """GPU memory: peak allocated during the forward passes per weight byte (weights included)."""
    w = be.weight_bytes(model)
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    with torch.inference_mode():
        for n in lengths:
            model(be.tokens(n, vocab, device))
    peak = torch.cuda.max_memory_allocated(device) - base
    return {"weights_mb": round(w / 2**20, 1), "forward_peak_x": round(1 + peak / w, 3)}
