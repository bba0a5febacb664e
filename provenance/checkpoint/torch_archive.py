"""What a torch ``.bin``/``.pth`` archive claims, checked against the file before torch reads it.

``torch.load`` trusts two kinds of size: a zip member's (it inflates ``data.pkl`` whole, so a 3 MB zip
can ask for 3 GiB) and a storage record's element count (the legacy format allocates every storage
at its claimed size before reading a byte of it: 2^36 floats ask for 256 GiB). So before
``torch.load(weights_only=True)`` runs, :func:`check_torch_archive`

* reads the zip's central directory and refuses compressed members (torch writes its archives
  uncompressed; a compressed member is the only way to make torch inflate more than the file holds),
  members that reach past the end of the file, and a ``data.pkl`` over :data:`MAX_PICKLE_BYTES`;
* walks the pickle's opcodes without executing any (``pickletools.genops`` and a stack of
  placeholders: no object is built, no global resolved) to collect every storage record, and refuses
  a record whose bytes (element count times element size) exceed what backs it: its zip member, or,
  in the legacy format, the file's bytes after the pickles.
"""

from __future__ import annotations

import io
import pickletools
import zipfile
from pathlib import Path
from typing import Any

import torch.storage

from provenance.checkpoint import safety
from provenance.errors import FormatError, one_line
from provenance.fileio import file_size

# A state dict's pickle takes ~120 bytes per tensor (names, shapes, strides, storage records): 4 MiB
# holds ~35,000 tensors, far more than any real .bin shard (a 7B model: 291). Cost at the cap
# (benchmarks/bounds.py, worst case: 1-byte opcodes): the walk plus torch's own unpickler take
# 5.5 CPU s and 75 MB (18x the pickle).
MAX_PICKLE_BYTES = 4 << 20
# torch's legacy format: magic number, protocol, system info, the state dict, the storage keys.
_LEGACY_PICKLES = 5
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_MARK = object()
_ANY = object()  # a value the walk does not track (dicts, tensors, reduced objects)


def check_torch_archive(path: Path) -> None:
    """Refuse a torch archive whose member sizes or storage claims exceed the file (see the module)."""
    size = file_size(path)
    with open(path, "rb") as f:
        zipped = f.read(4) == b"PK\x03\x04"
    if zipped:
        _check_zip(path, size)
    else:
        with open(path, "rb") as f:
            _check_legacy(path, f.read(MAX_PICKLE_BYTES + 1), size)


