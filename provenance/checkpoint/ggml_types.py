"""ggml tensor types that the ``gguf`` package cannot dequantize, read by llama.cpp's own formulas.

``gguf.quants`` (0.19) raises NotImplementedError for Q8_1, Q8_K, Q1_0, the integer types I8..I64
and F64. A file that stores one tensor in such a type must not escape the weight comparison (issue
#13: one Q8_1 tensor turned "derived" into "independent"), so each is dequantized here with the
formula of llama.cpp's ``ggml-quants.c`` (``dequantize_row_*``; ``tests/checkpoint/ggml_reference.py``
checks every one bit for bit against a scalar transcription of it):

======= ========================================== ===============================================
type    block (bytes)                              value
======= ========================================== ===============================================
Q8_1    fp16 d, fp16 s, 32 x int8 q (36)           q * d  (s = d * sum(q), checked, see below)
Q8_K    f32 d, 256 x int8 q, 16 x int16 sums (292) d * q
Q1_0    fp16 d, 128 sign bits, LSB first (18)      d if the bit is set, else -d
I8..I64 one little-endian integer                  the integer, rounded to float32
F64     one little-endian double                   rounded to float32
======= ========================================== ===============================================

Q8_1's size is ggml's (``sizeof(block_q8_1)`` = 36), not the ``gguf`` package's 40 (a leftover of
the old float32 ``d``/``s`` block). llama.cpp has no dequantization for Q8_1 (it is the operand type
of its dot products), so a Q8_1 block is only defined by ``quantize_row_q8_1_ref``: ``s`` must be
``d * sum(q)`` within fp16 rounding. Blocks that break this (a 40-byte block read as 36, or bytes
laid out by any other convention) are refused by name instead of read as noise.

Types ggml removed from GGUF files (the ARM repackings Q4_0_4_4 ... IQ4_NL_8_8) are named in the
refusal so the user knows to requantize.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType

Q = GGMLQuantizationType

#: (elements, bytes) per block where ggml's C structs differ from the ``gguf`` package's table.
_GGML_SIZES = {Q.Q8_1: (32, 36)}

#: ggml type ids that llama.cpp no longer reads from GGUF files (ggml.h keeps them as comments).
REMOVED = {4: "Q4_2", 5: "Q4_3", 31: "Q4_0_4_4", 32: "Q4_0_4_8", 33: "Q4_0_8_8",
           36: "IQ4_NL_4_4", 37: "IQ4_NL_4_8", 38: "IQ4_NL_8_8"}


class BlockError(ValueError):
    """Bytes that are not valid blocks of their declared type."""


def block_layout(qtype: GGMLQuantizationType) -> tuple[int, int]:
    """(elements, bytes) of one ``qtype`` block as ggml lays it out in a GGUF file."""
    return _GGML_SIZES.get(qtype) or GGML_QUANT_SIZES[qtype]


def unknown_type(raw: int) -> str:
    """How to name a ggml type id that no table here knows."""
    if raw in REMOVED:
        return f"ggml type {raw} ({REMOVED[raw]}, removed from GGUF by llama.cpp: requantize the file)"
    return f"unknown ggml type {raw}"


def _half(b: np.ndarray) -> np.ndarray:
    """[n, 2] bytes -> [n, 1] float32 (IEEE half, exact, as GGML_FP16_TO_FP32; NaNs stay NaN)."""
    with np.errstate(invalid="ignore"):
        return np.ascontiguousarray(b).view("<f2").astype(np.float32)


def _q8_1(b: np.ndarray) -> np.ndarray:
    d, s = _half(b[:, 0:2]), _half(b[:, 2:4])
    q = b[:, 4:].view(np.int8)
    _check_q8_1_sums(d[:, 0], s[:, 0], q.astype(np.int64).sum(axis=1))
    return q.astype(np.float32) * d


def _check_q8_1_sums(d: np.ndarray, s: np.ndarray, total: np.ndarray) -> None:
    """``s == fp16(d32 * sum(q))`` of quantize_row_q8_1_ref, where d32 is d before its rounding to fp16.

    The two fp16 roundings (of d and of s) move s from ``d16 * sum(q)`` by at most 2^-10 of it, plus
    half an fp16 subnormal step (2^-25) for each, scaled by ``|sum|`` for d: the slack is 2^-9
    relative plus ``(|sum| + 1) * 2^-24``. An s past fp16's range is inf of the same sign."""
    with np.errstate(invalid="ignore", over="ignore"):
        want = d.astype(np.float64) * total
        slack = np.abs(want) * 2.0**-9 + (np.abs(total) + 1) * 2.0**-24
        ok = np.abs(s - want) <= slack
        ok |= np.isinf(s) & (np.sign(s) == np.sign(want)) & (np.abs(want) >= 65504 * (1 - 2.0**-9))
    if not ok.all():
        i = int(np.argmin(ok))
        raise BlockError(f"Q8_1 block {i} is not ggml's (d {d[i]:g}, s {s[i]:g}, sum of quants {int(total[i])}: "
                         "s must be d * sum)")


def _q8_k(b: np.ndarray) -> np.ndarray:
    d = np.ascontiguousarray(b[:, 0:4]).view("<f4")
    return d * b[:, 4:260].view(np.int8).astype(np.float32)


def _q1_0(b: np.ndarray) -> np.ndarray:
    d = _half(b[:, 0:2])
    bits = np.unpackbits(b[:, 2:18], axis=1, bitorder="little").astype(bool)
    return np.where(bits, d, -d)


def _scalar(dtype: str) -> Callable[[np.ndarray], np.ndarray]:
    def convert(b: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # a double beyond float32's range becomes inf, as C's (float) cast
            return np.ascontiguousarray(b).view(dtype).astype(np.float32)

    return convert


_DEQUANTIZE: dict[GGMLQuantizationType, Callable[[np.ndarray], np.ndarray]] = {
    Q.Q8_1: _q8_1, Q.Q8_K: _q8_k, Q.Q1_0: _q1_0,
    Q.I8: _scalar("<i1"), Q.I16: _scalar("<i2"), Q.I32: _scalar("<i4"), Q.I64: _scalar("<i8"),
    Q.F64: _scalar("<f8"),
}

#: The types this module dequantizes (everything else goes to ``gguf.quants``).
TYPES = frozenset(_DEQUANTIZE)


def dequantize(rows: np.ndarray, qtype: GGMLQuantizationType) -> np.ndarray:
    """Float32 values of ``rows`` (uint8, [..., bytes per row]) stored as ``qtype`` (one of ``TYPES``).

    Raises BlockError for bytes that are not valid ``qtype`` blocks, KeyError for other types."""
    convert = _DEQUANTIZE[qtype]
    block, size = block_layout(qtype)
    if rows.shape[-1] % size:
        raise BlockError(f"a row of {rows.shape[-1]} bytes is not whole {qtype.name} blocks of {size}")
    out = convert(rows.reshape(-1, size))
    return out.reshape(*rows.shape[:-1], rows.shape[-1] // size * block)
