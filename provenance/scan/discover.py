"""Which models live under a folder: the discovery rules of ``provenance scan``.

Every root is walked in sorted order; what is found is decided by
:func:`provenance.checkpoint.detect_format`, the same content-based detection ``audit`` uses, never by
a rule of our own:

* a **folder model** is a folder that ``detect_format`` calls a Hugging Face folder (``config.json``
  and weights, sharded or not: ``*.safetensors``, ``model.safetensors.index.json``,
  ``pytorch_model*.bin``), a Meta folder (``params.json`` + ``consolidated.NN.pth``) or a PEFT adapter
  (``adapter_config.json``). A folder with weights but no ``config.json`` is a model too: its audit
  fails and it becomes an error row, rather than vanishing from the scan. A ``config.json`` without
  any weights beside it (a tokenizer or training folder) is not a model;
* a **file model** is every ``*.gguf`` file (a malformed one becomes an error row) and every
  ``*.bin`` file that ``detect_format`` recognises as llama2.c, outside or inside a folder model
  (a folder of quantizations holds one model per GGUF);
* the files of a folder model are the regular files directly in it, except the file models among
  them; subfolders are scanned in their turn (``checkpoint-500/``, ``original/``);
* a file model's **context** is the files beside it that its audit reads (model card, license,
  notice, ``tokenizer.bin``): every sibling regular file that is not itself a model and is at most
  :data:`CONTEXT_MAX_BYTES` (sibling weights are not context);
* hidden folders (``.git``, ``.cache``) are skipped; a folder symlink is never followed, and a file
  symlink is used only when its target lies inside the root being walked: nothing outside a root
  is read.

A root that is itself a model file or model folder is that model. A manifest (``--manifest``) lists
roots, one per line (blank lines and ``#`` comments ignored, relative paths against the manifest's
folder).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from provenance.checkpoint import HF_WEIGHTS, detect_format
from provenance.errors import ProvenanceError

CONTEXT_MAX_BYTES = 64 << 20
FOLDER_FORMATS = ("hf", "meta", "lora")
_FOLDER_MARKERS = frozenset(("config.json", "params.json", "adapter_config.json", *HF_WEIGHTS))


@dataclass(frozen=True)
class Candidate:
    """One model found by discovery.

    Attributes:
        path: the model file or folder, as the root was named joined with the path below it.
        files: the files whose content decides its audit (folder: its own files; file: the model
            file first, then its context), sorted by name after the model file.
    """

    path: Path
    files: tuple[Path, ...]

    @property
    def is_folder(self) -> bool:
        return self.path.is_dir()


def read_manifest(manifest: str | os.PathLike[str]) -> list[Path]:
    """The roots a manifest file lists (one per line; ``#`` comments and blank lines ignored)."""
    path = Path(manifest)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ProvenanceError(f"unreadable manifest: {e}", path) from None
    out = []
    for line in lines:
        entry = line.strip()
        if entry and not entry.startswith("#"):
            p = Path(entry)
            out.append(p if p.is_absolute() else path.parent / p)
    return out


def discover(roots: Sequence[str | os.PathLike[str]]) -> list[Candidate]:
    """Every model under ``roots`` (see the module docstring), each once, sorted by path."""
    found: dict[str, Candidate] = {}
    for root in roots:
        r = Path(root)
        if not r.exists():
            raise ProvenanceError("no such file or directory", r)
        for c in _walk_root(r):
            found.setdefault(c.path.as_posix(), c)
    return [found[k] for k in sorted(found)]


def _walk_root(root: Path) -> Iterable[Candidate]:
    inside = root.resolve()
    if root.is_file():
        try:
            siblings = sorted(s for s in root.parent.iterdir() if _usable(s, inside))
        except OSError:
            siblings = []
        yield Candidate(root, (root, *_context(root, siblings, [s for s in siblings if _is_file_model(s)])))
        return
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        here = Path(folder)
        files = sorted(here / n for n in names if _usable(here / n, inside))
        models = [f for f in files if _is_file_model(f)]
        if _is_folder_model(here, {f.name for f in files}):
            yield Candidate(here, tuple(f for f in files if f not in models))
        for m in models:
            yield Candidate(m, (m, *_context(m, files, models)))


def _usable(path: Path, inside: Path) -> bool:
    """A regular file, or a symlink to one inside the root."""
    if path.is_symlink():
        target = path.resolve()
        return target.is_file() and target.is_relative_to(inside)
    return path.is_file()


def _is_folder_model(folder: Path, names: set[str]) -> bool:
    if not names & _FOLDER_MARKERS and not any(n.endswith(".safetensors") for n in names):
        return False
    try:
        fmt = detect_format(folder)
    except ProvenanceError:  # weights without config.json: a broken model, reported as an error row
        return any(n in names for n in HF_WEIGHTS)
    if fmt != "hf":
        return fmt in FOLDER_FORMATS
    return any(n.endswith(".safetensors") or (n.startswith("pytorch_model") and n.endswith(".bin")) for n in names)


def _is_file_model(path: Path) -> bool:
    if path.suffix == ".gguf":
        return True
    if path.suffix != ".bin":
        return False
    try:
        return detect_format(path) == "llama2c"
    except (ProvenanceError, OSError):
        return False


def _context(model: Path, siblings: Sequence[Path], models: Sequence[Path]) -> list[Path]:
    """Small sibling files a file model's audit reads (card, license, tokenizer)."""
    return [s for s in siblings if s != model and s not in models and s.stat().st_size <= CONTEXT_MAX_BYTES]
