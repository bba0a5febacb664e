"""The registry of reference fingerprints: shipped ones first, then the user's.

* The **shipped** registry is the ``fingerprints/`` folder at the root of the source tree, found
  relative to this package (``<package>/../fingerprints``; an installed wheel carries it as
  ``provenance/data/fingerprints``, the second place looked). It holds fingerprints of public
  references whose licenses allow it (no weights: hashes, architecture, vocabulary, weight sketch,
  canary results), made by one command from the repository root::

      python fingerprints/rebuild.py        # SmolLM2-135M-Instruct, stories260K, Qwen2.5-Coder-0.5B, Gemma 3 270M

  (its ``SHIPPED`` table says what goes in and where each model comes from).
* The **user** registry is a folder named by ``--registry-dir`` (``registry_dir=`` here), else by
  the environment variable ``PROVENANCE_REGISTRY``, else ``$XDG_DATA_HOME/provenance/fingerprints``
  (``~/.local/share/provenance/fingerprints``). :func:`add` fingerprints a local model into it; that
  is how a user with a licensed copy of, say, Llama-2-7b-hf enables weight-level verdicts against it.

Names are unique across both: a user entry may not shadow a shipped one. Everything here is a pure
function of the folders' contents; the CLI in ``provenance.cli`` prints.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provenance.checkpoint import inputs_of, open_checkpoint
from provenance.domain import Progress
from provenance.errors import FormatError, ProvenanceError
from provenance.fileio import Inputs, check_output
from provenance.fingerprint.format import SUFFIX, Fingerprint, read_header

ENV = "PROVENANCE_REGISTRY"

@dataclass(frozen=True)
class Entry:
    """One registry entry, from its file's header only (cheap to list)."""

    name: str
    family: str | None
    license: str | None
    source: str | None
    path: Path
    origin: str  # "shipped" or "user"
    arch: str | None
    n_params: int | None
    vocab_size: int | None
    has_weights: bool
    has_behaviour: bool
    size: int  # bytes of the fingerprint file

    def to_dict(self) -> dict[str, Any]:
        d = dict(vars(self))
        d["path"] = str(self.path)
        return d


def shipped_dir() -> Path:
    """The shipped registry folder: ``fingerprints/`` of a source checkout (or editable install),
    else the copy a wheel carries in the package's data (see ``setup.py``)."""
    package = Path(__file__).resolve().parents[1]
    checkout = package.parent / "fingerprints"
    for candidate in (checkout, package / "data" / "fingerprints"):
        if candidate.is_dir():
            return candidate
    return checkout


def user_dir(registry_dir: str | Path | None = None) -> Path:
    """The user registry folder: the argument, else ``$PROVENANCE_REGISTRY``, else the XDG default."""
    if registry_dir:
        return Path(registry_dir).expanduser()
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "provenance" / "fingerprints"


def registry_inputs(registry_dir: str | Path | None = None) -> Inputs:
    """The registry folders, as inputs of a command that reads every reference (audit)."""
    return Inputs(folders=[shipped_dir(), user_dir(registry_dir)])


def slug(name: str) -> str:
    """File-name form of an entry name: lower case, ``[a-z0-9._-]`` only."""
    s = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-.")
    if not s:
        raise ProvenanceError(f"registry name {name!r} has no usable characters")
    return s


def _entry(path: Path, origin: str) -> Entry:
    doc = read_header(path)
    ident, arch, ckpt = doc.get("identity"), doc.get("arch") or {}, doc.get("checkpoint") or {}
    if not isinstance(ident, dict) or not isinstance(arch, dict) or not isinstance(ckpt, dict):
        raise FormatError("invalid fingerprint identity", path)

    def field(d: dict[str, Any], key: str, kind: type, required: bool = False) -> Any:
        v = d.get(key)
        if (v is None and required) or (v is not None and (not isinstance(v, kind) or isinstance(v, bool))):
            raise FormatError(f"fingerprint field {key!r} is missing or not a {kind.__name__}", path)
        return v

    return Entry(
        name=field(ident, "name", str, required=True),
        family=field(ident, "family", str),
        license=field(ident, "license", str),
        source=field(ident, "source", str),
        path=path,
        origin=origin,
        arch=field(arch, "arch", str),
        n_params=field(ckpt, "n_params", int),
        vocab_size=field(arch, "vocab_size", int),
        has_weights=doc.get("weights") is not None,
        has_behaviour=doc.get("behaviour") is not None,
        size=path.stat().st_size,
    )


