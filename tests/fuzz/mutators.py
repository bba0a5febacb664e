"""Hypothesis-driven mutations of real files: bytes (bit flips, boundary integers written into the
fields a parser trusts, truncation, splices) and structure (JSON/YAML values replaced by hostile ones)."""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

# Integers that break parsers: zero, off-by-ones, sign and width boundaries, absurd sizes.
BOUNDARY_INTS = [0, 1, 2, 3, 4, 7, 8, 31, 32, 63, 64, 255, 256, 4095, 4096, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF,
                 0x80000000, 0xFFFFFFFF, 1 << 32, 1 << 40, 1 << 48, (1 << 62) + 1, (1 << 63) - 1, 1 << 63,
                 (1 << 64) - 1]  # fmt: skip
# A field: (offset, width in bytes) of an integer the parser reads.
Field = tuple[int, int]


def _write_int(raw: bytearray, offset: int, width: int, value: int) -> None:
    raw[offset : offset + width] = (value % (1 << (8 * width))).to_bytes(width, "little")


def mutate_bytes(data: st.DataObject, original: bytes, *, region: int | None = None,
                 fields: Sequence[Field] = (), max_ops: int = 4) -> bytes:
    """Apply 1..max_ops byte-level mutations; positions fall in ``[0, region)`` (default: everywhere).

    ``fields`` are integer fields (offset, width) the format's parser reads: they get boundary
    values more often than random bytes would give them.
    """
    raw = bytearray(original)
    limit = max(1, min(region or len(raw), len(raw)))
    ops = data.draw(st.lists(st.sampled_from(["flip", "byte", "int", "field", "truncate", "splice", "insert",
                                              "delete"]), min_size=1, max_size=max_ops), label="ops")
    for op in ops:
        n = len(raw)
        if n == 0:
            break
        pos = data.draw(st.integers(0, min(limit, n) - 1), label="pos")
        if op == "flip":
            raw[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "byte":
            raw[pos] = data.draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, ord("{"), ord('"'), ord("\n")]))
        elif op == "int" or (op == "field" and not fields):
            width = data.draw(st.sampled_from([1, 2, 4, 8]))
            _write_int(raw, pos, min(width, n - pos), data.draw(st.sampled_from(BOUNDARY_INTS)))
        elif op == "field":
            offset, width = data.draw(st.sampled_from(list(fields)), label="field")
            if offset + width <= n:
                value = data.draw(st.one_of(st.sampled_from(BOUNDARY_INTS), st.integers(0, (1 << (8 * width)) - 1)))
                _write_int(raw, offset, width, value)
        elif op == "truncate":
            del raw[pos:]
        elif op == "splice":  # copy a chunk from elsewhere over this position
            src = data.draw(st.integers(0, n - 1))
            length = data.draw(st.integers(1, 64))
            raw[pos : pos + length] = raw[src : src + length]
        elif op == "insert":
            raw[pos:pos] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            del raw[pos : pos + data.draw(st.integers(1, 16))]
    return bytes(raw)


# -- structured values --------------------------------------------------------------------------
HOSTILE_STRINGS = ["", " ", "../../../etc/passwd", "/etc/passwd", "..", "\x00", "a\x00b", "\u202e\x1b[31m",
                   "\ud800", "model.layers.0.self_attn.q_proj.weight", "llama", "gguf", "{{ 7*7 }}", "-1",
                   "\n---\n"]  # fmt: skip
HOSTILE_NUMBERS = [0, -1, 1, 2, 3, 7, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, 10**30, -(10**30), 10**400,
                   0.5, -0.0, 1e-300, 1e308, math.inf, -math.inf, math.nan, True, False]  # fmt: skip

json_scalars = st.one_of(
    st.none(), st.sampled_from(HOSTILE_NUMBERS), st.sampled_from(HOSTILE_STRINGS),
    st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=8,
)


def _paths(obj: Any, prefix: tuple = (), out: list | None = None, limit: int = 4000) -> list[tuple]:
    """Paths (tuples of keys/indices) to every node, breadth-limited to ``limit`` nodes."""
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    out.append(prefix)
    if isinstance(obj, dict):
        for k, v in list(obj.items())[:200]:
            _paths(v, (*prefix, k), out, limit)
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:50]):
            _paths(v, (*prefix, i), out, limit)
    return out


def _get(obj: Any, path: tuple) -> Any:
    for k in path:
        obj = obj[k]
    return obj


def mutate_tree(data: st.DataObject, tree: Any, max_ops: int = 3) -> Any:
    """Replace, delete, duplicate or retype 1..max_ops nodes of a JSON-like tree (a deep copy is mutated)."""
    tree = json.loads(json.dumps(tree))
    for _ in range(data.draw(st.integers(1, max_ops), label="tree ops")):
        paths = _paths(tree)
        path = data.draw(st.sampled_from(paths), label="path")
        op = data.draw(st.sampled_from(["replace", "replace", "delete", "wrap", "nest", "bigint", "empty", "grow"]))
        if not path:
            if op in ("replace", "wrap"):
                tree = data.draw(json_values) if op == "replace" else [tree]
            continue
        parent, key = _get(tree, path[:-1]), path[-1]
        if op == "replace":
            parent[key] = data.draw(json_values, label="value")
        elif op == "delete":
            del parent[key]
        elif op == "wrap":
            parent[key] = [parent[key]]
        elif op == "nest":  # deep nesting: recursion limits of every parser on the way
            depth = data.draw(st.sampled_from([50, 1000, 100000]))
            parent[key] = json.loads("[" * depth + "]" * depth) if depth < 100 else f"@@deep:{depth}@@"
        elif op == "bigint":  # more digits than Python converts by default (ValueError, not a JSON error)
            parent[key] = f"@@bigint:{data.draw(st.sampled_from([5000, 100000]))}@@"
        elif op == "empty":
            parent[key] = type(parent[key])() if isinstance(parent[key], (list, dict, str)) else None
        else:  # grow: repeat a list or a string (absurd sizes are the bound tests' job, tests/hostile)
            value = parent[key]
            if isinstance(value, (list, str)) and value:
                n = data.draw(st.sampled_from([2, 100, 5000]))
                parent[key] = value * min(n, max(1, 100_000 // len(value)))  # at most ~100k items or characters
    return tree


def dump_json(tree: Any) -> str:
    """JSON text of a mutated tree; ``"@@deep:n@@"`` becomes n nested arrays, ``"@@bigint:n@@"`` an n-digit int."""
    text = json.dumps(tree, ensure_ascii=False, allow_nan=True)
    expand = {"deep": lambda n: "[" * n + "]" * n, "bigint": lambda n: "7" * n}
    return re.sub(r'"@@(deep|bigint):(\d+)@@"', lambda m: expand[m.group(1)](int(m.group(2))), text)


def mutate_json_file(data: st.DataObject, path: Path) -> None:
    """Rewrite the JSON document at ``path`` mutated: structurally (most of the time) or byte by byte."""
    original = path.read_text()
    if data.draw(st.integers(0, 3), label="json mode"):
        path.write_bytes(dump_json(mutate_tree(data, json.loads(original))).encode("utf-8", "surrogatepass"))
    else:
        path.write_bytes(mutate_bytes(data, original.encode()))


def le_fields(offsets: Sequence[int], width: int) -> list[Field]:
    return [(o, width) for o in offsets]


def u64(raw: bytes, offset: int) -> int:
    return struct.unpack_from("<Q", raw, offset)[0]
