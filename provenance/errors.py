"""Errors that reach the user as one line and exit code 2."""

from __future__ import annotations

from pathlib import Path


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
