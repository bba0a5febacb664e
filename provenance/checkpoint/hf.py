"""Hugging Face checkpoints: ``config.json`` + safetensors (single or sharded) or ``pytorch_model*.bin``.

Safetensors headers are parsed and bounded here before the ``safetensors`` library maps the file;
``.bin`` archives go only through ``torch.load(weights_only=True, mmap=True)``. Tensors are read one
at a time and upcast to float32. Names are mapped to canonical HF LLaMA names (wrapper prefixes of
multimodal models and bare ``LlamaModel`` names included).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from provenance.checkpoint import safety
from provenance.checkpoint.base import LM_HEAD, Checkpoint, DeclaredMetadata, LazyTensor
from provenance.checkpoint.common import (
    canonical_hf_name,
    constant,
    dominant_dtype,
    finalize_args,
    folder_tokenizer,
    lazy,
    source_files,
    torch_dtype_name,
    torch_load,
)
from provenance.checkpoint.metadata import declare_folder
from provenance.errors import FormatError, UnsupportedError, native, one_line
from provenance.fileio import file_size
from provenance.modelargs import ModelArgs

# Element sizes of the safetensors dtypes.
ST_DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
    "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
}  # fmt: skip

SAFETENSORS_INDEX = "model.safetensors.index.json"
BIN_INDEX = "pytorch_model.bin.index.json"


class SafetensorsFile:
    """One safetensors file: a bounded, validated header now, tensors on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tensors, self.metadata = read_safetensors_header(path)
        self._handle: Any = None

    def load(self, name: str) -> torch.Tensor:
        with native("safetensors refused the file", self.path):  # its own SafetensorError, or a panic
            if self._handle is None:
                self._handle = safe_open(str(self.path), framework="pt", device="cpu")
            return self._handle.get_tensor(name)

    def lazy(self, name: str, canonical: str) -> LazyTensor:
        dtype, shape = self.tensors[name]
        return lazy(canonical, shape, dtype, lambda: self.load(name), self.path)

    def close(self) -> None:
        self._handle = None


def read_safetensors_header(path: Path) -> tuple[dict[str, tuple[str, tuple[int, ...]]], dict[str, str]]:
    """Parse and validate a safetensors header without trusting any size in it.

    Returns ``{name: (dtype, shape)}`` and the ``__metadata__`` string map.
    """
    size = file_size(path)
    if size < 8:
        raise FormatError("truncated: too short for a safetensors header", path)
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > safety.MAX_HEADER_BYTES:
            raise FormatError(f"safetensors header claims {n} bytes (limit {safety.MAX_HEADER_BYTES})", path)
        if 8 + n > size:
            raise FormatError(f"truncated: header claims {n} bytes, file has {size - 8}", path)
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError, JSONDecodeError, an int over 4300 digits
        raise FormatError(f"corrupt safetensors header ({one_line(e, 200)})", path) from None
    if not isinstance(header, dict):
        raise FormatError("corrupt safetensors header (not a JSON object)", path)
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict):
        raise FormatError("corrupt safetensors __metadata__ (not an object)", path)
    safety.check_count(len(header), safety.MAX_TENSORS, "tensor", path)
    tensors: dict[str, tuple[str, tuple[int, ...]]] = {}
    ranges = []
    for name, info in header.items():
        if not isinstance(info, dict) or not isinstance(info.get("dtype"), str) or info["dtype"] not in ST_DTYPE_BYTES:
            raise FormatError(f"tensor {name!r} has no known dtype", path)
        shape = safety.check_shape(info.get("shape"), path, name)
        offsets = info.get("data_offsets")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
            raise FormatError(f"tensor {name!r} has malformed data_offsets", path)
        start, end = offsets
        if end - start != math.prod(shape) * ST_DTYPE_BYTES[info["dtype"]]:
            raise FormatError(f"tensor {name!r}: {end - start} bytes cannot hold {info['dtype']}{list(shape)}", path)
        ranges.append((name, start, end))
        tensors[name] = (info["dtype"], shape)
    safety.check_ranges(ranges, size - 8 - n, path)
    return tensors, {str(k): str(v) for k, v in meta.items()}


