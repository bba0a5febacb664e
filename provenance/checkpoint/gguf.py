"""GGUF files (llama.cpp): a bounded header parser of our own, tensors dequantized by ``gguf.quants``.

We parse the header ourselves rather than with ``gguf.GGUFReader``: the reader trusts array lengths
(an array claiming 2^60 elements makes it loop for ever) and builds numpy views per token, taking
~6 s for a 150k-token vocabulary where this walk takes ~0.2 s. Tensor data stays in a read-only
memory map; each tensor is dequantized on demand with ``gguf.quants`` (F32/F16/BF16, Q4_0..Q8_0,
K-quants, IQ-quants: whatever that package implements; Q8_1, Q8_K, Q1_0, I8..I64 and F64, which it
cannot, by :mod:`provenance.checkpoint.ggml_types`). GGUF shapes are in ggml ``ne`` order (fastest first),
the reverse of PyTorch's. llama-arch Q/K rows are un-permuted back to HF's rotate-half layout.
"""

from __future__ import annotations

import math
import mmap
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gguf import GGMLQuantizationType
from gguf.quants import dequantize

from provenance.checkpoint import ggml_types, safety
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
    lazy,
    source_files,
)
from provenance.checkpoint.metadata import declare_folder
from provenance.checkpoint.rotary import (
    GGUF_PERMUTED_ARCHS,
    interleaved_to_half,
    llama3_scaling_from_factors,
)
from provenance.errors import FormatError, UnsupportedError
from provenance.fileio import file_size
from provenance.modelargs import (
    DEFAULT_ROPE_THETA,
    RUNNABLE_ARCHS,
    ModelArgs,
    RopeScaling,
)
from provenance.tokenizer.rebuilt import from_gguf_metadata

GGUF_MAGIC = b"GGUF"
GGML_MAX_DIMS = 4
MAX_KEY_BYTES = 65_535
DEFAULT_ALIGNMENT = 32
ROPE_FREQS = "rope_freqs.weight"  # llama.cpp's Llama 3.1 frequency divisors

# GGUF tensor name -> canonical name (outside layers / per layer ``blk.N.``).
GLOBAL_NAMES = {"token_embd.weight": EMBED, "output_norm.weight": FINAL_NORM, "output.weight": LM_HEAD}
LAYER_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
}
CANONICAL_TO_GGUF = {v: k for k, v in GLOBAL_NAMES.items()}
CANONICAL_LAYER_TO_GGUF = {v: k for k, v in LAYER_NAMES.items()}

# Fixed-size GGUF value types: type id -> (struct code, size).
_SCALARS = {0: ("B", 1), 1: ("b", 1), 2: ("H", 2), 3: ("h", 2), 4: ("I", 4), 5: ("i", 4), 6: ("f", 4),
            7: ("?", 1), 10: ("Q", 8), 11: ("q", 8), 12: ("d", 8)}  # fmt: skip
_STRING, _ARRAY = 8, 9
_HF_REPO = re.compile(r"huggingface\.co/([\w.-]+/[\w.-]+)")


def canonical_gguf_name(name: str, arch: str) -> str:
    """Canonical name of GGUF tensor ``name``; unmapped names (and norms of non-llama archs) stay raw.

    Norms keep their raw names outside llama-like archs because their meaning differs there
    (gemma's ``ffn_norm`` is a pre-FFN norm stored as ``1 + w``), so equal names would mislead.
    """
    if name in GLOBAL_NAMES:
        target = GLOBAL_NAMES[name]
    else:
        m = re.fullmatch(r"blk\.(\d+)\.(.+)", name)
        if not m or m.group(2) not in LAYER_NAMES:
            return name
        target = layer_name(int(m.group(1)), LAYER_NAMES[m.group(2)])
    if arch not in RUNNABLE_ARCHS and "norm" in target:
        return name
    return target


def gguf_name(canonical: str) -> str:
    """The GGUF name llama.cpp uses for a canonical tensor (used by the exporter)."""
    if canonical in CANONICAL_TO_GGUF:
        return CANONICAL_TO_GGUF[canonical]
    m = re.fullmatch(r"model\.layers\.(\d+)\.(.+)", canonical)
    if not m or m.group(2) not in CANONICAL_LAYER_TO_GGUF:
        raise KeyError(canonical)
    return f"blk.{m.group(1)}.{CANONICAL_LAYER_TO_GGUF[m.group(2)]}"


