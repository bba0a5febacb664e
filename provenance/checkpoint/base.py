"""The canonical checkpoint interface every loader produces and every consumer reads.

Canonical tensor names are Hugging Face LLaMA names (``model.layers.{i}.self_attn.q_proj.weight``)
and the canonical rotary layout is HF's rotate-half. Loaders translate at the boundary; nothing
downstream knows a file format. Tensors are read lazily, one at a time, and dequantized to float32.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from provenance.errors import FormatError
from provenance.modelargs import ModelArgs

if TYPE_CHECKING:
    from provenance.tokenizer.vocab import Tokenizer

# Canonical per-layer tensor suffixes, in a stable order.
LAYER_TENSORS = (
    "input_layernorm.weight",
    "self_attn.q_proj.weight",
    "self_attn.q_proj.bias",
    "self_attn.k_proj.weight",
    "self_attn.k_proj.bias",
    "self_attn.v_proj.weight",
    "self_attn.v_proj.bias",
    "self_attn.o_proj.weight",
    "post_attention_layernorm.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
)
EMBED = "model.embed_tokens.weight"
FINAL_NORM = "model.norm.weight"
LM_HEAD = "lm_head.weight"


def layer_name(i: int, suffix: str) -> str:
    """Canonical name of tensor ``suffix`` of layer ``i``."""
    return f"model.layers.{i}.{suffix}"


@dataclass
class LazyTensor:
    """One tensor of a checkpoint: its shape and storage type now, its float32 values on demand."""

    name: str
    shape: tuple[int, ...]
    dtype: str  # storage type as found in the file: F32, F16, BF16, Q4_1, Q8_0, ...
    load: Callable[[], torch.Tensor]  # returns float32, canonical layout, ``shape``

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


@dataclass
class DeclaredMetadata:
    """What the files *claim* (weak evidence: cheap to fake)."""

    name: str | None = None
    base_model: list[str] = field(default_factory=list)
    license: str | None = None
    license_name: str | None = None
    license_file: str | None = None  # path of a LICENSE file found beside the model
    author: str | None = None
    source_fields: dict[str, Any] = field(default_factory=dict)  # raw fields, e.g. gguf general.*

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "base_model": list(self.base_model),
            "license": self.license,
            "license_name": self.license_name,
            "license_file": self.license_file,
            "author": self.author,
            "source_fields": dict(sorted(self.source_fields.items())),
        }


@dataclass
class SourceFile:
    """A file the checkpoint was read from; its hash is computed once, on demand."""

    path: Path
    size: int
    _sha256: str | None = None

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            h = hashlib.sha256()
            with open(self.path, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 22), b""):
                    h.update(chunk)
            self._sha256 = h.hexdigest()
        return self._sha256

    def known_sha256(self, digest: str | None) -> None:
        """Record the sha256 of these bytes computed elsewhere (a model-signing check hashes every file
        it covers), so the file is not read again for it."""
        if digest is not None and self._sha256 is None:
            self._sha256 = digest


@dataclass
class AdapterInfo:
    """A PEFT LoRA adapter: it is not a model, it modifies ``base_model``."""

    base_model: str | None
    r: int
    alpha: float
    target_modules: list[str]
    # canonical weight name -> (A [r, in], B [out, r]) loaders; merged as W + scaling * B @ A
    pairs: dict[str, tuple[Callable[[], torch.Tensor], Callable[[], torch.Tensor]]] = field(
        default_factory=dict
    )
    use_rslora: bool = False  # rank-stabilised LoRA scales by alpha / sqrt(r) instead of alpha / r

    @property
    def scaling(self) -> float:
        """The factor applied to ``B @ A`` when merging."""
        return self.alpha / (self.r**0.5 if self.use_rslora else self.r)


class Checkpoint:
    """A model read from disk in canonical form.

    Attributes:
        path: what the user pointed at (file or directory).
        format: ``hf-safetensors``, ``hf-bin``, ``gguf``, ``meta``, ``llama2c``, ``lora``, ``memory``.
        args: the architecture (``None`` only for a bare LoRA adapter).
        metadata: declared metadata.
        files: the source files, for hashes and sizes.
        adapter: set when the checkpoint is a LoRA adapter rather than a model.
        kv: the format's own configuration as plain values (all GGUF key/values incl. the
            ``tokenizer.ggml.*`` arrays; HF config.json; Meta params.json; llama2.c header).
    """

    def __init__(
        self,
        path: str | Path,
        format: str,
        args: ModelArgs | None,
        tensors: dict[str, LazyTensor],
        metadata: DeclaredMetadata | None = None,
        files: list[SourceFile] | None = None,
        tokenizer_loader: Callable[[], Tokenizer | None] | None = None,
        adapter: AdapterInfo | None = None,
        quantization: str | None = None,
        closers: list[Callable[[], None]] | None = None,
        header_loader: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.path = Path(path)
        self.format = format
        self.args = args
        self._tensors = dict(sorted(tensors.items(), key=lambda kv: _name_key(kv[0])))
        self.metadata = metadata or DeclaredMetadata()
        self.files = files or []
        self._tokenizer_loader = tokenizer_loader
        self._tokenizer: Tokenizer | None = None
        self._tokenizer_loaded = False
        self.adapter = adapter
        self.quantization = quantization
        self._closers = closers or []
        self._header_loader = header_loader
        self._header: dict[str, Any] | None = None

    # -- tensors -------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Canonical tensor names in a stable order (embeddings, layers by index, norm, head)."""
        return list(self._tensors)

    def __contains__(self, name: str) -> bool:
        return name in self._tensors

    def info(self, name: str) -> LazyTensor:
        """Shape and storage type of ``name`` without reading it."""
        try:
            return self._tensors[name]
        except KeyError:
            raise FormatError(f"tensor {name!r} not in checkpoint", self.path) from None

    def get(self, name: str) -> torch.Tensor:
        """Read ``name`` as float32 in canonical layout (one tensor in memory at a time)."""
        t = self.info(name)
        value = t.load()
        if tuple(value.shape) != t.shape:
            raise FormatError(f"tensor {name} decoded to {tuple(value.shape)}, header says {t.shape}", self.path)
        return value

    def items(self) -> Iterator[tuple[str, torch.Tensor]]:
        """Stream all tensors, one at a time."""
        for name in self._tensors:
            yield name, self.get(name)

    def output_weight_name(self) -> str:
        """The tensor that maps hidden states to logits (the embedding when tied)."""
        return LM_HEAD if LM_HEAD in self._tensors else EMBED

    @property
    def n_params(self) -> int:
        return sum(t.numel for t in self._tensors.values())

    # -- tokenizer -----------------------------------------------------------------------
    @property
    def tokenizer(self) -> Tokenizer | None:
        """The tokenizer shipped with the checkpoint, or ``None`` (loaded on first use)."""
        if not self._tokenizer_loaded:
            self._tokenizer = self._tokenizer_loader() if self._tokenizer_loader else None
            self._tokenizer_loaded = True
        return self._tokenizer

    # -- format configuration ------------------------------------------------------------
    @property
    def header(self) -> dict[str, Any]:
        """The format's own configuration as read: GGUF key/values, config.json, params.json, the llama2.c
        header (read on first use; empty for in-memory checkpoints). Downstream code reads ``args`` instead."""
        if self._header is None:
            self._header = self._header_loader() if self._header_loader else {}
        return self._header

    # -- lifetime ------------------------------------------------------------------------
    def close(self) -> None:
        for c in self._closers:
            c()
        self._closers.clear()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.path)!r}, format={self.format!r}, tensors={len(self._tensors)})"


