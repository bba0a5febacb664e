"""Meta's original release layout: ``params.json`` + ``consolidated.NN.pth`` model-parallel shards.

Each shard holds a slice of every parallel layer, as fairscale split them for inference:
column-parallel layers (``wq wk wv w1 w3 output``) along dim 0, row-parallel layers (``wo w2``) along
dim 1, the embedding along dim 1 (Llama 1/2 ``ParallelEmbedding``) or dim 0 (Llama 3
``VocabParallelEmbedding``), norms replicated. Q/K use Meta's interleaved rotary and are converted
to rotate-half after merging.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from provenance.checkpoint import safety
from provenance.checkpoint.base import (
    EMBED,
    FINAL_NORM,
    LM_HEAD,
    Checkpoint,
    DeclaredMetadata,
    LazyTensor,
    layer_name,
)
from provenance.checkpoint.common import (
    dominant_dtype,
    finalize_args,
    folder_tokenizer,
    lazy,
    source_files,
    torch_dtype_name,
    torch_load,
)
from provenance.checkpoint.metadata import declare_folder
from provenance.checkpoint.rotary import interleaved_to_half
from provenance.errors import FormatError, one_line
from provenance.modelargs import DEFAULT_ROPE_THETA, ModelArgs, RopeScaling

SHARD = re.compile(r"consolidated\.(\d+)\.pth")

# Meta name (per layer: after ``layers.N.``) -> (canonical suffix, split axis; None = replicated).
LAYER_NAMES = {
    "attention_norm.weight": ("input_layernorm.weight", None),
    "attention.wq.weight": ("self_attn.q_proj.weight", 0),
    "attention.wk.weight": ("self_attn.k_proj.weight", 0),
    "attention.wv.weight": ("self_attn.v_proj.weight", 0),
    "attention.wo.weight": ("self_attn.o_proj.weight", 1),
    "ffn_norm.weight": ("post_attention_layernorm.weight", None),
    "feed_forward.w1.weight": ("mlp.gate_proj.weight", 0),
    "feed_forward.w3.weight": ("mlp.up_proj.weight", 0),
    "feed_forward.w2.weight": ("mlp.down_proj.weight", 1),
}
GLOBAL_NAMES = {"tok_embeddings.weight": (EMBED, -1), "norm.weight": (FINAL_NORM, None), "output.weight": (LM_HEAD, 0)}
CANONICAL_TO_META = {v[0]: k for k, v in GLOBAL_NAMES.items()} | {v[0]: k for k, v in LAYER_NAMES.items()}
DEFAULT_LLAMA3_FACTOR = 8.0  # Llama 3.1's use_scaled_rope; 3.2 1B/3B releases add rope_scaling_factor


def meta_name(canonical: str) -> str:
    """Meta's name for a canonical tensor (used by the exporter)."""
    m = re.fullmatch(r"model\.layers\.(\d+)\.(.+)", canonical)
    return f"layers.{m.group(1)}.{CANONICAL_TO_META[m.group(2)]}" if m else CANONICAL_TO_META[canonical]


def ffn_hidden_dim(dim: int, multiple_of: int, ffn_dim_multiplier: float | None) -> int:
    """Meta's rule for the SwiGLU width: 2/3 of 4*dim, scaled, rounded up to ``multiple_of``."""
    hidden = int(2 * (4 * dim) / 3)
    if ffn_dim_multiplier is not None:
        hidden = int(ffn_dim_multiplier * hidden)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


def params_to_args(params: dict[str, Any]) -> ModelArgs:
    """ModelArgs from a Meta ``params.json`` (vocab_size may be -1: taken from the embedding later)."""
    dim, n_heads = int(params["dim"]), int(params["n_heads"])
    scaling = None
    if params.get("use_scaled_rope"):
        scaling = RopeScaling(
            factor=float(params.get("rope_scaling_factor", DEFAULT_LLAMA3_FACTOR)),
        )
    return ModelArgs(
        arch="llama",
        dim=dim,
        n_layers=int(params["n_layers"]),
        n_heads=n_heads,
        n_kv_heads=int(params.get("n_kv_heads") or n_heads),
        vocab_size=int(params.get("vocab_size", -1)),
        hidden_dim=ffn_hidden_dim(dim, int(params.get("multiple_of", 256)), params.get("ffn_dim_multiplier")),
        head_dim=dim // n_heads,
        norm_eps=float(params.get("norm_eps", 1e-5)),
        rope_theta=float(params.get("rope_theta", DEFAULT_ROPE_THETA)),
        rope_scaling=scaling,
        max_seq_len=int(params.get("max_seq_len", ModelArgs.max_seq_len)),
    )


