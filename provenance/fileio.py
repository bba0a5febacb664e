"""Bounded, read-only file access and the reproducible clock, shared by every reader and writer.

Audited files are hostile: a "small" JSON file may be a FIFO that never ends or a 50 GB blob. Every
small file is read here, refused by size before a byte is read, and never opened for writing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from provenance.errors import FormatError, one_line


def file_size(path: Path) -> int:
    """Size of ``path`` in bytes, or FormatError when it is not a readable regular file."""
    try:
        if not path.is_file():  # a FIFO or device would block or never end
            raise FormatError("not a regular file", path)
        return path.stat().st_size
    except OSError as e:
        raise FormatError(f"cannot read: {e.strerror or e}", path) from None


def read_bounded(path: Path, limit: int, what: str) -> bytes:
    """The whole of a small file, refusing files over ``limit`` bytes before reading them."""
    size = file_size(path)
    if size > limit:
        raise FormatError(f"{what} is {size} bytes, over the {limit}-byte limit", path)
    try:
        with open(path, "rb") as f:  # read-only: audited files are never opened for writing
            return f.read(limit + 1)[:limit]
    except OSError as e:
        raise FormatError(f"cannot read: {e.strerror or e}", path) from None


def read_json_object(path: Path, limit: int, what: str = "JSON file") -> dict[str, Any]:
    """A small JSON object file (config.json, params.json, index, adapter or tokenizer config)."""
    if not path.exists():
        raise FormatError(f"missing {path.name}", path)
    raw = read_bounded(path, limit, what)
    try:
        value = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError, JSONDecodeError, an int over 4300 digits
        raise FormatError(f"{what} is not valid JSON ({one_line(e, 200)})", path) from None
    if not isinstance(value, dict):
        raise FormatError(f"{what} is not a JSON object", path)
    return value


def source_date() -> dt.datetime | None:
    """The time ``SOURCE_DATE_EPOCH`` names (reproducible builds), or None when it is unset.

    A malformed value is an error everywhere, never silently ignored: output that claims to be
    reproducible must not quietly depend on the clock."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return None
    try:
        return dt.datetime.fromtimestamp(int(epoch.strip()), dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise FormatError(f"SOURCE_DATE_EPOCH={epoch[:40]!r} is not a Unix time") from None


def iso_time(when: dt.datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``."""
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
