"""Helpers every loader shares: safe torch loading, name variants, shape checks, model cards, tokenizers."""

from __future__ import annotations

import dataclasses
import io
import math
import pickle
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
    LazyTensor,
    SourceFile,
    layer_name,
)
from provenance.checkpoint.torch_archive import check_torch_archive
from provenance.errors import PARSE_ERRORS, FormatError, native, one_line
from provenance.fileio import file_size
from provenance.modelargs import ModelArgs
from provenance.tokenizer.files import load_tokenizer
from provenance.tokenizer.vocab import Tokenizer

_LAYER_INDEX = re.compile(r"model\.layers\.(\d{1,9})\.")  # canonical per-layer names (digits bounded for int())


# -- torch archives ----------------------------------------------------------------------------
def torch_load(path: Path) -> dict[str, torch.Tensor]:
    """A torch state dict, memory-mapped, through ``weights_only`` unpickling only.

    A pickle that needs anything beyond tensors and plain containers (custom classes, arbitrary
    callables) is refused: executing it could run code.
    """
    check_torch_archive(path)  # sizes and storage claims, before torch inflates or allocates anything
    with open(path, "rb") as f:
        # Zip archives (torch >= 1.6) are memory-mapped. Legacy raw pickles cannot be, and are read
        # whole anyway: from memory, so that a length the pickle claims (read(2**32) for a 4 GB
        # string) is capped by the bytes that exist instead of being allocated up front.
        zipped = f.read(4) == b"PK\x03\x04"
        f.seek(0)
        source: str | io.BytesIO = str(path) if zipped else io.BytesIO(f.read())
    try:
        obj = torch.load(source, map_location="cpu", weights_only=True, mmap=zipped)
    except pickle.UnpicklingError as e:
        raise FormatError(
            f"refused: this pickle needs more than tensors and plain containers ({_unpickler_reason(e)}); "
            "unpickling it could run code",
            path,
        ) from None
    except MemoryError:
        raise
    except Exception as e:  # torch.load's reader raises whatever its zip, pickle or storage code meets
        raise FormatError(f"not a readable torch archive ({type(e).__name__}: {one_line(e, 200)})", path) from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]  # training checkpoints nest the weights one level down
    if not isinstance(obj, dict):
        raise FormatError(f"torch archive holds a {type(obj).__name__}, not a state dict", path)
    safety.check_count(len(obj), safety.MAX_TENSORS, "tensor", path)
    state = {}
    for k, v in obj.items():
        if isinstance(k, str) and isinstance(v, torch.Tensor):
            safety.check_shape(v.shape, path, k)
            state[k] = v
    return state


def _unpickler_reason(e: Exception) -> str:
    """What torch's weights-only unpickler refused (``GLOBAL builtins.exec ...``), without its advice
    to retry unsafely or its terminal escapes."""
    m = re.search(r"WeightsUnpickler error: ([^\n]*?)(?:\.\s+Please\b|\n|$)", str(e))
    return m.group(1) if m else one_line(e, 200)


def torch_dtype_name(t: torch.Tensor) -> str:
    """Storage type in the safetensors/GGUF vocabulary (F32, BF16, F16, ...)."""
    return _TORCH_DTYPES.get(t.dtype, str(t.dtype).removeprefix("torch.").upper())


_TORCH_DTYPES = {
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float64: "F64",
    torch.int8: "I8",
    torch.uint8: "U8",
}


def constant(t: torch.Tensor) -> Callable[[], torch.Tensor]:
    """A loader that returns ``t`` (tensors a torch archive already holds in memory)."""
    return lambda: t


def lazy(name: str, shape: tuple[int, ...], dtype: str, load: Callable[[], torch.Tensor], path: Path) -> LazyTensor:
    """A LazyTensor whose loader returns contiguous, finite float32 and reports failures as FormatError.

    NaN or infinite weights are refused here, at the one door every loader's tensors pass through:
    no trained model holds them (llama.cpp refuses such files too), and downstream they would turn
    every similarity into NaN (a meaningless verdict) or break the linear algebra.
    """

    def read() -> torch.Tensor:
        value = wrap_errors(path, f"tensor {name}", lambda: load().to(torch.float32).contiguous())
        # min and max propagate NaN and show infinities: 13x cheaper than isfinite().all() on 28M floats
        if value.numel() and not all(map(math.isfinite, map(float, torch.aminmax(value)))):
            bad = value.numel() - int(torch.isfinite(value).sum())
            raise FormatError(f"tensor {name!r} holds {bad} NaN or infinite values (of {value.numel()})", path)
        return value

    return LazyTensor(name, tuple(int(s) for s in shape), dtype, read)


