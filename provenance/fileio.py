"""Bounded, read-only file access and the reproducible clock, shared by every reader and writer.

Audited files are hostile: a "small" JSON file may be a FIFO that never ends or a 50 GB blob. Every
small file is read here, refused by size before a byte is read, and never opened for writing.

Outputs: :func:`write_output` is the one writer of every ``-o`` file, and it can never touch what
the command reads. The output path is resolved (through symlinks, the folders above it included) and
compared with every file the command reads (shards, index, config, adapter, tokenizer, card and license
files, compare's both sides, registry fingerprints, the tool's own data) by resolved path and by inode;
it is refused when it names one of them, lies inside a model folder, or is not a regular file. The
same check runs before any work (:func:`check_output`: a refusal costs nothing, and a missing or
read-only folder is found at once) and again at write time. The bytes go to a temporary file created
exclusively (``mkstemp``: ``O_CREAT | O_EXCL | O_NOFOLLOW``, a random name) in the target folder, then
renamed over the target: a link planted at any predictable name is never followed, and an interrupted
write never leaves a partial file under the final name.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from provenance.errors import FormatError, ProvenanceError, one_line, path_text


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


# -- the one writer ----------------------------------------------------------------------------
#: the package itself: canaries, release facts and license texts are read from here by every command
PACKAGE = Path(__file__).resolve().parent


class OutputError(ProvenanceError):
    """An output path that would overwrite an input, or that cannot be written."""


@dataclass
class Inputs:
    """What a command reads: files; folders whose whole content is input (a model folder); and names
    read beside a lone model file, existing or not (``(folder, pattern)``: a card, a license), since
    writing one would change what the next run reads."""

    files: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    names: list[tuple[Path, re.Pattern[str]]] = field(default_factory=list)

    def __add__(self, other: Inputs) -> Inputs:
        return Inputs(self.files + other.files, self.folders + other.folders, self.names + other.names)


def _real(path: Path) -> Path:
    """``path`` with every symlink resolved (``os.path.realpath``; a dangling link resolves to its target)."""
    return Path(os.path.realpath(path))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # hard links and bind mounts: same inode under another name
    except OSError:
        return False


def _existing_ancestor(path: Path) -> Path:
    for parent in path.parents:
        if parent.exists():
            return parent
    return Path(path.anchor or ".")


def check_output(path: str | Path, inputs: Inputs | None = None, *, make_parents: bool = False) -> Path:
    """The path ``path`` will be written at (its folder resolved), or OutputError (exit 2) saying why not.

    Refused: a path that is, resolves to, or is the same file as any of ``inputs.files``; a path (or
    a link's target) inside any of ``inputs.folders`` or the tool's package, or named like a file read
    beside a lone model (``inputs.names``); an existing entry that is neither a regular file nor a
    link (a folder, a device, a FIFO); a folder that does not exist (unless ``make_parents``) or that
    this process cannot write to. A link at the output that passes is replaced, never written through:
    the writer changes one directory entry, the output's, and nothing a link points at.
    """
    raw = Path(path)
    shown = path_text(path)  # a name with a newline still gives one line
    if not str(path) or raw.name in ("", ".", ".."):
        raise OutputError("output must name a file", shown)
    target = _real(raw.absolute().parent) / raw.name  # the entry replaced
    ends = {target, _real(raw.absolute())}  # and where a link there points
    inputs = inputs or Inputs()
    for f in inputs.files:
        if any(end == _real(f.absolute()) or _same_file(end, f) for end in ends):
            where = "" if str(f) == str(path) else f" (it is {path_text(f)})"
            raise OutputError(f"refused: the output would overwrite a file this command reads{where}", shown)
    for folder in [*inputs.folders, PACKAGE]:
        if any(_inside(end, _real(folder.absolute())) for end in ends):
            raise OutputError(f"refused: the output lies inside {path_text(folder)}, which this command reads",
                              shown)
    for folder, pattern in inputs.names:
        if any(end.parent == _real(folder.absolute()) and pattern.fullmatch(end.name) for end in ends):
            raise OutputError(f"refused: {path_text(raw.name)} beside the model is a file this command reads",
                              shown)
    try:
        mode: int | None = os.lstat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as e:
        raise OutputError(f"cannot write: {e.strerror or e}", shown) from None
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise OutputError("refused: the output exists and is not a regular file", shown)
    parent = target.parent
    if not parent.is_dir():
        if not make_parents or parent.exists():
            raise OutputError(f"cannot write: folder {path_text(parent)} does not exist", shown)
        parent = _existing_ancestor(parent)
        if not parent.is_dir():
            raise OutputError(f"cannot write: {path_text(parent)} is not a folder", shown)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write: folder {path_text(parent)} is not writable", shown)
    return target


@contextmanager
def output_stream(path: str | Path, inputs: Inputs | None = None, *, make_parents: bool = False) -> Iterator[IO[bytes]]:
    """A binary file to write ``path`` through, after :func:`check_output`: a temporary file created
    exclusively beside the target, renamed over it when the block ends without an error (a link at the
    target is replaced, not followed); removed, leaving the target untouched, when the block fails."""
    target = check_output(path, inputs, make_parents=make_parents)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name[:100]}.", suffix=".partial")
    except OSError as e:
        raise OutputError(f"cannot write: {e.strerror or e}", path_text(path)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())  # mkstemp makes 0600; reports are as shareable as `>`
            yield f
        os.replace(tmp, target)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise OutputError(f"cannot write: {e.strerror or e}", path_text(path)) from None
        raise


def write_output(path: str | Path, data: bytes | str, inputs: Inputs | None = None, *,
                 make_parents: bool = False) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` through :func:`output_stream`; returns the path written."""
    with output_stream(path, inputs, make_parents=make_parents) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return check_output(path, inputs)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

