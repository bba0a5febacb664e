"""One prepared GPU check: the ``--device cuda`` path and bfloat16 parity, on real weights.

    python3 benchmarks/gpu_check.py --model MODEL [--stories STORIES.bin] [--json FILE]

Run it once on a machine with a CUDA GPU (the CPU figures elsewhere stay the reference for CI).
It measures, on ``MODEL`` (any checkpoint our loaders read; we use a real SmolLM2 GGUF):

1. parity, float32: our engine on the GPU against transformers' ``LlamaForCausalLM`` on the GPU with
   the same weights (TF32 off), and against our engine on the CPU: max |delta logit|;
2. bfloat16: top-1 agreement and max |delta log-prob| of ours in bf16 against ours in fp32 on the GPU,
   beside transformers' own bf16-vs-fp32 agreement (what bf16 costs any implementation);
3. prefill throughput on the GPU, fp32 and bf16, ours / transformers with its default SDPA attention
   (best of ``--repeat``);
4. the CLI: ``provenance fingerprint --device cuda`` vs ``--device cpu`` (canary log-probs must
   agree; the verdict of ``compare MODEL FINGERPRINT --device cuda`` must be ``derived``).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_engine as be

from provenance.checkpoint import open_checkpoint
from provenance.checkpoint.base import Checkpoint
from provenance.engine.model import Transformer
from provenance.fingerprint.format import SUFFIX, Fingerprint

LENGTHS = (5, 17, 313)
SPEED_LENGTHS = (128, 512, 2048)
DEVICE = "cuda"  # --device cpu: a dry run of this script on a machine without a GPU


def logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    return out.logits.float()


@torch.inference_mode()
def parity(ckpt: Checkpoint) -> dict:
    """float32 GPU parity (ours vs transformers, ours GPU vs CPU) and bfloat16 agreement."""
    vocab = ckpt.args.vocab_size  # type: ignore[union-attr]
    ours = {dt: Transformer.from_checkpoint(ckpt, dtype=dt, device=DEVICE) for dt in (torch.float32, torch.bfloat16)}
    theirs = {dt: be.hf_from_checkpoint(ckpt, dt, DEVICE, "eager") for dt in (torch.float32, torch.bfloat16)}
    cpu = Transformer.from_checkpoint(ckpt)
    out: dict = {}
    for n in LENGTHS:
        x = be.tokens(n, vocab, DEVICE)
        o32, t32 = logits(ours[torch.float32], x), logits(theirs[torch.float32], x)
        o16, t16 = logits(ours[torch.bfloat16], x), logits(theirs[torch.bfloat16], x)
        c32 = logits(cpu, x.cpu())
        lp = lambda z: torch.log_softmax(z, -1)  # noqa: E731
        out[n] = {
            "fp32_ours_vs_transformers_max_abs": float((o32 - t32).abs().max()),
            "fp32_gpu_vs_cpu_max_abs": float((o32.cpu() - c32).abs().max()),
            "bf16_ours_top1_vs_fp32": float((o16.argmax(-1) == o32.argmax(-1)).float().mean()),
            "bf16_transformers_top1_vs_fp32": float((t16.argmax(-1) == t32.argmax(-1)).float().mean()),
            "bf16_ours_vs_transformers_top1": float((o16.argmax(-1) == t16.argmax(-1)).float().mean()),
            "bf16_ours_max_abs_logprob_vs_fp32": float((lp(o16) - lp(o32)).abs().max()),
            "bf16_transformers_max_abs_logprob_vs_fp32": float((lp(t16) - lp(t32)).abs().max()),
        }
    return out


def speed(ckpt: Checkpoint, repeat: int) -> dict:
    """Prefill tokens/s on the GPU, ours and transformers' (SDPA), per dtype: bench_engine's timing."""
    vocab = ckpt.args.vocab_size  # type: ignore[union-attr]
    out: dict = {}
    for dt in (torch.float32, torch.bfloat16):
        models = {"ours": Transformer.from_checkpoint(ckpt, dtype=dt, device=DEVICE),
                  "transformers": be.hf_from_checkpoint(ckpt, dt, DEVICE)}
        out[str(dt).removeprefix("torch.")] = be.time_prefill(models, list(SPEED_LENGTHS), repeat, vocab, DEVICE)
        del models
    return out


def cli(model: Path) -> dict:
    """Fingerprint on the GPU and on the CPU, then compare the model with the GPU fingerprint."""
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        fps = {}
        for device in (DEVICE, "cpu"):
            path = Path(tmp) / f"{device}{SUFFIX}"
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "provenance", "fingerprint", str(model), "-o", str(path),
                            "--device", device, "--name", "gpu-check"], check=True)
            out[f"fingerprint_{device}_s"] = round(time.perf_counter() - t, 2)
            fps[device] = Fingerprint.load(path)
        a, b = fps[DEVICE].behaviour, fps["cpu"].behaviour
        if a is not None and b is not None:
            out["canary_top_logprob_max_abs_gpu_vs_cpu"] = float(abs(a.topk_logprobs - b.topk_logprobs).max())
            out["canary_top1_agreement_gpu_vs_cpu"] = float((a.topk[:, 0] == b.topk[:, 0]).mean())
        t = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "provenance", "compare", str(model), str(Path(tmp) / f"{DEVICE}{SUFFIX}"),
                              "--device", DEVICE, "--format", "json"], check=True, capture_output=True, text=True)
        body = json.loads(res.stdout)
        out["compare_s"] = round(time.perf_counter() - t, 2)
        out["compare_verdict"] = body["verdict"]
        out["compare_behaviour"] = (body.get("behaviour") or {}).get("verdict")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--stories", type=Path, help="also check parity on this llama2.c model")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--device", default="cuda", help="cpu: dry-run the script without a GPU")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    if DEVICE == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: no CUDA GPU visible to torch")
    torch.backends.cuda.matmul.allow_tf32 = False  # parity is about the code, not TF32 rounding
    torch.backends.cudnn.allow_tf32 = False
    result: dict = {"gpu": torch.cuda.get_device_name() if DEVICE == "cuda" else "none (cpu dry run)", "torch": torch.__version__, "python": platform.python_version()}
    with open_checkpoint(args.model) as ckpt:
        result["model"] = {"path": args.model.name, "n_params": ckpt.n_params, "n_layers": ckpt.args.n_layers}  # type: ignore[union-attr]
        result["parity"] = parity(ckpt)
        result["speed"] = speed(ckpt, args.repeat)
    if args.stories:
        with open_checkpoint(args.stories) as ckpt:
            result["stories_parity"] = parity(ckpt)
    result["cli"] = cli(args.model)
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