# -- names and shapes --------------------------------------------------------------------------
def canonical_hf_name(name: str) -> str:
    """Map cheap llama-like name variants to canonical HF names (unknown names pass through)."""
    if name.startswith("model.language_model."):  # newer multimodal wrappers (Llava, Gemma 3, Mistral 3)
        name = "model." + name[len("model.language_model.") :]
    elif name.startswith("language_model."):  # older multimodal wrappers
        name = name[len("language_model.") :]
    if name.startswith(("layers.", "embed_tokens.", "norm.")):  # a bare LlamaModel without its LM head
        name = "model." + name
    return name


def layer_shapes(args: ModelArgs) -> dict[str, tuple[int, ...]]:
    """Per-layer suffix -> shape that ``args`` implies for a llama-like model."""
    d, f = args.dim, args.hidden_dim
    q, kv = args.n_heads * args.head_dim, args.n_kv_heads * args.head_dim
    shapes = {
        "input_layernorm.weight": (d,),
        "self_attn.q_proj.weight": (q, d),
        "self_attn.k_proj.weight": (kv, d),
        "self_attn.v_proj.weight": (kv, d),
        "self_attn.o_proj.weight": (d, q),
        "post_attention_layernorm.weight": (d,),
        "mlp.gate_proj.weight": (f, d),
        "mlp.up_proj.weight": (f, d),
        "mlp.down_proj.weight": (d, f),
    }
    if args.qkv_bias:
        shapes.update({"self_attn.q_proj.bias": (q,), "self_attn.k_proj.bias": (kv,), "self_attn.v_proj.bias": (kv,)})
    return shapes


def expected_shapes(args: ModelArgs) -> dict[str, tuple[int, ...]]:
    """Canonical name -> shape that ``args`` implies for a llama-like model."""
    shapes: dict[str, tuple[int, ...]] = {EMBED: (args.vocab_size, args.dim), FINAL_NORM: (args.dim,)}
    if not args.tie_embeddings:
        shapes[LM_HEAD] = (args.vocab_size, args.dim)
    per_layer = layer_shapes(args)
    for i in range(args.n_layers):
        shapes.update({layer_name(i, k): s for k, s in per_layer.items()})
    return shapes