def _weight_files(path: Path, folder: Path) -> list[Path]:
    """The weight files of an HF checkpoint, each held to the same rule whether an index, the folder
    or the user names it: a file of the model folder, never a link out of it."""
    if path.is_file():
        return [safety.resolve_inside(folder, path.name, path)]
    for index_name in (SAFETENSORS_INDEX, BIN_INDEX):
        index_path = folder / index_name
        if index_path.is_file():
            weight_map = safety.read_json(index_path, index_name).get("weight_map")
            if not isinstance(weight_map, dict) or not weight_map:
                raise FormatError("index has no weight_map", index_path)
            shards = sorted(set(map(str, weight_map.values())))
            safety.check_count(len(shards), safety.MAX_SHARDS, "shard", index_path)
            return [safety.resolve_inside(folder, s, index_path) for s in shards]
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (folder / name).is_file():
            return [safety.resolve_inside(folder, name, folder / name)]
    raise FormatError("no model.safetensors, pytorch_model.bin or index file", folder)


def _args(cfg: dict[str, Any], path: Path) -> ModelArgs:
    quant = cfg.get("quantization_config")
    if isinstance(quant, dict):
        raise UnsupportedError(f"{quant.get('quant_method', 'quantized')!r} HF checkpoints are not supported", path)
    try:
        return ModelArgs.from_hf_config(cfg)
    except KeyError as e:
        raise UnsupportedError(f"config.json lacks {e.args[0]!r}: not a llama-style model config", path) from None
    except (TypeError, ValueError, ArithmeticError) as e:  # ArithmeticError: 0 heads, an infinite float
        raise FormatError(f"config.json has a malformed field ({one_line(e, 200)})", path) from None


def load_hf(path: str | Path) -> Checkpoint:
    """Open an HF model folder, or a lone ``.safetensors``/``.bin`` file with ``config.json`` beside it."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    cfg = safety.read_json(folder / "config.json", "config.json")
    args = _args(cfg, folder / "config.json")
    files = _weight_files(path, folder)
    tensors: dict[str, LazyTensor] = {}
    meta = DeclaredMetadata()
    closers: list[Callable[[], None]] = []
    is_bin = False
    for f in files:
        raw = _open_weights(f)
        if isinstance(raw, SafetensorsFile):
            closers.append(raw.close)
            items = [(n, raw.lazy(n, canonical_hf_name(n))) for n in raw.tensors]
            meta.source_fields.update({f"safetensors.{k}": v for k, v in sorted(raw.metadata.items())})
        else:
            is_bin = True
            items = [
                (n, lazy(canonical_hf_name(n), tuple(t.shape), torch_dtype_name(t), constant(t), f))
                for n, t in raw.items()
            ]
        for raw_name, t in items:
            if t.name in tensors:
                raise FormatError(f"tensor {raw_name!r} appears twice", f)
            tensors[t.name] = t
    if args.tie_embeddings:
        tensors.pop(LM_HEAD, None)  # transformers ignores a stored head when the config ties it
    args = finalize_args(args, tensors, path)

    declare_folder(meta, folder)
    for key in ("_name_or_path", "architectures", "model_type", "transformers_version"):
        if cfg.get(key):
            meta.source_fields[f"config.{key}"] = cfg[key]
    sidecars = [folder / n for n in ("config.json", SAFETENSORS_INDEX, BIN_INDEX) if (folder / n).is_file()]
    return Checkpoint(
        path,
        "hf-bin" if is_bin else "hf-safetensors",
        args,
        tensors,
        metadata=meta,
        files=source_files(files + sidecars),
        tokenizer_loader=folder_tokenizer(folder),
        quantization=dominant_dtype(tensors),
        closers=closers,
        header_loader=lambda: cfg,
    )


def is_safetensors(head: bytes, size: int) -> bool:
    """Whether a file starting with ``head`` is safetensors: an 8-byte header length, then ``{``."""
    return size >= 10 and head[8:9] == b"{" and struct.unpack("<Q", head[:8])[0] >= 2


def is_torch_archive(head: bytes, size: int) -> bool:
    """A torch zip archive (torch >= 1.6) or a legacy raw pickle, and not safetensors.

    Checked after :func:`is_safetensors`: a safetensors header length whose low byte is 0x80
    (one real file in 256) also starts with the pickle opcode.
    """
    return not is_safetensors(head, size) and (head[:4] == b"PK\x03\x04" or head[:1] == b"\x80")


def _open_weights(path: Path) -> SafetensorsFile | dict[str, torch.Tensor]:
    size = file_size(path)
    with open(path, "rb") as f:
        head = f.read(16)
    return torch_load(path) if is_torch_archive(head, size) else SafetensorsFile(path)
