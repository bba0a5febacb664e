"""Generated checkpoints for the benchmarks: random weights in real Llama shapes, as Hugging Face folders.

A "pair" is two folders (``config.json`` + ``model.safetensors`` + optionally a real tokenizer): ``a``
with seeded random weights (normal, std 0.02; norms 1) and ``b`` either ``a`` plus small noise (a
derived pair) or drawn from another seed (an independent pair). Both are written in one streaming
pass, a few row blocks at a time, so generating a 1B pair needs tens of megabytes, not gigabytes.
Written under ``cache_dir()/bench/`` (never in the repository) and reused while the spec is unchanged.

The safetensors layout is written directly from its specification (8-byte little-endian header
length, JSON header with ``dtype``/``shape``/``data_offsets``, then the raw little-endian bytes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from provenance.modelargs import ModelArgs
from tests.models import SHARED, cache_dir

#: Real release shapes (from their config.json files); depth is set per benchmark.
LLAMA32_1B = ModelArgs(dim=2048, n_layers=16, n_heads=32, n_kv_heads=8, hidden_dim=8192, head_dim=64,
                       vocab_size=128256, tie_embeddings=True, rope_theta=500000.0)
LLAMA2_7B = ModelArgs(dim=4096, n_layers=32, n_heads=32, n_kv_heads=32, hidden_dim=11008, head_dim=128,
                      vocab_size=32000, tie_embeddings=False)
SMOLLM2_135M = ModelArgs(dim=576, n_layers=30, n_heads=9, n_kv_heads=3, hidden_dim=1536, head_dim=64,
                         vocab_size=49152, tie_embeddings=True, rope_theta=100000.0)
#: The --quick shapes: stories260K's, and two small ones standing in for "1B" and "7B".
TINY = ModelArgs(dim=64, n_layers=5, n_heads=8, n_kv_heads=4, hidden_dim=172, head_dim=8, vocab_size=512,
                 tie_embeddings=True)
SMALL = ModelArgs(dim=256, n_layers=4, n_heads=8, n_kv_heads=4, hidden_dim=688, head_dim=32, vocab_size=2048,
                  tie_embeddings=True)
MEDIUM = ModelArgs(dim=512, n_layers=8, n_heads=8, n_kv_heads=8, hidden_dim=1376, head_dim=64, vocab_size=4096)

#: Real tokenizers in ../shared whose vocabulary fits a shape (anchors are then matched by string).
TOKENIZERS = {32000: "llama2-sentencepiece.model", 128256: "llama3-tiktoken.model"}

_DTYPES = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32"}
_BLOCK = 1 << 23  # elements drawn at a time (32 MiB of float32)


@dataclass(frozen=True)
class PairSpec:
    """How to generate one pair; ``noise`` is the derived model's perturbation (0 = independent)."""

    name: str
    args: ModelArgs
    dtype: torch.dtype = torch.float16
    noise: float = 0.002
    seed: int = 1

    def key(self) -> str:
        text = json.dumps([self.args.to_dict(), str(self.dtype), self.noise, self.seed, 1], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def tensor_shapes(args: ModelArgs) -> dict[str, tuple[int, ...]]:
    """Canonical (Hugging Face) tensor names and shapes of a Llama checkpoint with ``args``."""
    d, q, kv = args.dim, args.n_heads * args.head_dim, args.n_kv_heads * args.head_dim
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (args.vocab_size, d)}
    for i in range(args.n_layers):
        p = f"model.layers.{i}."
        shapes.update({
            p + "input_layernorm.weight": (d,), p + "self_attn.q_proj.weight": (q, d),
            p + "self_attn.k_proj.weight": (kv, d), p + "self_attn.v_proj.weight": (kv, d),
            p + "self_attn.o_proj.weight": (d, q), p + "post_attention_layernorm.weight": (d,),
            p + "mlp.gate_proj.weight": (args.hidden_dim, d), p + "mlp.up_proj.weight": (args.hidden_dim, d),
            p + "mlp.down_proj.weight": (d, args.hidden_dim),
        })
    shapes["model.norm.weight"] = (d,)
    if not args.tie_embeddings:
        shapes["lm_head.weight"] = (args.vocab_size, d)
    return shapes


def _header(shapes: dict[str, tuple[int, ...]], dtype: torch.dtype) -> bytes:
    itemsize = torch.empty(0, dtype=dtype).element_size()
    doc: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in shapes.items():
        n = itemsize * int(torch.Size(shape).numel())
        doc[name] = {"dtype": _DTYPES[dtype], "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(doc, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the data section starts 8-byte aligned
    return struct.pack("<Q", len(raw)) + raw


def _write_pair(spec: PairSpec, a_dir: Path, b_dir: Path) -> None:
    shapes = tensor_shapes(spec.args)
    header = _header(shapes, spec.dtype)
    ga, gb = torch.Generator().manual_seed(spec.seed), torch.Generator().manual_seed(spec.seed + 7919)
    with open(a_dir / "model.safetensors", "wb") as fa, open(b_dir / "model.safetensors", "wb") as fb:
        fa.write(header)
        fb.write(header)
        for shape in shapes.values():
            total = int(torch.Size(shape).numel())
            for start in range(0, total, _BLOCK):
                n = min(_BLOCK, total - start)
                # norms are 1 (jittered in b); matrices N(0, 0.02), b = a + noise or drawn anew
                norm = len(shape) == 1
                a = torch.ones(n) if norm else torch.randn(n, generator=ga) * 0.02
                z = torch.randn(n, generator=gb)
                b = a + z * (0.1 if norm else spec.noise) if norm or spec.noise else z * 0.02
                fa.write(a.to(spec.dtype).view(torch.uint8).numpy().tobytes())
                fb.write(b.to(spec.dtype).view(torch.uint8).numpy().tobytes())


def _folder_files(folder: Path, args: ModelArgs, dtype: torch.dtype) -> None:
    cfg = args.to_hf_config()
    cfg["torch_dtype"] = str(dtype).removeprefix("torch.")
    (folder / "config.json").write_text(json.dumps(cfg, indent=1, sort_keys=True) + "\n")
    tok = TOKENIZERS.get(args.vocab_size)
    if tok and (SHARED / "data" / "tokenizers" / tok).is_file():
        shutil.copyfile(SHARED / "data" / "tokenizers" / tok, folder / "tokenizer.model")


def pair(spec: PairSpec) -> tuple[Path, Path]:
    """Paths of the two folders of ``spec``, generating them on first use (cached by the spec's key)."""
    root = cache_dir() / "bench" / f"{spec.name}-{spec.key()}"
    a_dir, b_dir = root / "a", root / "b"
    if (root / "done").is_file():
        return a_dir, b_dir
    shutil.rmtree(root, ignore_errors=True)
    for d in (a_dir, b_dir):
        d.mkdir(parents=True)
        _folder_files(d, spec.args, spec.dtype)
    _write_pair(spec, a_dir, b_dir)
    (root / "done").write_text(json.dumps({"spec": spec.name, "args": dataclasses.asdict(spec.args)}) + "\n")
    return a_dir, b_dir


def with_layers(args: ModelArgs, n_layers: int) -> ModelArgs:
    """``args`` at another depth (the reduced-depth checkpoints that 7B figures are extrapolated from)."""
    return dataclasses.replace(args, n_layers=n_layers)