def finalize_args(args: ModelArgs, tensors: dict[str, LazyTensor], path: Path) -> ModelArgs:
    """Make ``args`` agree with the tensors actually present, then check every shape.

    The head is tied exactly when the file has no ``lm_head``; the vocabulary is the embedding's row
    count. For runnable (llama-like) archs every expected tensor must exist with the implied shape, a
    declared vocabulary must be the embedding's, and no layer may lie beyond the declared depth, so a
    hostile config can neither make the engine index out of bounds nor have part of the weights ignored.
    """
    declared_vocab = args.vocab_size  # <= 0 when the file leaves it to the embedding (Meta's params.json: -1)
    fixes: dict[str, Any] = {"tie_embeddings": LM_HEAD not in tensors}
    if EMBED in tensors and len(tensors[EMBED].shape) == 2:
        fixes["vocab_size"] = tensors[EMBED].shape[0]
    for key in ("bos_token_id", "eos_token_id"):  # configs may hold anything here; only an id is one
        value = getattr(args, key)
        fixes[key] = value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
    args = dataclasses.replace(args, **fixes)
    if not args.runnable:
        return args
    _check_numbers(args, path)
    # checked before expected_shapes builds a table of n_layers entries (a config may claim 10^9)
    if not 0 < args.n_layers * len(layer_shapes(args)) <= len(tensors):
        raise FormatError(f"config claims {args.n_layers} layers, the file holds {len(tensors)} tensors", path)
    deepest = max((int(m[1]) for name in tensors if (m := _LAYER_INDEX.match(name))), default=-1)
    if deepest >= args.n_layers:  # transformers would drop them unread: the model run is not the model in the file
        raise FormatError(f"config claims {args.n_layers} layers, the file holds weights of layer {deepest}", path)
    if 0 < declared_vocab != args.vocab_size:  # transformers refuses such a file (size mismatch)
        raise FormatError(f"config declares vocab_size {declared_vocab}, the embedding has {args.vocab_size} rows",
                          path)
    empty = [f"{k} {v}" for k, v in (("dim", args.dim), ("hidden_dim", args.hidden_dim), ("head_dim", args.head_dim),
                                      ("vocab_size", args.vocab_size)) if v <= 0]  # fmt: skip
    if empty:  # zero-size weights: nothing to run or compare, and divisions by zero downstream
        raise FormatError(f"empty model: {', '.join(empty)}", path)
    if args.n_heads <= 0 or args.n_kv_heads <= 0 or args.n_heads % args.n_kv_heads or args.head_dim % 2:
        raise FormatError(
            f"inconsistent attention: {args.n_heads} heads, {args.n_kv_heads} KV heads, head_dim {args.head_dim}",
            path,
        )
    for name, shape in expected_shapes(args).items():
        if name not in tensors:
            raise FormatError(f"missing tensor {name}", path)
        if tensors[name].shape != shape:
            raise FormatError(
                f"tensor {name} has shape {list(tensors[name].shape)}, the config implies {list(shape)}", path
            )
    return args


def _check_numbers(args: ModelArgs, path: Path) -> None:
    """Refuse configuration numbers the forward pass cannot use (NaN theta, negative eps, a llama3
    rope scaling whose frequency band is empty): they would give NaN logits, not an error."""
    rs = args.rope_scaling
    # (name, value, lower bound, whether the bound itself is allowed)
    checks = [("rope_theta", args.rope_theta, 0.0, False), ("norm_eps", args.norm_eps, 0.0, True)]
    if rs is not None:
        checks += [("rope_scaling.factor", rs.factor, 0.0, False),
                   ("rope_scaling.low_freq_factor", rs.low_freq_factor, 0.0, False),
                   ("rope_scaling.high_freq_factor", rs.high_freq_factor, rs.low_freq_factor, False),
                   ("rope_scaling.original_max_position_embeddings", rs.original_max_position_embeddings, 0, False)]
    for name, value, low, inclusive in checks:
        ok = isinstance(value, (int, float)) and math.isfinite(value) and (value >= low if inclusive else value > low)
        if not ok:
            raise FormatError(f"invalid {name} {value!r}", path)


def dominant_dtype(tensors: dict[str, LazyTensor]) -> str | None:
    """The storage type holding most matrix parameters (``Q4_1``, ``BF16``...), or None."""
    totals: dict[str, int] = {}
    for t in tensors.values():
        if len(t.shape) >= 2:
            totals[t.dtype] = totals.get(t.dtype, 0) + t.numel
    return max(sorted(totals), key=lambda k: totals[k]) if totals else None


def source_files(paths: list[Path]) -> list[SourceFile]:
    """SourceFile records (hashes are computed lazily) in a stable order."""
    return [SourceFile(p, file_size(p)) for p in sorted(set(paths))]


# -- tokenizers ----------------------------------------------------------------------------------
def folder_tokenizer(folder: Path) -> Callable[[], Tokenizer | None]:
    """A lazy loader for the tokenizer of a model folder (``tokenizer.json`` or ``tokenizer.model``,
    with ``tokenizer_config.json``'s template and special tokens), or None when there is none."""

    def load() -> Tokenizer | None:
        if not any((folder / n).is_file() for n in ("tokenizer.json", "tokenizer.model")):
            return None
        return load_tokenizer(folder)

    return load


def wrap_errors(path: Path, what: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` (a loader, a tensor read: native code on hostile bytes); a parse failure or a native
    panic becomes a one-line FormatError."""
    with native(f"malformed {what}", path, catch=PARSE_ERRORS):
        return fn()