def list_entries(registry_dir: str | Path | None = None) -> list[Entry]:
    """All entries, shipped first, each group sorted by name. A malformed file raises FormatError."""
    out: list[Entry] = []
    seen: dict[str, Path] = {}
    for origin, folder in (("shipped", shipped_dir()), ("user", user_dir(registry_dir))):
        if not folder.is_dir():
            continue
        entries = sorted((_entry(p, origin) for p in folder.glob(f"*{SUFFIX}")), key=lambda e: e.name.lower())
        for e in entries:
            if e.name.lower() in seen:
                raise FormatError(f"registry name {e.name!r} already used by {seen[e.name.lower()]}", e.path)
            seen[e.name.lower()] = e.path
            out.append(e)
    return out


def find(name: str, registry_dir: str | Path | None = None) -> Entry:
    """The entry called ``name`` (case-insensitive; the file slug works too)."""
    for e in list_entries(registry_dir):
        if name.lower() in (e.name.lower(), e.path.name[: -len(SUFFIX)]):
            return e
    raise ProvenanceError(f"no fingerprint named {name!r} in the registry (see 'provenance registry list')")


def load(name: str, registry_dir: str | Path | None = None) -> Fingerprint:
    """The fingerprint called ``name``."""
    return Fingerprint.load(find(name, registry_dir).path)


def load_references(registry_dir: str | Path | None = None,
                    progress: Progress | None = None) -> list[tuple[Entry, Fingerprint]]:
    """Every entry with its fingerprint, shipped first: what an audit compares against."""
    entries = list_entries(registry_dir)
    out = []
    for i, entry in enumerate(entries):
        if progress:
            progress(f"loading {entry.name}", i, len(entries))
        out.append((entry, Fingerprint.load(entry.path)))
    return out


def load_all(registry_dir: str | Path | None = None) -> list[Fingerprint]:
    """Every registered fingerprint, shipped first (the references an audit compares against)."""
    return [fp for _, fp in load_references(registry_dir)]


def add(
    model: str | Path,
    name: str,
    family: str | None = None,
    license: str | None = None,
    source: str | None = None,
    registry_dir: str | Path | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    device: str = "cpu",
    behaviour: bool = True,
) -> Entry:
    """Fingerprint the local model at ``model`` and store it in the user registry as ``name``.

    ``device`` is where the canary probes run (``cuda`` makes a 7B reference quick); ``behaviour=False``
    skips them (weight verdicts only against this reference)."""
    folder = user_dir(registry_dir)
    target = folder / f"{slug(name)}{SUFFIX}"
    for e in list_entries(registry_dir):
        same = e.name.lower() == name.lower() or e.path.name == target.name
        if same and (e.origin == "shipped" or not overwrite):
            where = "shipped with provenance" if e.origin == "shipped" else f"in {e.path}"
            raise ProvenanceError(f"a fingerprint named {e.name!r} is already {where}" +
                                  ("" if e.origin == "shipped" else "; pass overwrite to replace it"))
    with open_checkpoint(model) as ckpt:
        inputs = inputs_of(ckpt)
        check_output(target, inputs, make_parents=True)  # before the work: never into the model folder
        fp = Fingerprint.from_checkpoint(
            ckpt, name=name, family=family, license=license, source=source or str(model), progress=progress,
            device=device, behaviour=behaviour,
        )
    fp.save(target, inputs, make_parents=True)
    return _entry(target, "user")


def remove(name: str, registry_dir: str | Path | None = None) -> Path:
    """Delete the user entry ``name`` (shipped entries cannot be removed)."""
    e = find(name, registry_dir)
    if e.origin != "user":
        raise ProvenanceError(f"{e.name!r} is shipped with provenance and cannot be removed")
    e.path.unlink()
    return e.path
