"""Karpathy's llama2.c checkpoints: the legacy ``.bin`` and the versioned ``ak42`` exports.

* legacy: 7 int32 ``dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len`` (a negative
  vocab_size means an unshared classifier), then float32 weights in run.c's order, then the RoPE
  tables (``seq_len * head_dim/2`` cos and sin), then the classifier if unshared;
* version 1: 256-byte header (magic ``ak42``, version, the 7 ints, shared flag), float32 weights with
  the norms first;
* version 2: same header plus the int32 group size; norms in float32, every matrix Q8_0-quantized
  (int8 values, then one float32 scale per group).

llama2.c trains with Meta's interleaved rotary, so ``wq``/``wk`` are converted to rotate-half.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

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
    finalize_args,
    lazy,
    source_files,
)
from provenance.checkpoint.metadata import declare_folder
from provenance.checkpoint.rotary import interleaved_to_half
from provenance.errors import FormatError
from provenance.fileio import file_size
from provenance.modelargs import DEFAULT_ROPE_THETA, ModelArgs
from provenance.tokenizer.rebuilt import load_llama2c_tokenizer
from provenance.tokenizer.vocab import Tokenizer

MAGIC = 0x616B3432  # "ak42" as a little-endian uint32
HEADER_V = 256  # bytes of the versioned header
LEGACY_HEADER = struct.Struct("<7i")
MAX_DIM = 1 << 20  # no plausible llama2.c model has a dimension beyond a million
MAX_LAYERS = 1024  # nor more layers than this (bounds the layout built while sniffing)

# Per-layer matrices in file order: (llama2.c name, canonical suffix).
MATRICES = (
    ("wq", "self_attn.q_proj.weight"),
    ("wk", "self_attn.k_proj.weight"),
    ("wv", "self_attn.v_proj.weight"),
    ("wo", "self_attn.o_proj.weight"),
    ("w1", "mlp.gate_proj.weight"),
    ("w2", "mlp.down_proj.weight"),
    ("w3", "mlp.up_proj.weight"),
)


@dataclass(frozen=True)
class Header:
    """What a llama2.c header declares."""

    version: int  # 0 = legacy
    dim: int
    hidden_dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    seq_len: int
    shared: bool
    group_size: int = 0

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads


def read_header(data: bytes) -> Header | None:
    """Parse the first 256 bytes; None when they do not describe a plausible llama2.c model."""
    if len(data) < LEGACY_HEADER.size:
        return None
    magic, version = struct.unpack_from("<Ii", data, 0)
    if magic == MAGIC:
        if len(data) < 41 or version not in (1, 2):
            return None
        dims = struct.unpack_from("<7i", data, 8)
        shared = data[36] != 0
        group = struct.unpack_from("<i", data, 37)[0] if version == 2 else 0
        h = Header(version, dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], dims[6], shared=shared,
                   group_size=group)
    else:
        dim, hidden, layers, heads, kv, vocab, seq = LEGACY_HEADER.unpack_from(data, 0)
        h = Header(0, dim, hidden, layers, heads, kv, abs(vocab), seq, shared=vocab > 0)
    ok = (
        all(
            0 < x <= MAX_DIM
            for x in (h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.vocab_size, h.seq_len)
        )
        and h.n_layers <= MAX_LAYERS
        and h.dim % h.n_heads == 0
        and h.head_dim % 2 == 0
        and h.n_heads % h.n_kv_heads == 0
        and (h.version != 2 or 0 < h.group_size <= h.dim)
    )
    return h if ok else None


def file_layout(h: Header) -> tuple[list[tuple[str, tuple[int, ...], bool]], int]:
    """Tensors in file order as ``(canonical name, shape, quantized)`` and the bytes of skipped tables."""
    d, f, kv = h.dim, h.hidden_dim, h.n_kv_heads * h.head_dim
    shapes = {"wq": (d, d), "wk": (kv, d), "wv": (kv, d), "wo": (d, d), "w1": (f, d), "w2": (d, f), "w3": (f, d)}
    L = range(h.n_layers)
    att_norms = [(layer_name(i, "input_layernorm.weight"), (d,)) for i in L]
    ffn_norms = [(layer_name(i, "post_attention_layernorm.weight"), (d,)) for i in L]
    mats = [(layer_name(i, suffix), shapes[key]) for key, suffix in MATRICES for i in L]
    embed, head = (EMBED, (h.vocab_size, d)), [] if h.shared else [(LM_HEAD, (h.vocab_size, d))]
    if h.version == 0:
        # run.c order: embeddings, attention norms, wq..wo, ffn norms, w1, w2, w3, final norm, rope tables, classifier
        per = {key: [(layer_name(i, suffix), shapes[key]) for i in L] for key, suffix in MATRICES}
        order = [embed, *att_norms, *per["wq"], *per["wk"], *per["wv"], *per["wo"], *ffn_norms,
                 *per["w1"], *per["w2"], *per["w3"], (FINAL_NORM, (d,))]  # fmt: skip
        return [(n, s, False) for n, s in order + head], h.seq_len * h.head_dim * 4  # cos + sin, float32
    floats = [(n, s, False) for n, s in (*att_norms, *ffn_norms, (FINAL_NORM, (d,)))]
    rest = [embed, *mats, *head]
    return floats + [(n, s, h.version == 2) for n, s in rest], 0


def _nbytes(shape: tuple[int, ...], group: int) -> int:
    """Bytes of one tensor: float32, or int8 values plus one float32 scale per group."""
    n = math.prod(shape)
    return n + n // group * 4 if group else 4 * n


def _loader(
    mm: np.memmap, offset: int, shape: tuple[int, ...], group: int, heads: int | None
) -> Callable[[], torch.Tensor]:
    def load() -> torch.Tensor:
        n = math.prod(shape)
        if group:
            q = mm[offset : offset + n].view(np.int8).astype(np.float32)
            scales = mm[offset + n : offset + n + n // group * 4].view(np.float32)
            w = torch.from_numpy((q.reshape(-1, group) * scales[:, None]).reshape(shape))
        else:
            w = torch.from_numpy(mm[offset : offset + 4 * n].view(np.float32).reshape(shape).copy())
        return interleaved_to_half(w, heads) if heads else w

    return load


def sizes(h: Header) -> tuple[int, ...]:
    """File sizes a header allows (a legacy file with a shared classifier may omit the rope tables)."""
    layout, tables = file_layout(h)
    need = (HEADER_V if h.version else LEGACY_HEADER.size) + tables
    need += sum(_nbytes(s, h.group_size if q else 0) for _, s, q in layout)
    return (need, need - tables) if h.version == 0 and h.shared else (need,)


def sniff(head: bytes, size: int) -> bool:
    """Whether a file starting with ``head`` is llama2.c: the magic, or a legacy header whose shapes
    predict the file size exactly (7 random int32 practically never do)."""
    if head[:4] == struct.pack("<I", MAGIC):
        return True
    h = read_header(head)
    return h is not None and h.version == 0 and size in sizes(h)


def load_llama2c(path: str | Path) -> Checkpoint:
    """Open a llama2.c ``.bin`` (legacy, v1 fp32 or v2 Q8_0)."""
    path = Path(path)
    size = file_size(path)
    with open(path, "rb") as f:
        h = read_header(f.read(HEADER_V))
    if h is None:
        raise FormatError("not a plausible llama2.c header", path)
    layout, tables = file_layout(h)
    if h.version == 2 and any(math.prod(s) % h.group_size for _, s, q in layout if q):
        raise FormatError(f"group size {h.group_size} does not divide every quantized tensor", path)
    if size not in sizes(h):
        raise FormatError(f"file is {size} bytes, the header implies {sizes(h)[0]}", path)
    offset = HEADER_V if h.version else LEGACY_HEADER.size
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    heads = {"self_attn.q_proj.weight": h.n_heads, "self_attn.k_proj.weight": h.n_kv_heads}
    tensors: dict[str, LazyTensor] = {}
    for name, shape, quantized in layout:
        if name == LM_HEAD and h.version == 0:
            offset += tables  # the classifier of a legacy file follows the rope tables
        suffix = name.split(".", 3)[-1]
        group = h.group_size if quantized else 0
        tensors[name] = lazy(
            name, shape, "Q8_0" if quantized else "F32", _loader(mm, offset, shape, group, heads.get(suffix)), path
        )
        offset += _nbytes(shape, group)
    args = ModelArgs(
        arch="llama",
        dim=h.dim,
        n_layers=h.n_layers,
        n_heads=h.n_heads,
        n_kv_heads=h.n_kv_heads,
        vocab_size=h.vocab_size,
        hidden_dim=h.hidden_dim,
        head_dim=h.head_dim,
        norm_eps=1e-5,  # llama2.c's model.py and run.c both use 1e-5
        rope_theta=DEFAULT_ROPE_THETA,
        max_seq_len=h.seq_len,
        bos_token_id=1,  # llama2.c's tokenizers follow Llama 2: <s> = 1, </s> = 2
        eos_token_id=2,
    )
    args = finalize_args(args, tensors, path)
    meta = DeclaredMetadata(source_fields={"llama2c.version": h.version})
    declare_folder(meta, path.parent)
    return Checkpoint(
        path,
        "llama2c",
        args,
        tensors,
        metadata=meta,
        files=source_files([path]),
        tokenizer_loader=_tokenizer_loader(path, h.vocab_size),
        quantization="Q8_0" if h.version == 2 else "F32",
        header_loader=lambda: dict(vars(h)),
    )


def _tokenizer_loader(path: Path, vocab_size: int) -> Callable[[], Tokenizer | None]:
    """llama2.c's ``tokenizer.bin`` (or ``tok{vocab}.bin``) beside the model, through provenance.tokenizer."""

    def load() -> Tokenizer | None:
        for name in ("tokenizer.bin", f"tok{vocab_size}.bin"):
            if (path.parent / name).is_file():
                return load_llama2c_tokenizer(path.parent / name, vocab_size)
        return None

    return load
