"""PEFT LoRA adapters: ``adapter_config.json`` + ``adapter_model.safetensors`` (or ``.bin``).

An adapter is not a model: it names a base and carries low-rank factors ``A [r, in]``, ``B [out, r]``
per targeted weight. :func:`load_lora` exposes them as a ``lora`` Checkpoint (``args`` is None,
``adapter`` set); :func:`merge_lora` applies them to a base checkpoint lazily, one weight at a time,
as ``W + scaling * B @ A`` like PEFT's ``merge_and_unload``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from provenance.checkpoint import safety
from provenance.checkpoint.base import (
    AdapterInfo,
    Checkpoint,
    DeclaredMetadata,
    LazyTensor,
)
from provenance.checkpoint.common import (
    canonical_hf_name,
    constant,
    folder_tokenizer,
    lazy,
    source_files,
    torch_dtype_name,
    torch_load,
)
from provenance.checkpoint.hf import SafetensorsFile
from provenance.checkpoint.metadata import declare_folder
from provenance.errors import FormatError, UnsupportedError

CONFIG = "adapter_config.json"
WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
# ``<module>.lora_A[.<adapter name>][.weight]`` and the embedding variant ``lora_embedding_A``.
FACTOR = re.compile(r"(?P<module>.+?)\.(?P<kind>lora_(?:embedding_)?[AB])(?:\.(?!weight$)[\w-]+)?(?:\.weight)?")
PEFT_PREFIX = "base_model.model."
# wrapper segments PEFT leaves in the names of whole saved weights
WHOLE = re.compile(r"\.(?:base_layer|modules_to_save\.[\w-]+)\.")


def _factor_tensors(folder: Path) -> tuple[dict[str, LazyTensor], Path, Callable[[], None] | None]:
    for name in WEIGHTS:
        path = folder / name
        if path.is_file():
            path = safety.resolve_inside(folder, name, path)  # the rule index-named shards follow
            if name.endswith(".safetensors"):
                st = SafetensorsFile(path)
                return {n: st.lazy(n, n) for n in st.tensors}, path, st.close
            state = torch_load(path)
            return (
                {n: lazy(n, tuple(t.shape), torch_dtype_name(t), constant(t), path) for n, t in state.items()},
                path,
                None,
            )
    raise FormatError(f"no {' or '.join(WEIGHTS)}", folder)


def _config(folder: Path) -> dict[str, Any]:
    cfg = safety.read_json(folder / CONFIG, CONFIG)
    where = folder / CONFIG
    if str(cfg.get("peft_type", "LORA")).upper() != "LORA":
        raise UnsupportedError(f"PEFT type {cfg.get('peft_type')!r} is not LoRA", where)
    if cfg.get("use_dora"):
        raise UnsupportedError("DoRA adapters are not supported", where)
    if cfg.get("rank_pattern") or cfg.get("alpha_pattern"):
        raise UnsupportedError("per-module rank_pattern/alpha_pattern are not supported", where)
    r, alpha = cfg.get("r"), cfg.get("lora_alpha", cfg.get("r"))
    if not (isinstance(r, int) and r > 0 and isinstance(alpha, (int, float)) and not isinstance(alpha, bool)):
        raise FormatError("adapter_config.json needs a positive integer r and a numeric lora_alpha", where)
    return cfg


def load_lora(path: str | Path) -> Checkpoint:
    """Open a PEFT LoRA adapter folder."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    cfg = _config(folder)
    raw, weights_path, closer = _factor_tensors(folder)
    factors: dict[str, dict[str, LazyTensor]] = {}
    tensors: dict[str, LazyTensor] = {}
    embeddings: set[str] = set()
    for raw_name, t in raw.items():
        name = raw_name.removeprefix(PEFT_PREFIX)
        m = FACTOR.fullmatch(name)
        if m is None:  # a whole saved weight: modules_to_save, or a (possibly resized) embedding's base layer
            canonical = canonical_hf_name(WHOLE.sub(".", name))
            tensors[canonical] = LazyTensor(canonical, t.shape, t.dtype, t.load)
            continue
        target = canonical_hf_name(m.group("module") + ".weight")
        factors.setdefault(target, {})[m.group("kind").replace("embedding_", "")] = t
        if "embedding" in m.group("kind"):
            embeddings.add(target)
        exposed = f"{target.removesuffix('.weight')}.{m.group('kind')}.weight"
        tensors[exposed] = LazyTensor(exposed, t.shape, t.dtype, t.load)
    pairs = {}
    for target, ab in sorted(factors.items()):
        if set(ab) != {"lora_A", "lora_B"}:
            raise FormatError(f"{target!r}: LoRA factors come in A/B pairs, found only {sorted(ab)}", weights_path)
        # PEFT stores embeddings' factors, and fan_in_fan_out (Conv1D) layers' products, transposed
        # relative to the weight they modify: offer (B^T, A^T) so that B' @ A' is the delta itself.
        transposed = target in embeddings or bool(cfg.get("fan_in_fan_out"))
        a, b = ab["lora_A"].load, ab["lora_B"].load
        pairs[target] = (lambda b=b: b().T, lambda a=a: a().T) if transposed else (a, b)
    targets = cfg.get("target_modules")
    info = AdapterInfo(
        base_model=cfg.get("base_model_name_or_path") if isinstance(cfg.get("base_model_name_or_path"), str) else None,
        r=cfg["r"],
        alpha=float(cfg.get("lora_alpha", cfg["r"])),
        target_modules=[targets] if isinstance(targets, str) else sorted(map(str, targets or [])),
        pairs=pairs,
        use_rslora=bool(cfg.get("use_rslora")),
    )
    meta = DeclaredMetadata(
        source_fields={f"adapter.{k}": cfg[k] for k in sorted(cfg) if isinstance(cfg[k], (str, int, float, bool))}
    )
    declare_folder(meta, folder)
    if info.base_model and info.base_model not in meta.base_model:
        meta.base_model.append(info.base_model)
    return Checkpoint(
        path,
        "lora",
        None,
        tensors,
        metadata=meta,
        files=source_files([weights_path, folder / CONFIG]),
        tokenizer_loader=folder_tokenizer(folder),
        adapter=info,
        quantization=None,
        closers=[closer] if closer else None,
        header_loader=lambda: cfg,
    )


