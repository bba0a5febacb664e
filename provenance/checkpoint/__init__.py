"""Checkpoint loading: :func:`open_checkpoint` is the single entry point for every format.

The format is decided by content, never by file extension alone: GGUF magic, a safetensors header,
a torch zip archive (with ``config.json`` or ``params.json`` beside it), llama2.c's header, or a
folder's contents (``config.json``, ``params.json`` + shards, ``adapter_config.json``, one ``.gguf``).
"""

from __future__ import annotations

from pathlib import Path

from provenance.checkpoint.base import Checkpoint
from provenance.checkpoint.common import wrap_errors
from provenance.checkpoint.gguf import GGUF_MAGIC, load_gguf
from provenance.checkpoint.hf import (
    SAFETENSORS_INDEX,
    is_safetensors,
    is_torch_archive,
    load_hf,
)
from provenance.checkpoint.llama2c import load_llama2c, sniff
from provenance.checkpoint.lora import CONFIG as ADAPTER_CONFIG
from provenance.checkpoint.lora import load_lora, merge_lora
from provenance.checkpoint.meta import SHARD, load_meta
from provenance.checkpoint.metadata import inputs_of
from provenance.errors import FormatError
from provenance.fileio import file_size

__all__ = ["Checkpoint", "detect_format", "inputs_of", "merge_lora", "open_checkpoint"]

LOADERS = {"gguf": load_gguf, "hf": load_hf, "meta": load_meta, "llama2c": load_llama2c, "lora": load_lora}
HF_WEIGHTS = ("model.safetensors", SAFETENSORS_INDEX, "pytorch_model.bin", "pytorch_model.bin.index.json")


def _detect_folder(folder: Path) -> str:
    if (folder / ADAPTER_CONFIG).is_file():
        return "lora"
    if (folder / "params.json").is_file() and any(SHARD.fullmatch(p.name) for p in folder.iterdir()):
        return "meta"
    if (folder / "config.json").is_file():
        return "hf"
    if any((folder / n).is_file() for n in HF_WEIGHTS):
        raise FormatError("missing config.json beside the weights", folder / "config.json")
    ggufs = sorted(p for p in folder.iterdir() if p.suffix == ".gguf" and p.is_file())
    if len(ggufs) == 1:
        return "gguf"
    if ggufs:
        raise FormatError(f"{len(ggufs)} .gguf files here; name the one to open", folder)
    raise FormatError("unknown format: no config.json, params.json, adapter_config.json or .gguf file", folder)


def _detect_file(path: Path) -> str:
    size = file_size(path)
    with open(path, "rb") as f:
        head = f.read(256)
    folder = path.parent
    if head[:4] == GGUF_MAGIC:
        return "gguf"
    if is_torch_archive(head, size):
        if SHARD.fullmatch(path.name) and (folder / "params.json").is_file():
            return "meta"
        if path.name.startswith("adapter_model") and (folder / ADAPTER_CONFIG).is_file():
            return "lora"
        if (folder / "config.json").is_file():
            return "hf"
        raise FormatError("torch archive without config.json (Hugging Face) or params.json (Meta) beside it", path)
    if is_safetensors(head, size):
        if path.name.startswith("adapter_model") and (folder / ADAPTER_CONFIG).is_file():
            return "lora"
        if not (folder / "config.json").is_file():
            raise FormatError("safetensors file without config.json beside it", folder / "config.json")
        return "hf"
    if sniff(head, size):
        return "llama2c"
    raise FormatError("unknown format (not GGUF, safetensors, a torch archive or llama2.c)", path)


def detect_format(path: str | Path) -> str:
    """``gguf``, ``hf``, ``meta``, ``llama2c`` or ``lora`` for ``path``; FormatError when unknown."""
    path = Path(path)
    if not path.exists():
        raise FormatError("no such file or directory", path)
    return _detect_folder(path) if path.is_dir() else _detect_file(path)


def open_checkpoint(path: str | Path) -> Checkpoint:
    """Open a model (or LoRA adapter) in any supported format as a canonical, lazy Checkpoint.

    Raises FormatError (naming the file) for unknown, malformed, truncated or hostile input and
    UnsupportedError for valid input we do not handle.
    """
    path = Path(path)
    fmt = detect_format(path)
    return wrap_errors(path, fmt, lambda: LOADERS[fmt](path))
