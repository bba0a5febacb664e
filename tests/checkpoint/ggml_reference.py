"""llama.cpp's formulas for the ggml types ``gguf.quants`` cannot dequantize, transcribed element by
element (``ggml/src/ggml-quants.c``: ``dequantize_row_q8_K``, ``dequantize_row_q1_0``,
``quantize_row_q8_1_ref``; the integer and F64 types are C casts to float), and a writer that puts
chosen tensors of a checkpoint into a GGUF in those types.

Deliberately slow and literal: one Python scalar per element, fp16 decoded from its bits by hand,
integers rounded to float32 by hand (round half to even, once, as C's ``(float)`` cast), so the
vectorised :mod:`provenance.checkpoint.ggml_types` is checked against an independent derivation.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter

from provenance.checkpoint import Checkpoint
from tests.exporters import save_gguf

Q = GGMLQuantizationType
F32 = np.float32


def fp16(bits: int) -> np.float32:
    """GGML_FP16_TO_FP32: IEEE half from its 16 bits."""
    sign = -1.0 if bits & 0x8000 else 1.0
    exp, man = (bits >> 10) & 0x1F, bits & 0x3FF
    if exp == 0:
        return F32(sign * man * 2.0**-24)
    if exp == 31:
        return F32(sign * math.inf if man == 0 else math.nan)
    return F32(sign * (1 + man / 1024) * 2.0 ** (exp - 15))


def int_to_f32(n: int) -> np.float32:
    """C's ``(float)n``: round to nearest, ties to even, in a single rounding."""
    if abs(n) < 1 << 24:
        return F32(n)
    shift = abs(n).bit_length() - 24
    mant, rest = divmod(abs(n), 1 << shift)
    half = 1 << (shift - 1)
    if rest > half or (rest == half and mant & 1):
        mant += 1
    return F32(math.copysign(float(mant << shift), n))


def f64_to_f32(x: float) -> np.float32:
    """C's ``(float)x`` for a double (beyond float32's range: inf)."""
    try:
        return F32(struct.unpack("<f", struct.pack("<f", x))[0])
    except OverflowError:
        return F32(math.copysign(math.inf, x))


def dequantize_row(qtype: GGMLQuantizationType, row: bytes) -> list[np.float32]:
    """One row of ``qtype`` blocks as llama.cpp computes it."""
    out: list[np.float32] = []
    if qtype == Q.Q8_1:  # block_q8_1: ggml_half d, ggml_half s, int8_t qs[32]; value qs[j] * d
        for b in range(0, len(row), 36):
            d = fp16(int.from_bytes(row[b : b + 2], "little"))
            out += [F32(q) * d for q in struct.unpack("32b", row[b + 4 : b + 36])]
    elif qtype == Q.Q8_K:  # block_q8_K: float d, int8_t qs[256], int16_t bsums[16]; d * qs[j]
        for b in range(0, len(row), 292):
            d = F32(struct.unpack("<f", row[b : b + 4])[0])
            out += [d * F32(q) for q in struct.unpack("256b", row[b + 4 : b + 260])]
    elif qtype == Q.Q1_0:  # block_q1_0: ggml_half d, uint8_t qs[16]; bit j (LSB first) ? d : -d
        for b in range(0, len(row), 18):
            d = fp16(int.from_bytes(row[b : b + 2], "little"))
            qs = row[b + 2 : b + 18]
            out += [d if (qs[j // 8] >> (j % 8)) & 1 else -d for j in range(128)]
    elif qtype == Q.F64:
        out += [f64_to_f32(x) for x in struct.unpack(f"<{len(row) // 8}d", row)]
    else:
        code, size = {Q.I8: ("b", 1), Q.I16: ("h", 2), Q.I32: ("i", 4), Q.I64: ("q", 8)}[qtype]
        out += [int_to_f32(n) for n in struct.unpack(f"<{len(row) // size}{code}", row)]
    return out


def quantize_q8_1(x: np.ndarray) -> np.ndarray:
    """quantize_row_q8_1_ref: [rows, cols] float32 -> [rows, cols / 32 * 36] uint8 (ggml's block_q8_1)."""
    v = x.astype(F32).reshape(-1, 32)
    d = (np.abs(v).max(axis=1) / F32(127)).astype(F32)
    inv = np.divide(F32(1), d, out=np.zeros_like(d), where=d != 0).astype(F32)
    scaled = (v * inv[:, None]).astype(np.float64)  # exact: float32 products, widened
    q = (np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)).astype(np.int8)  # roundf: half away from zero
    s = (q.astype(np.int32).sum(axis=1).astype(F32) * d).astype(np.float16)  # GGML_FP32_TO_FP16(sum * d)
    blocks = np.concatenate([d.astype("<f2").view(np.uint8).reshape(-1, 2), s.astype("<f2").view(np.uint8).reshape(-1, 2),
                             q.view(np.uint8)], axis=1)
    return blocks.reshape(x.shape[0], -1)


def quantize_q8_1_gguf_py(x: np.ndarray) -> np.ndarray:
    """The 40-byte block the ``gguf`` package's size table implies (float d, float s, 32 quants):
    what a writer trusting that table produces, and llama.cpp's reader does not."""
    v = x.astype(F32).reshape(-1, 32)
    d = (np.abs(v).max(axis=1) / F32(127)).astype(F32)
    q = np.round(v / np.where(d > 0, d, 1)[:, None]).astype(np.int8)
    s = (q.astype(np.int32).sum(axis=1) * d).astype(F32)
    blocks = np.concatenate([d.astype("<f4").view(np.uint8).reshape(-1, 4), s.astype("<f4").view(np.uint8).reshape(-1, 4),
                             q.view(np.uint8)], axis=1)
    return blocks.reshape(x.shape[0], -1)


def save_gguf_with(ckpt: Checkpoint, path: Path, raw: Mapping[str, tuple[GGMLQuantizationType, np.ndarray]]) -> Path:
    """``ckpt`` as an F32 GGUF (llama.cpp layout), then tensors named in ``raw`` (GGUF names) replaced
    by the given bytes in the given type. uint8 bytes take the ``gguf`` package's block size, any
    other dtype keeps the tensor's own shape (so ggml's sizes can be written)."""
    src = save_gguf(ckpt, path.with_suffix(".f32.gguf"), "F32")
    reader = GGUFReader(src)
    writer = GGUFWriter(str(path), str(reader.fields["general.architecture"].contents()))
    for key, f in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        sub = f.types[-1] if f.types[0] == GGUFValueType.ARRAY else None
        writer.add_key_value(key, f.contents(), f.types[0], sub)
    for t in reader.tensors:
        data = np.array(t.data)
        if t.name in raw:
            qtype, blocks = raw[t.name]
            writer.add_tensor(t.name, blocks, raw_shape=None if blocks.dtype == np.uint8 else data.shape, raw_dtype=qtype)
        else:
            writer.add_tensor(t.name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    src.unlink()
    return path