def merge_lora(base: Checkpoint, adapter: Checkpoint) -> Checkpoint:
    """The base with the adapter applied: ``W + scaling * B @ A`` per target, replacements swapped in.

    Nothing is computed until a tensor is read. The merged model declares what the adapter declares.
    """
    info = adapter.adapter
    if info is None:
        raise UnsupportedError("not a LoRA adapter", adapter.path)
    if base.adapter is not None or base.args is None:
        raise UnsupportedError("the base of a merge must be a model, not an adapter", base.path)
    for name in info.pairs:
        if name not in base:
            raise FormatError(f"adapter modifies {name!r}, which the base model lacks", adapter.path)
    tensors = {n: base.info(n) for n in base.names()}
    for name in adapter.names():
        if ".lora_" not in name:  # whole tensors replacing the base's (the delta, if any, applies on top)
            t = adapter.info(name)
            if name not in tensors or tensors[name].shape != t.shape:
                raise FormatError(
                    f"adapter replaces {name} with shape {list(t.shape)}, the base has none such", adapter.path
                )
            tensors[name] = t
    for name, t in tensors.items():
        if name in info.pairs:
            tensors[name] = LazyTensor(
                name, t.shape, t.dtype, _merged(t, *info.pairs[name], info.scaling, adapter.path)
            )
    meta = adapter.metadata
    return Checkpoint(
        base.path,
        f"{base.format}+lora",
        base.args,
        tensors,
        metadata=dataclasses.replace(meta, base_model=list(meta.base_model), source_fields=dict(meta.source_fields)),
        files=base.files + adapter.files,
        tokenizer_loader=lambda: adapter.tokenizer or base.tokenizer,
        quantization=base.quantization,
        header_loader=lambda: base.header,
    )


def _merged(
    t: LazyTensor, load_a: Callable[[], torch.Tensor], load_b: Callable[[], torch.Tensor], scaling: float, path: Path
) -> Callable[[], torch.Tensor]:
    def load() -> torch.Tensor:
        a, b = load_a().float(), load_b().float()
        if a.dim() != 2 or b.dim() != 2 or (b.shape[0], a.shape[1]) != t.shape or a.shape[0] != b.shape[1]:
            raise FormatError(
                f"LoRA factors {list(b.shape)} @ {list(a.shape)} do not fit {t.name} {list(t.shape)}", path
            )
        return t.load() + scaling * (b @ a)

    return load