def _name_key(name: str) -> tuple[int, int, str]:
    if name == EMBED:
        return (0, 0, name)
    if name.startswith("model.layers."):
        rest = name[len("model.layers.") :]
        idx, _, suffix = rest.partition(".")
        order = LAYER_TENSORS.index(suffix) if suffix in LAYER_TENSORS else len(LAYER_TENSORS)
        return (1, int(idx) if idx.isdigit() else 0, f"{order:03d}{suffix}")
    if name == FINAL_NORM:
        return (2, 0, name)
    if name == LM_HEAD:
        return (3, 0, name)
    return (4, 0, name)


def from_state_dict(
    state: dict[str, torch.Tensor],
    args: ModelArgs,
    path: str | Path = "<memory>",
    tokenizer: Tokenizer | None = None,
    metadata: DeclaredMetadata | None = None,
) -> Checkpoint:
    """Wrap in-memory canonical tensors (tests, transforms, merged adapters) as a Checkpoint."""
    tensors = {
        k: LazyTensor(k, tuple(v.shape), str(v.dtype).removeprefix("torch."), partial(torch.Tensor.float, v))
        for k, v in state.items()
    }
    return Checkpoint(path, "memory", args, tensors, metadata=metadata, tokenizer_loader=lambda: tokenizer)
