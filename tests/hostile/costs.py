"""Builders of cost bombs: small files that claim, or make a reader do, far more than their size.

Shared by tests/hostile/test_costs.py, the fuzz targets and benchmarks/bounds.py.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch


def deflate_bomb(total: int, block: int = 64 << 20) -> bytes:
    """A raw deflate stream that inflates to ``total`` zero bytes (``total`` a multiple of ``block``):
    one fully flushed block of zeros repeated (each restarts the history), then an empty final block."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = c.compress(bytes(block)) + c.flush(zlib.Z_FULL_FLUSH)
    return piece * (total // block) + b"\x03\x00"


def write_zip(path: Path, members: list[tuple[str, bytes, int, int]]) -> Path:
    """A zip of ``(name, data, method, uncompressed size)`` members written by hand, so a member may be
    pre-compressed and claim any size (a compressed member's CRC is zero: it is refused unread)."""
    out, central = bytearray(), bytearray()
    for name, data, method, size in members:
        raw = name.encode()
        offset = len(out)
        crc = zlib.crc32(data) if method == zipfile.ZIP_STORED else 0
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data), size, len(raw), 0) + raw
        out += data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, len(data), size,
                               len(raw), 0, 0, 0, 0, 0, offset) + raw  # fmt: skip
    out += central + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central),
                                 len(out), 0)  # fmt: skip
    path.write_bytes(bytes(out))
    return path


def torch_zip_bomb(path: Path, inflated: int = 3 << 30) -> Path:
    """A ~3 MB torch archive whose ``data.pkl`` inflates to ``inflated`` bytes."""
    bomb = deflate_bomb(inflated)
    return write_zip(path, [("archive/data.pkl", bomb, zipfile.ZIP_DEFLATED, inflated),
                            ("archive/version", b"3\n", zipfile.ZIP_STORED, 2)])  # fmt: skip


def torch_claim(path: Path, numel: int, zipped: bool) -> Path:
    """A real torch archive of one float tensor whose storage record claims ``numel`` elements."""
    marker = 70001  # a numel no other integer of the pickle has, encoded as BININT
    torch.save({"w": torch.zeros(marker)}, path, _use_new_zipfile_serialization=zipped)
    old = b"J" + struct.pack("<i", marker)
    new = b"\x8a" + bytes([(numel.bit_length() + 8) // 8]) + numel.to_bytes((numel.bit_length() + 8) // 8, "little")
    if not zipped:  # the storage record comes before the shape in the pickle: rewrite the first
        raw = path.read_bytes()
        path.write_bytes(raw.replace(old, new, 1))
        return path
    with zipfile.ZipFile(path) as zf:
        members = [(i.filename, zf.read(i)) for i in zf.infolist()]
    return write_zip(path, [(n, d.replace(old, new, 1) if n.endswith("data.pkl") else d, zipfile.ZIP_STORED,
                             len(d.replace(old, new, 1)) if n.endswith("data.pkl") else len(d))
                            for n, d in members])  # fmt: skip


def _gstr(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("<Q", len(raw)) + raw


def gguf_control_tokens(path: Path, n: int) -> Path:
    """A GGUF (llama architecture, no tensors) whose gpt2 vocabulary of ``n`` tokens is 256 byte
    tokens and ``n - 256`` control tokens (2^21 in all: ~50 MB, within the per-file array limits)."""
    from provenance.tokenizer.vocab import BYTE_CHARS

    prefix = struct.pack("<Q", 12)  # every control token is 12 bytes: "<|c0000042|>"
    controls = b"".join([b"%s<|c%07d|>" % (prefix, i) for i in range(n - 256)])
    types = np.array([1] * 256 + [3] * (n - 256), dtype="<i4").tobytes()
    kv = [
        _gstr("general.architecture") + struct.pack("<I", 8) + _gstr("llama"),
        _gstr("tokenizer.ggml.model") + struct.pack("<I", 8) + _gstr("gpt2"),
        _gstr("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, n) + b"".join(map(_gstr, BYTE_CHARS)) + controls,
        _gstr("tokenizer.ggml.token_type") + struct.pack("<IIQ", 9, 5, n) + types,
        _gstr("tokenizer.ggml.merges") + struct.pack("<IIQ", 9, 8, 0),
    ]
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(kv)) + b"".join(kv) + b"\0" * 32)
    return path