def shard_files(folder: Path) -> list[Path]:
    """``consolidated.NN.pth`` files in shard order; they must be numbered 0..n-1."""
    found = sorted((int(m.group(1)), p) for p in folder.iterdir() if (m := SHARD.fullmatch(p.name)))
    if not found:
        raise FormatError("no consolidated.NN.pth shards", folder)
    safety.check_count(len(found), safety.MAX_SHARDS, "shard", folder)
    if [i for i, _ in found] != list(range(len(found))):
        raise FormatError(f"shards are not numbered 0..{len(found) - 1}", folder)
    return [safety.resolve_inside(folder, p.name, p) for _, p in found]  # the rule index-named shards follow


def _canonical(name: str) -> tuple[str, int | None] | None:
    if name in GLOBAL_NAMES:
        return GLOBAL_NAMES[name]
    m = re.fullmatch(r"layers\.(\d+)\.(.+)", name)
    if m and m.group(2) in LAYER_NAMES:
        suffix, axis = LAYER_NAMES[m.group(2)]
        return layer_name(int(m.group(1)), suffix), axis
    return None  # rope.freqs and other buffers are not weights


def _merged_shape(
    parts: list[torch.Tensor], axis: int | None, args: ModelArgs, name: str, path: Path
) -> tuple[tuple[int, ...], int | None]:
    shape = tuple(parts[0].shape)
    if any(tuple(p.shape) != shape for p in parts):
        raise FormatError(f"shards disagree on the shape of {name}", path)
    if axis == -1:  # embedding: split over the vocabulary (Llama 3) or over dim (Llama 1/2)
        axis = 1 if len(parts) == 1 or shape[1] * len(parts) == args.dim else 0
    if axis is None or len(parts) == 1:
        return shape, None
    merged = list(shape)
    merged[axis] *= len(parts)
    return tuple(merged), axis


def load_meta(path: str | Path) -> Checkpoint:
    """Open a Meta release folder (or one of its shards): merge shards lazily, one tensor at a time."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    params = safety.read_json(folder / "params.json", "params.json")
    try:
        args = params_to_args(params)
    except KeyError as e:
        raise FormatError(f"params.json lacks {e}", folder / "params.json") from None
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as e:
        raise FormatError(f"params.json has a malformed field ({one_line(e, 200)})", folder / "params.json") from None
    files = shard_files(folder)
    shards = [torch_load(f) for f in files]
    names = set(shards[0])
    if any(set(s) != names for s in shards[1:]):
        raise FormatError("shards hold different tensor names", folder)
    tensors: dict[str, LazyTensor] = {}
    for raw in sorted(names):
        target = _canonical(raw)
        if target is None:
            continue
        name, axis = target
        parts = [s[raw] for s in shards]
        shape, axis = _merged_shape(parts, axis, args, name, files[0])
        heads = {"self_attn.q_proj.weight": args.n_heads, "self_attn.k_proj.weight": args.n_kv_heads}.get(
            name.split(".", 3)[-1]
        )
        tensors[name] = lazy(name, shape, torch_dtype_name(parts[0]), _loader(parts, axis, heads), files[0])
    args = finalize_args(args, tensors, path)
    meta = DeclaredMetadata(source_fields={f"params.{k}": v for k, v in sorted(params.items())})
    declare_folder(meta, folder)
    return Checkpoint(
        path,
        "meta",
        args,
        tensors,
        metadata=meta,
        files=source_files(files + [folder / "params.json"]),
        tokenizer_loader=folder_tokenizer(folder),
        quantization=dominant_dtype(tensors),
        header_loader=lambda: params,
    )


def _loader(parts: list[torch.Tensor], axis: int | None, heads: int | None) -> Callable[[], torch.Tensor]:
    def load() -> torch.Tensor:
        w = parts[0] if axis is None else torch.cat(parts, dim=axis)
        w = w.float()
        return interleaved_to_half(w, heads) if heads else w

    return load
