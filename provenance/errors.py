"""Errors that reach the user as one line and exit code 2, and the one way to make that line."""

from __future__ import annotations

import re
from pathlib import Path

#: C0/C1 control characters and Unicode bidi overrides/isolates: a hostile file or tensor name's
#: ANSI escapes or reordering marks must never reach a terminal or a report raw.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


class ProvenanceError(Exception):
    """A problem with the user's input (file, option, registry) rather than a bug.

    The CLI prints ``str(error)`` on one line and exits 2. ``path`` names the file at fault.
    """

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message)


class FormatError(ProvenanceError):
    """A file is malformed, truncated, hostile or of an unknown format."""


class UnsupportedError(ProvenanceError):
    """The input is valid but asks for something we do not do (e.g. the forward pass of gemma3)."""


def one_line(message: object, limit: int = 500) -> str:
    """``message`` (an exception or text) as one line for an error: whitespace runs become one
    space and control characters are written escaped (``\\x1b``), so it still names the file but
    cannot drive the terminal; library messages may quote file content, hence the ``limit``."""
    flat = " ".join(str(message).split())
    return CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), flat)[:limit]


def without_path(e: ProvenanceError) -> str:
    """An error's message without the path prefix (for results that must not depend on where files are)."""
    text = str(e)
    return text.removeprefix(f"{e.path}: ") if e.path else text