# -- bounded parsing --------------------------------------------------------------------------
@dataclass(frozen=True)
class GGUFTensor:
    """One tensor-table entry: ``dims`` in ggml ``ne`` order, ``start`` an absolute file offset."""

    name: str
    dims: tuple[int, ...]
    qtype: GGMLQuantizationType
    start: int
    n_bytes: int

    @property
    def shape(self) -> tuple[int, ...]:
        """PyTorch order (slowest dimension first)."""
        return tuple(reversed(self.dims))


_U64 = struct.Struct("<Q")


class _Cursor:
    """Bounds-checked little-endian reads over a read-only mmap; never trusts a length or count."""

    def __init__(self, buf: mmap.mmap, path: Path) -> None:
        self.buf, self.path, self.pos = buf, path, 0
        self.elements = 0  # array elements decoded so far (each becomes a Python object)

    def take(self, n: int) -> int:
        if n < 0 or self.pos + n > len(self.buf):
            raise FormatError(f"truncated GGUF header (needs {n} bytes at offset {self.pos})", self.path)
        start = self.pos
        self.pos += n
        return start

    def unpack(self, code: str) -> Any:
        return struct.unpack_from("<" + code, self.buf, self.take(struct.calcsize(code)))[0]

    def string(self, limit: int = safety.MAX_GGUF_STRING) -> str:
        n = self.unpack("Q")
        if n > limit:
            raise FormatError(f"GGUF string of {n} bytes at offset {self.pos}", self.path)
        start = self.take(n)
        return self.buf[start : start + n].decode("utf-8", errors="replace")

    def strings(self, count: int) -> list[str]:
        """``count`` strings in one tight loop: vocabularies hold 10^5-10^6 of them, and the generic
        path spent ~4 µs on each (2^21 took 9 s; this loop ~4x less, benchmarks/bounds.py)."""
        buf, pos, end, out = self.buf, self.pos, len(self.buf), []
        for _ in range(count):
            if pos + 8 > end:
                raise FormatError(f"truncated GGUF header (needs 8 bytes at offset {pos})", self.path)
            (n,) = _U64.unpack_from(buf, pos)
            pos += 8
            if n > safety.MAX_GGUF_STRING:
                raise FormatError(f"GGUF string of {n} bytes at offset {pos}", self.path)
            if pos + n > end:
                raise FormatError(f"truncated GGUF header (needs {n} bytes at offset {pos})", self.path)
            out.append(buf[pos : pos + n].decode("utf-8", errors="replace"))
            pos += n
        self.pos = pos
        return out

    def value(self, vtype: int, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            code, _ = _SCALARS[vtype]
            return self.unpack(code)
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY and depth < 2:
            itype, count = self.unpack("I"), self.unpack("Q")
            # every element takes at least one byte (strings: 8), so the count is bounded by the file
            least = _SCALARS[itype][1] if itype in _SCALARS else 8
            if count * least > len(self.buf) - self.pos:
                raise FormatError(f"GGUF array of {count} elements overruns the file", self.path)
            self.elements += count
            if count > safety.MAX_GGUF_ARRAY or self.elements > safety.MAX_GGUF_ELEMENTS:
                raise FormatError(f"GGUF array of {count} elements is over the limit", self.path)
            if itype in _SCALARS:
                dtype = np.dtype("<" + _SCALARS[itype][0])
                return np.frombuffer(self.buf, dtype, count, self.take(count * least)).tolist()
            if itype == _STRING:
                return self.strings(count)
            return [self.value(itype, depth + 1) for _ in range(count)]
        raise FormatError(f"unknown GGUF value type {vtype}", self.path)


def read_header(path: Path) -> tuple[dict[str, Any], list[GGUFTensor]]:
    """All key/values (plain Python values) and the tensor table, every size and range checked."""
    size = file_size(path)
    if size < 24:
        raise FormatError("truncated: too short for a GGUF header", path)
    with open(path, "rb") as f:
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    try:
        return _parse(_Cursor(buf, path), size)
    finally:
        buf.close()


def _parse(cur: _Cursor, size: int) -> tuple[dict[str, Any], list[GGUFTensor]]:
    path = cur.path
    if cur.buf[:4] != GGUF_MAGIC:
        raise FormatError("not a GGUF file (bad magic)", path)
    cur.take(4)
    version = cur.unpack("I")
    # a big-endian file's version reads byte-swapped (3 as 0x03000000); version 0 is just invalid
    if version not in (1, 2, 3) and int.from_bytes(version.to_bytes(4, "little"), "big") in (1, 2, 3):
        raise UnsupportedError("big-endian GGUF files are not supported", path)
    if version not in (2, 3):
        raise FormatError(f"unsupported GGUF version {version}", path)
    n_tensors, n_kv = cur.unpack("Q"), cur.unpack("Q")
    safety.check_count(n_tensors, safety.MAX_TENSORS, "GGUF tensor", path)
    safety.check_count(n_kv, safety.MAX_KV, "GGUF key/value", path)
    kv: dict[str, Any] = {}
    for _ in range(n_kv):
        key = cur.string(MAX_KEY_BYTES)
        if key in kv:
            raise FormatError(f"duplicate GGUF key {key!r}", path)
        kv[key] = cur.value(cur.unpack("I"))
    alignment = kv.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1):
        raise FormatError(f"invalid GGUF alignment {alignment!r}", path)
    table = []
    for _ in range(n_tensors):
        name = cur.string(MAX_KEY_BYTES)
        n_dims = cur.unpack("I")
        if not 1 <= n_dims <= GGML_MAX_DIMS:
            raise FormatError(f"tensor {name!r} has {n_dims} dimensions", path)
        dims = safety.check_shape([cur.unpack("Q") for _ in range(n_dims)], path, name)
        table.append((name, dims, cur.unpack("I"), cur.unpack("Q")))
    data_start = cur.pos + (-cur.pos) % alignment
    tensors, seen = [], set()
    for name, dims, raw_type, offset in table:
        try:
            qtype = GGMLQuantizationType(raw_type)
            block, type_size = ggml_types.block_layout(qtype)
        except (ValueError, KeyError):
            raise FormatError(f"tensor {name!r} has {ggml_types.unknown_type(raw_type)}", path) from None
        if dims[0] % block:
            raise FormatError(f"tensor {name!r}: row of {dims[0]} is not a multiple of {qtype.name} blocks", path)
        if name in seen:
            raise FormatError(f"duplicate tensor {name!r}", path)
        seen.add(name)
        tensors.append(GGUFTensor(name, dims, qtype, data_start + offset, math.prod(dims) // block * type_size))
    safety.check_ranges([(t.name, t.start, t.start + t.n_bytes) for t in tensors], size, path)
    return kv, tensors


# -- loading -----------------------------------------------------------------------------------
def _dequantize(data: np.memmap, t: GGUFTensor, path: Path) -> torch.Tensor:
    raw = data[t.start : t.start + t.n_bytes]
    block, type_size = ggml_types.block_layout(t.qtype)
    rows = raw.reshape(*t.shape[:-1], t.dims[0] // block * type_size)  # gguf.quants wants bytes per row
    try:
        arr = ggml_types.dequantize(rows, t.qtype) if t.qtype in ggml_types.TYPES else dequantize(rows, t.qtype)
    except NotImplementedError:
        raise UnsupportedError(f"tensor {t.name!r}: ggml type {t.qtype.name} cannot be dequantized", path) from None
    except ggml_types.BlockError as e:
        raise UnsupportedError(f"tensor {t.name!r} refused: {e}", path) from None
    if np.may_share_memory(arr, data):  # F32 comes back as a view of the read-only map
        arr = arr.copy()
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)).reshape(t.shape)


def _loader(data: np.memmap, t: GGUFTensor, heads: int | None, path: Path) -> Any:
    def load() -> torch.Tensor:
        w = _dequantize(data, t, path)
        if not heads:
            return w
        try:
            return interleaved_to_half(w, heads)
        except ValueError as e:  # only reachable for archs whose shapes finalize_args does not check
            raise FormatError(f"tensor {t.name!r}: {e}", path) from None

    return load


def _num(value: Any, kind: type, default: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return kind(float(f"{value:.7g}")) if kind is float else kind(value)  # f32 -> the decimal it encodes


def _rope_scaling(
    data: np.memmap, tensors: list[GGUFTensor], head_dim: int, theta: float, path: Path
) -> RopeScaling | None:
    """Llama 3.1-style scaling, recovered from the ``rope_freqs`` divisors llama.cpp stores."""
    t = next((t for t in tensors if t.name == ROPE_FREQS), None)
    if t is None or t.shape != (head_dim // 2,):
        return None
    return llama3_scaling_from_factors(_dequantize(data, t, path), head_dim, theta)


def gguf_args(data: np.memmap, tensors: list[GGUFTensor], kv: dict[str, Any], path: Path) -> ModelArgs:
    """ModelArgs from ``general.architecture`` and the ``{arch}.*`` keys."""
    arch = kv.get("general.architecture")
    if not isinstance(arch, str):
        raise FormatError("GGUF lacks general.architecture", path)

    def g(key: str, kind: type, default: Any) -> Any:
        return _num(kv.get(f"{arch}.{key}"), kind, default)

    dim = g("embedding_length", int, 0)
    n_heads = g("attention.head_count", int, 0)
    if arch in RUNNABLE_ARCHS and (dim <= 0 or n_heads <= 0):
        keys = f"{arch}.embedding_length or {arch}.attention.head_count"
        raise FormatError(f"GGUF lacks {keys!r}", path)
    tokens = kv.get("tokenizer.ggml.tokens")
    head_dim = g("attention.key_length", int, dim // n_heads if n_heads else 0)
    theta = g("rope.freq_base", float, DEFAULT_ROPE_THETA)
    return ModelArgs(
        arch=arch,
        dim=dim,
        n_layers=g("block_count", int, 0),
        n_heads=n_heads,
        n_kv_heads=g("attention.head_count_kv", int, n_heads),
        vocab_size=len(tokens) if isinstance(tokens, list) else g("vocab_size", int, 0),
        hidden_dim=g("feed_forward_length", int, 0),
        head_dim=head_dim,
        norm_eps=g("attention.layer_norm_rms_epsilon", float, 1e-5),
        rope_theta=theta,
        rope_scaling=_rope_scaling(data, tensors, head_dim, theta, path),
        qkv_bias=any(t.name == "blk.0.attn_q.bias" for t in tensors),
        max_seq_len=g("context_length", int, 2048),
        bos_token_id=_num(kv.get("tokenizer.ggml.bos_token_id"), int, None),
        eos_token_id=_num(kv.get("tokenizer.ggml.eos_token_id"), int, None),
    )


def gguf_metadata(kv: dict[str, Any], folder: Path) -> DeclaredMetadata:
    """Declared metadata from ``general.*`` (name, license, base models, author) and a model card."""
    general = {k: v for k, v in kv.items() if k.startswith("general.")}
    meta = DeclaredMetadata(source_fields={f"gguf.{k}": v for k, v in general.items()})
    text = {k: v for k, v in general.items() if isinstance(v, str)}
    meta.name = text.get("general.name")
    meta.license = text.get("general.license")
    meta.license_name = text.get("general.license.name")
    meta.author = text.get("general.author") or text.get("general.organization")
    count = _num(general.get("general.base_model.count"), int, 0)
    for i in range(min(count, 64)):
        url = text.get(f"general.base_model.{i}.repo_url", "")
        org, name = text.get(f"general.base_model.{i}.organization"), text.get(f"general.base_model.{i}.name")
        m = _HF_REPO.search(url)
        ref = m.group(1) if m else "/".join(x for x in (org, name) if x) or url
        if ref and ref not in meta.base_model:
            meta.base_model.append(ref)
    declare_folder(meta, folder)
    return meta


def load_gguf(path: str | Path) -> Checkpoint:
    """Open a GGUF file: canonical lazy tensors, ModelArgs, declared metadata, key/values, tokenizer."""
    path = Path(path)
    kv, table = read_header(path)
    if kv.get("general.type") == "adapter":
        raise UnsupportedError("GGUF LoRA adapters are not supported; open the PEFT adapter folder", path)
    data = np.memmap(path, dtype=np.uint8, mode="r")
    args = gguf_args(data, table, kv, path)
    permute = args.arch in GGUF_PERMUTED_ARCHS
    tensors: dict[str, LazyTensor] = {}
    for t in table:
        if t.name == ROPE_FREQS:  # configuration, already in args.rope_scaling
            continue
        name = canonical_gguf_name(t.name, args.arch)
        heads = None
        if permute and name.endswith(("q_proj.weight", "q_proj.bias")):
            heads = args.n_heads
        elif permute and name.endswith(("k_proj.weight", "k_proj.bias")):
            heads = args.n_kv_heads
        if name in tensors:
            raise FormatError(f"tensor {t.name!r} maps to {name}, which appears twice", path)
        tensors[name] = lazy(name, t.shape, t.qtype.name, _loader(data, t, heads, path), path)
    args = finalize_args(args, tensors, path)
    return Checkpoint(
        path,
        "gguf",
        args,
        tensors,
        metadata=gguf_metadata(kv, path.parent),
        files=source_files([path]),
        tokenizer_loader=lambda: from_gguf_metadata(kv, path),
        quantization=dominant_dtype(tensors),
        header_loader=lambda: kv,
    )
