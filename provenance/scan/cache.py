"""The scan's result cache: audits keyed by content, appended as whole lines, safe to kill at any time.

Folder layout (``--cache-dir``, default ``$PROVENANCE_CACHE/scan`` or ``~/.cache/provenance/scan``)::

    results.jsonl                       one JSON object per finished model, appended and flushed
    fingerprints/<key>.fingerprint.safetensors   the model's weight fingerprint (for relations)

**Key.** The sha256 of a JSON document holding the sha256 of each of the model's files (folder
models by their names inside the folder; a file model's own file by its role, so a copy under
another name has the same key: it costs a hash, not an audit; its row is the first copy's with the
paths made its own, so a finding that quotes the model's *file name* (PROV-LIC-006, only for
undeclared names) quotes the first copy's), the tool version, the canary set
(version and content hash), the registry's content (every reference fingerprint's sha256 and the
shipped release data) and the options that change a result (``--no-behaviour``). Change any of them
and the model is audited again.

**Durability.** Each result is one line, written with one ``write`` under an exclusive ``flock``
and flushed to disk (``fsync``) before the scan counts it as done. A scan killed mid-line (SIGKILL,
power loss) leaves a torn last line: readers ignore it, and the next writer cuts it off before
appending. A line is the whole result or nothing.

**Errors.** A model whose files are malformed or hostile (a :class:`~provenance.errors.ProvenanceError`)
gives the same error for the same bytes, so the error is cached like a result. A failure that is not
the input's fault (a worker killed, a bug) is reported but not cached, so the next scan retries it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from provenance import __version__
from provenance.evidence.behaviour.canaries import CANARY_SETS, CANARY_VERSION
from provenance.fingerprint.format import SUFFIX
from provenance.fingerprint.registry import Entry

RESULTS = "results.jsonl"
KEY_VERSION = 1  # bump when the key's recipe or a cached row's shape changes
_CHUNK = 1 << 22


def default_dir() -> Path:
    """``$PROVENANCE_CACHE/scan``, else ``~/.cache/provenance/scan``."""
    root = os.environ.get("PROVENANCE_CACHE") or Path.home() / ".cache" / "provenance"
    return Path(root) / "scan"


def sha256_file(path: Path) -> str:
    """The file's sha256, read in 4 MiB chunks (bounded memory)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def environment_version(entries: Iterable[Entry], knowledge: Path | None, behaviour: bool) -> dict[str, Any]:
    """Everything besides the model's files that decides its result (the key's second half)."""
    return {
        "key_version": KEY_VERSION,
        "tool": __version__,
        "canaries": {"version": CANARY_VERSION, "sha256": CANARY_SETS[CANARY_VERSION]},
        "registry": [[e.name, sha256_file(e.path)] for e in entries],
        "knowledge": sha256_file(knowledge) if knowledge is not None else None,
        "behaviour": behaviour,
    }


def model_key(files: list[tuple[str, str]], environment: dict[str, Any]) -> str:
    """The cache key of a model: ``files`` are ``(role or name, sha256)`` pairs."""
    doc = {"files": sorted(files), "environment": environment}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class ResultCache:
    """The cache folder: :meth:`load` what earlier scans finished, :meth:`append` what this one does."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.results = self.folder / RESULTS
        self.fingerprints = self.folder / "fingerprints"

    def fingerprint_path(self, key: str) -> Path:
        """Where the fingerprint of the model with ``key`` is kept."""
        return self.fingerprints / f"{key}{SUFFIX}"

    def load(self) -> dict[str, dict[str, Any]]:
        """Cached rows by key (a later line for the same key wins; torn or foreign lines are skipped)."""
        out: dict[str, dict[str, Any]] = {}
        if not self.results.is_file():
            return out
        with open(self.results, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break  # torn by a kill mid-write: redone
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict) and isinstance(row.get("key"), str):
                    out[row["key"]] = row
        return out

    def append(self, row: dict[str, Any]) -> None:
        """Append ``row`` (it has a ``key``) as one line, durable before this returns."""
        self.fingerprints.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(row, ensure_ascii=True, allow_nan=False, separators=(",", ":")) + "\n").encode()
        fd = os.open(self.results, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # another scan sharing the cache appends between our lines, not inside them
            _cut_torn_tail(fd)
            while line:
                line = line[os.write(fd, line):]
            os.fsync(fd)
        finally:
            os.close(fd)  # also releases the lock


def _cut_torn_tail(fd: int) -> None:
    """Truncate a last line that has no newline (a writer was killed mid-line)."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return
    pos = size
    while pos > 0:
        start = max(0, pos - _CHUNK)
        block = os.pread(fd, pos - start, start)
        nl = block.rfind(b"\n")
        if nl >= 0:
            os.ftruncate(fd, start + nl + 1)
            return
        pos = start
    os.ftruncate(fd, 0)
