"""Prefill throughput and peak memory of our engine against transformers, on a real GGUF model.

    python3 benchmarks/bench_engine.py [--model smollm2] [--threads 2] [--lengths 128 512] [--repeat 5]

Throughput: both engines are loaded in one process and timed alternately (best of ``--repeat``), so
noisy neighbours on a shared machine slow both alike. Weights: ours from our GGUF loader, transformers'
own GGUF dequantizer; float32, batch 1, seeded random tokens, ``torch.inference_mode``.

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

from provenance.checkpoint import open_checkpoint  # noqa: E402
from provenance.model import Transformer  # noqa: E402
from tests.models import fetch  # noqa: E402


def load(engine: str, path: Path) -> torch.nn.Module:
    if engine == "ours":
        with open_checkpoint(path) as ckpt:
            return Transformer.from_checkpoint(ckpt)
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()


def weight_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())  # tied tensors counted once


def tokens(length: int) -> torch.Tensor:
    return torch.randint(0, 32000, (1, length), generator=torch.Generator().manual_seed(length))


def time_prefill(models: dict[str, torch.nn.Module], lengths: list[int], repeat: int) -> dict:
    out: dict = {}
    with torch.inference_mode():
        for n in lengths:
            x = tokens(n)
            best = {name: float("inf") for name in models}
            for m in models.values():  # warm-up
                m(x)
            for _ in range(repeat):
                for name, m in models.items():
                    t = time.perf_counter()
                    m(x)
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


def memory_child(engine: str, path: Path, lengths: list[int]) -> dict:
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
            model(tokens(n))
    transient = _status_kib("VmHWM") * 1024 - before
    w = weight_bytes(model)
    return {
        "weights_mb": round(w / 2**20, 1),
        "load_peak_x": round(load_peak / w, 3),
        "forward_peak_x": round(1 + transient / w, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lengths", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument(
        "--memory", action="store_true", help="also measure peak memory, one subprocess per engine"
    )
    ap.add_argument("--child", choices=["ours", "transformers"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    path = fetch(a.model)
    if a.child:
        print(json.dumps(memory_child(a.child, path, a.lengths)))
        return
    models = {"ours": load("ours", path), "transformers": load("transformers", path)}
    result: dict = {
        "model": a.model,
        "threads": a.threads,
        "torch": torch.__version__,
        "tokens_per_s": time_prefill(models, a.lengths, a.repeat),
    }
    del models
    if a.memory:
        result["memory"] = {}
        for engine in ("ours", "transformers"):
            cmd = [
                sys.executable,
                __file__,
                "--child",
                engine,
                "--model",
                a.model,
                "--threads",
                str(a.threads),
            ]
            cmd += ["--lengths", *map(str, a.lengths)]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            result["memory"][engine] = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
