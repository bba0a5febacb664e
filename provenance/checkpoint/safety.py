"""Shared bounds and checks that every loader applies before trusting a file.

Audited files are hostile by default: a header may claim a terabyte, offsets may overlap or point past
the end, an index may name ``../../etc/passwd``. Each check here runs *before* anything is allocated
from the claimed sizes and turns every violation into a one-line :class:`FormatError` naming the file.

Each limit also bounds what a file *within* it can cost: the comment beside it gives the time and peak
memory, as a multiple of the input's size, measured at the cap with the costliest content the format
allows (``benchmarks/bounds.py``, 2-core machine). Limits kept elsewhere: ``MAX_PICKLE_BYTES``
(checkpoint/torch_archive.py), ``MAX_ADDED_TOKENS`` (tokenizer/rebuilt.py), the chat-template sandbox's
``CHAT_*`` caps (tokenizer/chat.py: a constant bound, whatever the template's size).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from provenance.errors import FormatError, one_line
from provenance.fileio import read_json_object

# A safetensors header lists names, dtypes, shapes and offsets: ~100 bytes per tensor. 100 MiB is the
# limit the safetensors library itself enforces and far above any real model (Llama 3.1 405B: ~2 MB).
MAX_HEADER_BYTES = 100 * 1024 * 1024
# Cost at the cap (benchmarks/bounds.py; 500,000 entries): 4.5 CPU s, 6x the header in peak memory (~600 MB).
# config.json, params.json, index files, adapter configs and model cards are kilobytes to a few MB.
MAX_JSON_BYTES = 32 * 1024 * 1024
# Cost at the cap, worst case (an empty object per 3 bytes): 1.1 CPU s, 26x the file in memory (~0.9 GB).
# The largest real checkpoints (MoE with unfused experts) carry tens of thousands of tensors.
MAX_TENSORS = 500_000
# GGUF key/value pairs: real files have ~20-60; tokenizer arrays count as one pair each.
MAX_KV = 65_536
# GGUF arrays: the largest real ones are vocabularies and merge lists (Gemma 3: 262,144 tokens);
# all arrays of one file together are bounded too, since each element becomes a Python object of
# ~30-60 bytes: 2^22 elements (5x Gemma 3's 786k tokens + scores + types) stay under ~250 MB, where
# 2^24 uint32 elements took 700 MB (measured: 4 arrays of 2^22 in a 64 MB header).
# Cost at the cap: 2^22 short strings (50 MB) 2.3 CPU s and 7x in memory (~350 MB); 2^22 one-byte
# numbers 0.05 s and 9x (numbers become Python ints).
MAX_GGUF_ARRAY = 1 << 22
MAX_GGUF_ELEMENTS = 1 << 22
# GGUF strings: chat templates are the longest real ones (tens of kilobytes).
MAX_GGUF_STRING = 16 * 1024 * 1024
# GGML tensors have at most 4 dimensions; safetensors/torch tensors of LLMs at most a few.
MAX_DIMS = 8
# No single tensor of a real LLM has more than 2^40 elements (a 1T-parameter model as one tensor).
MAX_ELEMENTS = 1 << 40
# Shards of one checkpoint (Llama 3.1 405B in bf16 ships as 191 safetensors files).
MAX_SHARDS = 10_000


def read_json(path: Path, what: str = "JSON file") -> dict[str, Any]:
    """A small JSON object file (config.json, params.json, index, adapter config)."""
    return read_json_object(path, MAX_JSON_BYTES, what)


def check_shape(shape: object, path: Path, name: str) -> tuple[int, ...]:
    """A shape of non-negative ints with few dimensions and a plausible element count."""
    try:
        dims: tuple[Any, ...] = tuple(shape)  # type: ignore[arg-type]  # whatever a hostile header holds: TypeError below
    except TypeError:
        raise FormatError(f"tensor {name!r} has a malformed shape", path) from None
    if len(dims) > MAX_DIMS or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims):
        raise FormatError(f"tensor {name!r} has an invalid shape {list(dims)[: MAX_DIMS + 1]}", path)
    if math.prod(dims) > MAX_ELEMENTS:
        raise FormatError(f"tensor {name!r} claims {math.prod(dims)} elements", path)
    return dims


def check_count(n: int, limit: int, what: str, path: Path) -> None:
    """Refuse an absurd count (tensors, keys, shards) before looping over it."""
    if n < 0 or n > limit:
        raise FormatError(f"{what} count {n} is outside 0..{limit}", path)


def check_ranges(ranges: Iterable[tuple[str, int, int]], data_size: int, path: Path) -> None:
    """Byte ranges ``(name, start, end)`` must lie inside ``[0, data_size]`` and not overlap."""
    prev_end, prev_name = 0, None
    for name, start, end in sorted(ranges, key=lambda r: (r[1], r[2])):
        if start < 0 or end < start or end > data_size:
            raise FormatError(f"tensor {name!r} spans bytes {start}..{end} outside the {data_size}-byte data", path)
        if start < prev_end:
            raise FormatError(f"tensors {prev_name!r} and {name!r} overlap", path)
        prev_end, prev_name = end, name


def resolve_inside(root: Path, relative: Any, path: Path) -> Path:
    """``root/relative`` as an existing file that stays inside ``root`` (index files name shards).

    Refuses absolute paths, ``..`` escapes and symlinks that loop or point out of the folder (except,
    in a Hugging Face hub cache snapshot, into the same repository's ``blobs`` folder).
    """
    if not isinstance(relative, str) or not relative or "\x00" in relative:
        raise FormatError(f"invalid file name {relative!r}", path)
    rel = Path(relative)
    if rel.is_absolute() or relative.startswith(("/", "\\")) or ".." in rel.parts:
        raise FormatError(f"file name {relative!r} escapes the model folder", path)
    try:
        base = root.resolve(strict=True)
        target = (root / rel).resolve(strict=True)
    except FileNotFoundError:
        raise FormatError(f"missing file {relative!r}", path) from None
    except (OSError, RuntimeError) as e:  # symlink loops raise RuntimeError on 3.11, OSError later
        raise FormatError(f"cannot resolve {relative!r} ({one_line(e, 200)})", path) from None
    # the Hugging Face hub cache keeps a snapshot's files as links into the repository's blobs folder
    blobs = base.parent.parent / "blobs" if base.parent.name == "snapshots" else None
    if not (target.is_relative_to(base) or (blobs is not None and target.parent == blobs)):
        raise FormatError(f"file name {relative!r} resolves outside the model folder", path)
    if not target.is_file():
        raise FormatError(f"{relative!r} is not a regular file", path)
    return root / rel
