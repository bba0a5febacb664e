"""Prefill throughput and peak memory of our engine against transformers, on a real GGUF model.

    python3 benchmarks/bench_engine.py [--model smollm2 | --path CKPT] [--threads 2] [--lengths 128 512] [--repeat 5]

Throughput: both engines are loaded in one process and timed alternately (best of ``--repeat``), so
noisy neighbours on a shared machine slow both alike. Weights: ours from our GGUF loader, transformers'
own GGUF dequantizer; float32, batch 1, seeded random tokens, ``torch.inference_mode``. A checkpoint
that is not a GGUF (``--path``: llama2.c, a safetensors folder) is given to transformers as the
tensors our loader read (the same weights; only the forward code differs).

Memory (``--memory``): each engine in a fresh subprocess, peaks of the resident set as multiples of the
model's weight bytes, during loading and during the forward passes (see ``memory_child``). Linux only
(reads /proc/self/status).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provenance.checkpoint import open_checkpoint
from provenance.checkpoint.base import LM_HEAD, Checkpoint
from provenance.engine.model import Transformer
from tests.models import fetch


def load(engine: str, path: Path, dtype: torch.dtype = torch.float32, device: str = "cpu") -> torch.nn.Module:
    """``engine`` (``ours`` or ``transformers``) with the weights of ``path``, for inference."""
    if engine == "ours":
        with open_checkpoint(path) as ckpt:
            return Transformer.from_checkpoint(ckpt, dtype=dtype, device=device)
    from transformers import AutoModelForCausalLM

    if path.suffix == ".gguf":
        return AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=dtype).to(device).eval()
    with open_checkpoint(path) as ckpt:
        return hf_from_checkpoint(ckpt, dtype, device)


def hf_from_checkpoint(ckpt: Checkpoint, dtype: torch.dtype = torch.float32, device: str = "cpu",
                       attention: str = "sdpa") -> torch.nn.Module:
    """transformers' ``LlamaForCausalLM`` holding ``ckpt``'s weights (canonical names are Hugging
    Face's; a tied head is the embedding). ``attention``: ``sdpa``, its default, for speed; ``eager``,
    a code path independent of ours, for parity."""
    from transformers import LlamaConfig, LlamaForCausalLM

    assert ckpt.args is not None
    config = LlamaConfig(**ckpt.args.to_hf_config())
    config._attn_implementation = attention
    with torch.device(device):
        model = LlamaForCausalLM(config).to(dtype)
    tied = ckpt.args.tie_embeddings
    state = {name: ckpt.get(name) for name in ckpt.names() if not (tied and name == LM_HEAD)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or set(missing) - {LM_HEAD} or (missing and not tied):
        raise RuntimeError(f"{ckpt.path}: transformers and our tensors disagree: {missing} {unexpected}")
    model.tie_weights()
    return model.eval()


def weight_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())  # tied tensors counted once


def tokens(length: int, vocab: int = 32000, device: str = "cpu") -> torch.Tensor:
    x = torch.randint(0, vocab, (1, length), generator=torch.Generator().manual_seed(length))
    return x.to(device)


def sync(device: str) -> None:
    """Wait for queued GPU work, so that wall-clock timings include it."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def time_prefill(models: dict[str, torch.nn.Module], lengths: list[int], repeat: int, vocab: int = 32000,
                 device: str = "cpu") -> dict:
    """Best-of-``repeat`` prefill tokens/s per engine at each length, engines timed alternately;
    ``ratio`` = ours / transformers."""
    out: dict = {}
    with torch.inference_mode():
        for n in lengths:
            x = tokens(n, vocab, device)
            best = {name: float("inf") for name in models}
            for m in models.values():  # warm-up
                m(x)
            for _ in range(repeat):
                for name, m in models.items():
                    sync(device)
                    t = time.perf_counter()
                    m(x)
                    sync(device)
                    best[name] = min(best[name], time.perf_counter() - t)
            out[n] = {name: round(n / s, 1) for name, s in best.items()}
            if "ours" in best and "transformers" in best:
                out[n]["ratio"] = round(best["transformers"] / best["ours"], 3)
    return out


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(engine: str, path: Path, lengths: list[int], vocab: int = 32000) -> dict:
    """Runs inside a fresh subprocess. ``load_peak_x``: peak resident set while loading, above the
    imports' baseline, per weight byte (loader transients and the mapped file included).
    ``forward_peak_x``: 1 + the forward passes' peak above the resident set just before them, per
    weight byte (the engine's own cost: weights plus activations, whatever the loader left behind)."""
    base = _status_kib("VmRSS") * 1024
    model = load(engine, path)
    load_peak = _status_kib("VmHWM") * 1024 - base
    Path("/proc/self/clear_refs").write_text("5")  # reset the high-water mark to the current RSS
    before = _status_kib("VmRSS") * 1024
    with torch.inference_mode():
        for n in lengths:
            model(tokens(n, vocab))
    transient = _status_kib("VmHWM") * 1024 - before
    w = weight_bytes(model)
    return {
        "weights_mb": round(w / 2**20, 1),
        "load_peak_x": round(load_peak / w, 3),
        "forward_peak_x": round(1 + transient / w, 3),
    }


def vocab_of(path: Path) -> int:
    """Vocabulary size of a checkpoint (random prompt tokens are drawn below it)."""
    with open_checkpoint(path) as ckpt:
        return ckpt.args.vocab_size


def memory(path: Path, lengths: list[int], threads: int) -> dict:
    """Peak memory of each engine, each measured in a fresh subprocess (see :func:`memory_child`)."""
    out = {}
    for engine in ("ours", "transformers"):
        cmd = [sys.executable, __file__, "--child", engine, "--path", str(path), "--threads", str(threads),
               "--lengths", *map(str, lengths)]
        done = subprocess.run(cmd, check=True, capture_output=True, text=True)
        out[engine] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2", help="a model of tests/models.py")
    ap.add_argument("--path", type=Path, help="any checkpoint instead of --model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lengths", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--memory", action="store_true", help="also measure peak memory, one subprocess per engine"
    )
    ap.add_argument("--child", choices=["ours", "transformers"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    path = a.path or fetch(a.model)
    vocab = vocab_of(path)
    if a.child:
        print(json.dumps(memory_child(a.child, path, a.lengths, vocab)))
        return
    models = {"ours": load("ours", path), "transformers": load("transformers", path)}
    result: dict = {
        "model": str(path) if a.path else a.model,
        "threads": a.threads,
        "torch": torch.__version__,
        "tokens_per_s": time_prefill(models, a.lengths, a.repeat, vocab),
    }
    del models
    if a.memory:
        result["memory"] = memory(path, a.lengths, a.threads)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
