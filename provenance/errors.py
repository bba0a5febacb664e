"""Errors that reach the user as one line and exit code 2, the one way to make that line, and the one
boundary around native code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: C0/C1 control characters and Unicode bidi overrides/isolates: a hostile file or tensor name's
#: ANSI escapes or reordering marks must never reach a terminal or a report raw.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

#: what a file name may hold that must not reach a report raw: every control character (newline and
#: tab included: a name is not text to wrap) and the bidi overrides
PATH_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def path_text(value: object, limit: int | None = None) -> str:
    """A file path on one line and exact: control characters written escaped (a newline in a file
    name shows as ``\\n``, an escape as ``\\x1b``), cut at ``limit``."""
    s = PATH_CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(value))
    return s if limit is None or len(s) <= limit else s[: limit - 1] + "…"


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


def is_native_panic(e: BaseException) -> bool:
    """Whether ``e`` is a Rust panic surfacing through pyo3 (tokenizers, safetensors, tiktoken).

    pyo3 raises it as ``pyo3_runtime.PanicException``, a direct BaseException subclass: every
    ``except Exception`` lets it through. Each extension module carries its own copy of the class,
    so it is recognised by module and name rather than imported.
    """
    cls = type(e)
    return cls.__name__ == "PanicException" and cls.__module__.startswith("pyo3_runtime")


# What a parser of hostile bytes may raise for malformed input (bugs such as NameError are not here).
PARSE_ERRORS: tuple[type[Exception], ...] = (KeyError, ValueError, TypeError, IndexError, ArithmeticError,
                                             AttributeError, RuntimeError, OSError)


@contextmanager
def native(what: str, path: str | Path | None = None,
           catch: tuple[type[Exception], ...] = (Exception,)) -> Iterator[None]:
    """The boundary around a call into native code (tokenizers, sentencepiece, tiktoken, safetensors,
    gguf, torch) that reads hostile data: any failure in ``catch``, and a Rust panic whatever ``catch``
    says, becomes one :class:`FormatError` line ``PATH: WHAT (Type: first line)``.

    Our own errors, MemoryError (reported by the CLI as such), KeyboardInterrupt, SystemExit and any
    other BaseException (a test harness's alarm) pass through unchanged.
    """
    try:
        yield
    except ProvenanceError:
        raise
    except BaseException as e:
        if isinstance(e, MemoryError) or not (isinstance(e, catch) or is_native_panic(e)):
            raise
        raise FormatError(f"{what} ({type(e).__name__}: {one_line(e, 200)})", path) from None


def without_path(e: ProvenanceError) -> str:
    """An error's message without the path prefix (for results that must not depend on where files are)."""
    text = str(e)
    return text.removeprefix(f"{e.path}: ") if e.path else text
