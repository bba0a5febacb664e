"""What a model folder declares about itself: the model card's front matter and the license files.

Declared metadata is weak evidence (anyone can write it) but it is what the license rules judge, so
every loader reads it the same way, through :func:`declare_folder`, and the audit finds license and
Notice files with the same rule (:func:`license_files`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from provenance.checkpoint.base import Checkpoint, DeclaredMetadata
from provenance.errors import FormatError, one_line
from provenance.fileio import Inputs, read_bounded

MAX_CARD_BYTES = 1024 * 1024  # model cards are text; front matter is a few hundred bytes
MODEL_CARD = "README.md"
#: license-like files beside the weights: LICENSE, LICENCE.md, COPYING, USE_POLICY.md, ...
LICENSE_NAME = re.compile(r"^(license|licence|copying|use_policy|acceptable[_-]use)([._-].*)?$", re.I)
#: the attribution Notice file Llama 2+ licenses require
NOTICE_NAME = re.compile(r"^notice([._-].*)?$", re.I)
#: what the loaders and the audit read beside a lone model file (GGUF, llama2.c), present or not: the
#: card, configs, tokenizer files, license and Notice files (case-insensitive: file systems may fold case)
SIDECAR_NAME = re.compile("|".join([
    r"readme\.md", r"(adapter_)?config\.json", r"params\.json", r"tokenizer([._].*)?", r"tok\d+\.bin",
    r"chat_template\..*", LICENSE_NAME.pattern[1:-1], NOTICE_NAME.pattern[1:-1]]), re.IGNORECASE)  # fmt: skip
#: formats whose files live in a model folder read as a whole (configs, tokenizer, card, license)
FOLDER_FORMATS = ("hf-safetensors", "hf-bin", "meta", "lora")


def _regular_files(folder: Path, name: re.Pattern[str]) -> list[Path]:
    """Regular files (links are not followed: they may point anywhere) whose names match, sorted."""
    try:
        return sorted(p for p in folder.iterdir() if name.match(p.name) and p.is_file() and not p.is_symlink())
    except OSError:
        return []


def license_files(folder: Path) -> list[Path]:
    """License-like files beside the model (see :data:`LICENSE_NAME`)."""
    return _regular_files(folder, LICENSE_NAME)


def notice_files(folder: Path) -> list[Path]:
    """Notice files beside the model (see :data:`NOTICE_NAME`)."""
    return _regular_files(folder, NOTICE_NAME)


def read_card(folder: Path) -> dict[str, Any]:
    """The YAML front matter of ``README.md`` (a Hugging Face model card), or ``{}``."""
    path = folder / MODEL_CARD
    if not path.is_file() or path.stat().st_size > MAX_CARD_BYTES:
        return {}
    try:
        text = read_bounded(path, MAX_CARD_BYTES, "model card").decode("utf-8", errors="replace")
    except FormatError:
        return {}
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    try:
        card = yaml.safe_load(text[3:end])
    # YAMLError for bad syntax; RecursionError for deep nesting; ValueError/OverflowError for values the
    # constructors refuse (a 5000-digit int, month 13): a broken card is declared metadata, not a broken model
    except (yaml.YAMLError, RecursionError, ValueError, OverflowError) as e:
        return {"error": f"README.md front matter is not YAML ({one_line(e, 200)})"}
    return card if isinstance(card, dict) else {}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def apply_card(meta: DeclaredMetadata, card: dict[str, Any]) -> None:
    """Copy a model card's declared fields (base_model, license, ...) into ``meta``."""
    for key in ("base_model", "license", "license_name", "license_link", "model_name", "base_model_relation", "error"):
        values = _strings(card.get(key))
        if values:
            meta.source_fields[f"card.{key}"] = values if key == "base_model" else values[0]
    for b in _strings(card.get("base_model")):
        if b not in meta.base_model:
            meta.base_model.append(b)
    meta.license = meta.license or next(iter(_strings(card.get("license"))), None)
    meta.license_name = meta.license_name or next(iter(_strings(card.get("license_name"))), None)
    meta.name = meta.name or next(iter(_strings(card.get("model_name"))), None)


def declare_folder(meta: DeclaredMetadata, folder: Path) -> DeclaredMetadata:
    """``meta`` (what the weight file itself declares) completed by the folder: the model card's fields
    and the first license file. Every loader ends with this."""
    apply_card(meta, read_card(folder))
    found = license_files(folder)
    meta.license_file = str(found[0]) if found else None
    return meta


def inputs_of(ckpt: Checkpoint) -> Inputs:
    """Everything ``ckpt`` is read from, for the output guard (:func:`provenance.fileio.check_output`):
    its source files and license file, and its model folder as a whole when it has one (a folder
    argument, or a format that reads configs and tokenizer beside its weights); beside a lone GGUF or
    llama2.c file, the names read there (:data:`SIDECAR_NAME`)."""
    files = [f.path for f in ckpt.files]
    if ckpt.metadata.license_file:
        files.append(Path(ckpt.metadata.license_file))
    if ckpt.format == "memory":
        return Inputs(files)
    if ckpt.path.is_dir() or ckpt.format in FOLDER_FORMATS:
        return Inputs(files, [ckpt.path if ckpt.path.is_dir() else ckpt.path.parent])
    return Inputs(files, names=[(ckpt.path.parent, SIDECAR_NAME)])