def _check_zip(path: Path, size: int) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
            safety.check_count(len(members), safety.MAX_TENSORS + 16, "zip member", path)
            for m in members:
                if m.compress_type != zipfile.ZIP_STORED:
                    raise FormatError(f"zip member {m.filename!r} is compressed; torch writes archives uncompressed",
                                      path)  # fmt: skip
                if m.header_offset + m.file_size > size:
                    raise FormatError(f"zip member {m.filename!r} claims {m.file_size} bytes past the file's end", path)
            pickles = [m for m in members if m.filename.endswith("/data.pkl") and m.filename.count("/") == 1]
            if len(pickles) != 1:
                raise FormatError(f"torch archive has {len(pickles)} data.pkl members, not 1", path)
            pkl = pickles[0]
            if pkl.file_size > MAX_PICKLE_BYTES:
                raise FormatError(f"data.pkl is {pkl.file_size} bytes, over the {MAX_PICKLE_BYTES}-byte limit", path)
            records, _ = _storage_records(io.BytesIO(zf.read(pkl)), 1, path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as e:
        raise FormatError(f"not a readable torch archive ({type(e).__name__}: {one_line(e)})", path) from None
    prefix = pkl.filename.removesuffix("data.pkl")
    sizes = {m.filename: m.file_size for m in members}
    for key, claim in records.items():
        held = sizes.get(f"{prefix}data/{key}")
        if held is None:
            raise FormatError(f"storage {key!r} has no data member", path)
        if claim > held:
            raise FormatError(f"storage {key!r} claims {claim} bytes, its member holds {held}", path)


def _check_legacy(path: Path, head: bytes, size: int) -> None:
    f = io.BytesIO(head)
    try:
        records, pickles = _storage_records(f, _LEGACY_PICKLES, path)
    except (ValueError, EOFError) as e:  # genops: an unknown opcode, truncated data
        raise FormatError(f"not a readable torch archive (corrupt pickle: {one_line(e)})", path) from None
    if pickles < _LEGACY_PICKLES:
        return  # a bare pickle, not torch's legacy format: torch.load refuses it without allocating
    # each storage follows the pickles as an 8-byte element count and its bytes
    claimed = sum(records.values()) + 8 * len(records)
    if claimed > size - f.tell():
        raise FormatError(f"storages claim {claimed} bytes, the file holds {size - f.tell()} after its pickles", path)


def _storage_records(f: io.BytesIO, max_pickles: int, path: Path) -> tuple[dict[str, int], int]:
    """Storage key -> claimed bytes, from the persistent ids of up to ``max_pickles`` consecutive
    pickles (the legacy format stops after the first unless it is torch's magic number); and the
    number of pickles walked."""
    records: dict[str, int] = {}
    count = 0
    while count < max_pickles and f.tell() < len(f.getbuffer()):
        first = _walk(f, records, path)
        count += 1
        if count == 1 and first != _LEGACY_MAGIC:
            break
        if f.tell() > MAX_PICKLE_BYTES:
            raise FormatError(f"the pickles run past {MAX_PICKLE_BYTES} bytes", path)
    return records, count


def _walk(f: io.BytesIO, records: dict[str, int], path: Path) -> Any:
    """Walk one pickle's opcodes with a stack of constants and placeholders; record each storage
    record (``BINPERSID`` of a tuple). Returns the pickle's value where it is a constant (the legacy
    magic number), else a placeholder."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    for op, raw_arg, _ in pickletools.genops(f):
        arg: Any = raw_arg  # typed by the opcode: an int for PUT/GET, "module name" for GLOBAL
        name = op.name
        special = _SPECIAL.get(name)
        if special is None:  # most opcodes: only their stack effect matters
            uses_mark, pops, pushes = _EFFECTS[name]
            if uses_mark:
                _pop_mark(stack, path)
            if pops:
                if len(stack) < pops or _MARK in stack[-pops:]:
                    raise FormatError("corrupt pickle (stack underflow)", path)
                del stack[-pops:]
            stack.extend(_PLACEHOLDERS[pushes])
        elif special == "constant":
            stack.append(arg)
        elif special == "mark":
            stack.append(_MARK)
        elif special == "put":
            if stack and stack[-1] is not _ANY:  # opaque values need no memo entry
                memo[len(memo) if name == "MEMOIZE" else arg] = stack[-1]
        elif special == "get":
            stack.append(memo.get(arg, _ANY))
        elif special == "global":
            stack.append(tuple(arg.split(" ", 1)))
        elif special == "stack_global":
            qual, module = _pop(stack, path), _pop(stack, path)
            stack.append((module, qual) if isinstance(module, str) and isinstance(qual, str) else _ANY)
        elif special == "tuple":
            n = _TUPLE_SIZES.get(name)
            items = _pop_mark(stack, path) if n is None else [_pop(stack, path) for _ in range(n)][::-1]
            stack.append(("tuple", *items))
        elif special == "persid":
            _record(_pop(stack, path), records, path)
            stack.append(_ANY)
        else:  # STOP
            return _pop(stack, path)
    raise FormatError("corrupt pickle (no STOP)", path)


_TUPLE_SIZES = {"EMPTY_TUPLE": 0, "TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}
_SPECIAL = {
    "MARK": "mark", "PUT": "put", "BINPUT": "put", "LONG_BINPUT": "put", "MEMOIZE": "put",
    "GET": "get", "BINGET": "get", "LONG_BINGET": "get", "GLOBAL": "global", "STACK_GLOBAL": "stack_global",
    "TUPLE": "tuple", **dict.fromkeys(_TUPLE_SIZES, "tuple"), "BINPERSID": "persid", "STOP": "stop",
}  # fmt: skip
_EFFECTS: dict[str, tuple[bool, int, int]] = {}
for _op in pickletools.opcodes:
    _mark = pickletools.markobject in _op.stack_before
    _pops = _op.stack_before.index(pickletools.markobject) if _mark else len(_op.stack_before)
    _EFFECTS[_op.name] = (_mark, _pops, len(_op.stack_after))
    if _op.name not in _SPECIAL and _op.arg is not None and not _op.stack_before and len(_op.stack_after) == 1:
        _SPECIAL[_op.name] = "constant"  # ints, strings, bytes, floats
_PLACEHOLDERS = [[_ANY] * n for n in range(4)]


def _pop(stack: list[Any], path: Path) -> Any:
    if not stack or stack[-1] is _MARK:
        raise FormatError("corrupt pickle (stack underflow)", path)
    return stack.pop()


def _pop_mark(stack: list[Any], path: Path) -> list[Any]:
    items = []
    while stack and stack[-1] is not _MARK:
        items.append(stack.pop())
    if not stack:
        raise FormatError("corrupt pickle (no mark)", path)
    stack.pop()
    return items[::-1]


def _record(pid: Any, records: dict[str, int], path: Path) -> None:
    """``("tuple", "storage", (module, StorageType), key, location, numel[, view])`` -> claimed bytes."""
    if not (isinstance(pid, tuple) and len(pid) >= 6 and pid[:2] == ("tuple", "storage")):
        raise FormatError("a persistent id is not a storage record", path)
    kind, key, numel = pid[2], pid[3], pid[5]
    if not (isinstance(kind, tuple) and len(kind) == 2 and kind[0] in ("torch", "torch.storage")):
        raise FormatError(f"storage record of unknown type {str(kind)[:60]}", path)
    if not isinstance(key, str) or type(numel) is not int or numel < 0:
        raise FormatError("malformed storage record", path)
    itemsize = _itemsize(kind[1], path)
    records[key] = max(records.get(key, 0), numel * itemsize)


def _itemsize(storage_type: Any, path: Path) -> int:
    if storage_type == "UntypedStorage":
        return 1  # its element count is in bytes (dtypes without a legacy storage class: float8, uint16)
    try:
        return torch.storage._get_dtype_from_pickle_storage_type(storage_type).itemsize
    except (KeyError, TypeError, AttributeError):
        raise FormatError(f"unknown storage type {str(storage_type)[:60]!r}", path) from None
