"""Writers for every format we read: tests and the test zoo use them to put the *same* weights in
several formats and check that each loader gives back identical canonical tensors.

Each writer takes a Checkpoint or a canonical state dict (``{name: tensor}``, HF layout) plus
ModelArgs, and converts at the boundary exactly as the reference tools do (llama.cpp's Q/K
permutation for GGUF, Meta's interleaved rotary and model-parallel split, llama2.c's layouts).
They build each file in memory: meant for the small models of tests, not for 70B checkpoints.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType, GGUFWriter
from gguf.quants import quantize
from safetensors.torch import save_file

from provenance.checkpoint.base import EMBED, LM_HEAD, Checkpoint, DeclaredMetadata
from provenance.checkpoint.gguf import ROPE_FREQS, gguf_name
from provenance.checkpoint.llama2c import HEADER_V, LEGACY_HEADER, MAGIC, Header, file_layout
from provenance.checkpoint.meta import LAYER_NAMES as META_LAYER_NAMES
from provenance.checkpoint.meta import meta_name
from provenance.checkpoint.rotary import GGUF_PERMUTED_ARCHS, half_to_interleaved, llama3_rope_factors
from provenance.modelargs import ModelArgs

Source = Checkpoint | Mapping[str, torch.Tensor]


def _items(source: Source) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(source, Checkpoint):
        yield from source.items()
    else:
        yield from ((k, v.detach().float()) for k, v in source.items())


def _args(source: Source, args: ModelArgs | None) -> ModelArgs:
    if args is None and isinstance(source, Checkpoint):
        args = source.args
    if args is None:
        raise ValueError("ModelArgs are required to export a state dict")
    return args


def _rope_heads(name: str, args: ModelArgs) -> int | None:
    if name.endswith(("q_proj.weight", "q_proj.bias")):
        return args.n_heads
    if name.endswith(("k_proj.weight", "k_proj.bias")):
        return args.n_kv_heads
    return None


# -- Hugging Face ---------------------------------------------------------------------------
def save_hf(
    source: Source,
    args: ModelArgs | None,
    out_dir: str | Path,
    tokenizer_files: Iterable[str | Path] = (),
    *,
    dtype: torch.dtype = torch.float32,
    shards: int = 1,
    card: Mapping[str, Any] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> Path:
    """``config.json`` + ``model.safetensors`` (or ``shards`` files and an index); optional card and tokenizer files."""
    args, out = _args(source, args), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.to(dtype).contiguous() for k, v in _items(source) if not (args.tie_embeddings and k == LM_HEAD)}
    cfg = args.to_hf_config() | {"torch_dtype": str(dtype).removeprefix("torch.")}
    (out / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    st_meta = {"format": "pt", **(metadata or {})}
    if shards <= 1:
        save_file(state, str(out / "model.safetensors"), metadata=st_meta)
    else:
        names = list(state)
        groups = [names[i::shards] for i in range(shards)]
        weight_map = {}
        for i, group in enumerate(groups):
            fname = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
            save_file({k: state[k] for k in group}, str(out / fname), metadata=st_meta)
            weight_map.update(dict.fromkeys(group, fname))
        total = sum(t.numel() * t.element_size() for t in state.values())
        index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
        (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    for f in tokenizer_files:
        shutil.copy(f, out / Path(f).name)
    if card:
        (out / "README.md").write_text(f"---\n{yaml.safe_dump(dict(card), sort_keys=True)}---\n")
    return out


# -- GGUF -----------------------------------------------------------------------------------
def _gguf_value_type(v: Any) -> GGUFValueType:
    if isinstance(v, bool):
        return GGUFValueType.BOOL
    if isinstance(v, int):
        return GGUFValueType.UINT32 if 0 <= v < 2**32 else GGUFValueType.INT64
    if isinstance(v, float):
        return GGUFValueType.FLOAT32
    if isinstance(v, str):
        return GGUFValueType.STRING
    raise TypeError(f"no GGUF type for {type(v).__name__}")


def _add_kv(writer: GGUFWriter, key: str, value: Any) -> None:
    if isinstance(value, list):
        if not value:
            return
        # GGUF arrays of ints are int32 (token types); of floats float32 (scores); of str strings
        sub = (
            GGUFValueType.INT32
            if isinstance(value[0], int) and not isinstance(value[0], bool)
            else _gguf_value_type(value[0])
        )
        writer.add_key_value(key, value, GGUFValueType.ARRAY, sub_type=sub)
    else:
        writer.add_key_value(key, value, _gguf_value_type(value))


def _gguf_general(writer: GGUFWriter, meta: DeclaredMetadata) -> None:
    writer.add_name(meta.name or "provenance export")
    for key, value in (
        ("general.license", meta.license),
        ("general.license.name", meta.license_name),
        ("general.author", meta.author),
    ):
        if value:
            writer.add_string(key, value)
    if meta.base_model:
        writer.add_base_model_count(len(meta.base_model))
        for i, ref in enumerate(meta.base_model):
            org, _, name = ref.rpartition("/")
            writer.add_base_model_name(i, name)
            if org:
                writer.add_base_model_organization(i, org)
                writer.add_base_model_repo_url(i, f"https://huggingface.co/{ref}")


def save_gguf(
    source: Source,
    path: str | Path,
    qtype: str = "F32",
    args: ModelArgs | None = None,
    metadata: DeclaredMetadata | None = None,
    tokenizer_kv: Mapping[str, Any] | None = None,
) -> Path:
    """A GGUF file as llama.cpp's converter writes it: llama.cpp names, permuted Q/K for llama-arch,
    matrices in ``qtype`` (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, ...: what ``gguf.quants`` can
    quantize; rows not divisible by the block size stay F32), vectors in F32, ``general.*`` metadata
    and the tokenizer key/values (by default those of a GGUF source)."""
    args, path = _args(source, args), Path(path)
    qt = GGMLQuantizationType[qtype]
    if metadata is None and isinstance(source, Checkpoint):
        metadata = source.metadata
    if tokenizer_kv is None and isinstance(source, Checkpoint):
        tokenizer_kv = {k: v for k, v in source.header.items() if k.startswith("tokenizer.")}
    writer = GGUFWriter(str(path), args.arch)
    _gguf_general(writer, metadata or DeclaredMetadata())
    writer.add_context_length(args.max_seq_len)
    writer.add_embedding_length(args.dim)
    writer.add_block_count(args.n_layers)
    writer.add_feed_forward_length(args.hidden_dim)
    writer.add_head_count(args.n_heads)
    writer.add_head_count_kv(args.n_kv_heads)
    writer.add_rope_freq_base(args.rope_theta)
    writer.add_layer_norm_rms_eps(args.norm_eps)
    writer.add_rope_dimension_count(args.head_dim)
    writer.add_vocab_size(args.vocab_size)
    if args.head_dim * args.n_heads != args.dim:
        writer.add_key_length(args.head_dim)
        writer.add_value_length(args.head_dim)
    for key, value in sorted((tokenizer_kv or {}).items()):
        _add_kv(writer, key, value)
    if not tokenizer_kv:
        if args.bos_token_id is not None:
            writer.add_bos_token_id(args.bos_token_id)
        if args.eos_token_id is not None:
            writer.add_eos_token_id(args.eos_token_id)
    permute = args.arch in GGUF_PERMUTED_ARCHS
    for name, w in _items(source):
        heads = _rope_heads(name, args)
        if permute and heads:
            w = half_to_interleaved(w, heads)
        arr = w.numpy().astype(np.float32)
        block = GGML_QUANT_SIZES[qt][0]
        if arr.ndim < 2 or arr.shape[-1] % block:
            writer.add_tensor(gguf_name(name), arr)  # norms, biases and odd rows stay F32, as in llama.cpp
        else:
            writer.add_tensor(gguf_name(name), quantize(arr, qt), raw_shape=None, raw_dtype=qt)
    if args.rope_scaling is not None:  # llama.cpp carries Llama 3.1 scaling as per-frequency divisors
        writer.add_tensor(ROPE_FREQS, llama3_rope_factors(args.head_dim, args.rope_theta, args.rope_scaling).numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


# -- Meta -----------------------------------------------------------------------------------
def _meta_axis(name: str) -> int | None:
    if name == EMBED:
        return 1  # Llama 1/2 ParallelEmbedding split the embedding dimension
    if name == LM_HEAD:
        return 0
    suffix = name.split(".", 3)[-1]
    return next((axis for s, axis in META_LAYER_NAMES.values() if s == suffix), None)


def meta_params(args: ModelArgs) -> dict[str, Any]:
    """A ``params.json`` whose ffn rule reproduces ``args.hidden_dim`` exactly."""
    base = int(2 * (4 * args.dim) / 3)
    params: dict[str, Any] = {
        "dim": args.dim,
        "n_layers": args.n_layers,
        "n_heads": args.n_heads,
        "n_kv_heads": args.n_kv_heads,
        "vocab_size": args.vocab_size,
        # rounding up to a multiple of hidden_dim itself yields hidden_dim whenever base <= hidden_dim
        "multiple_of": args.hidden_dim,
        "norm_eps": args.norm_eps,
        "rope_theta": args.rope_theta,
        "max_seq_len": args.max_seq_len,
    }
    if base > args.hidden_dim:
        params["ffn_dim_multiplier"] = args.hidden_dim / base
    if args.rope_scaling is not None:
        params["use_scaled_rope"] = True
        params["rope_scaling_factor"] = args.rope_scaling.factor
    return params


def save_meta(source: Source, out_dir: str | Path, n_shards: int = 1, args: ModelArgs | None = None) -> Path:
    """``params.json`` + ``consolidated.NN.pth`` split as Meta's model-parallel shards (interleaved Q/K).

    A tied model gets no ``output.weight`` (Meta's own releases are untied).
    """
    args, out = _args(source, args), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shards: list[dict[str, torch.Tensor]] = [{} for _ in range(n_shards)]
    for name, w in _items(source):
        heads = _rope_heads(name, args)
        if heads:
            w = half_to_interleaved(w, heads)
        axis = _meta_axis(name)
        if axis is not None and w.shape[axis] % n_shards:
            raise ValueError(f"{name}: dim {axis} of {list(w.shape)} does not split into {n_shards} shards")
        parts = [w] * n_shards if axis is None else list(torch.chunk(w, n_shards, dim=axis))
        for shard, part in zip(shards, parts, strict=True):
            shard[meta_name(name)] = part.contiguous().clone()
    for i, shard in enumerate(shards):
        torch.save(shard, out / f"consolidated.{i:02d}.pth")
    (out / "params.json").write_text(json.dumps(meta_params(args), indent=2) + "\n")
    return out


# -- llama2.c -------------------------------------------------------------------------------
def _q80(w: torch.Tensor, group: int) -> bytes:
    """llama2.c's symmetric int8 group quantization: int8 values, then one float32 scale per group."""
    g = w.reshape(-1, group)
    scale = g.abs().amax(dim=1) / 127.0
    q = torch.round(g / torch.where(scale == 0, 1.0, scale)[:, None]).to(torch.int8)
    return q.numpy().tobytes() + scale.numpy().astype("<f4").tobytes()


def save_llama2c(
    source: Source, path: str | Path, version: int = 0, args: ModelArgs | None = None, group_size: int = 64
) -> Path:
    """A llama2.c checkpoint: ``version`` 0 = legacy, 1 = fp32 ``ak42``, 2 = Q8_0 ``ak42``."""
    args, path = _args(source, args), Path(path)
    if args.qkv_bias or args.head_dim * args.n_heads != args.dim:
        raise ValueError("llama2.c holds only bias-free models with head_dim = dim / n_heads")
    while version == 2 and args.dim % group_size:
        group_size //= 2
    state = dict(_items(source))
    h = Header(version, args.dim, args.hidden_dim, args.n_layers, args.n_heads, args.n_kv_heads,
               args.vocab_size, args.max_seq_len, shared=args.tie_embeddings, group_size=group_size)  # fmt: skip
    layout, _ = file_layout(h)
    with open(path, "wb") as f:
        if version == 0:
            vocab = args.vocab_size if h.shared else -args.vocab_size
            f.write(
                LEGACY_HEADER.pack(
                    args.dim, args.hidden_dim, args.n_layers, args.n_heads, args.n_kv_heads, vocab, args.max_seq_len
                )
            )
        else:
            f.write(struct.pack("<Ii7iB", MAGIC, version, args.dim, args.hidden_dim, args.n_layers, args.n_heads,
                                args.n_kv_heads, args.vocab_size, args.max_seq_len, int(h.shared)))  # fmt: skip
            if version == 2:
                f.write(struct.pack("<i", group_size))
            f.write(b"\0" * (HEADER_V - f.tell()))
        for name, _, quantized in layout:
            if name == LM_HEAD and version == 0:
                _write_rope_tables(f, args)
            w = state[name]
            heads = _rope_heads(name, args)
            if heads:
                w = half_to_interleaved(w, heads)
            f.write(_q80(w, group_size) if quantized else w.numpy().astype("<f4").tobytes())
        if version == 0 and h.shared:
            _write_rope_tables(f, args)
    return path


def _write_rope_tables(f: Any, args: ModelArgs) -> None:
    """The cos/sin tables llama2.c's legacy export appends (readers skip them)."""
    freqs = 1.0 / (args.rope_theta ** (torch.arange(0, args.head_dim, 2).float() / args.head_dim))
    angles = torch.outer(torch.arange(args.max_seq_len).float(), freqs)
    f.write(torch.cos(angles).numpy().astype("<f4").tobytes())
    f.write(torch.sin(angles).numpy().astype("<f4").tobytes())
