"""Real files for the hostile-input and fuzz tests, written once per session into a scratch folder.

Everything starts from real data: stories260K (llama2.c) re-exported by our own exporters as a
Hugging Face folder, a Meta folder, llama2.c v1/v2 files and a PEFT adapter; SmolLM2's GGUF; Meta's
Llama 2 SentencePiece model; a shipped fingerprint. Builders skip (pytest.skip) when ../shared is absent.
"""

from __future__ import annotations

import json
import shutil
import struct
from functools import cache
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from provenance.checkpoint import open_checkpoint
from provenance.checkpoint.gguf import read_header
from provenance.tokenizer.rebuilt import (
    CONTROL,
    NORMAL,
    USER_DEFINED,
    byte_level_bpe,
    pre_tokenizer_for,
    sentencepiece_bpe,
)
from tests.exporters import save_hf, save_llama2c, save_meta
from tests.models import SHARED, fetch, stories260k

ROOT = Path(__file__).resolve().parents[2]
SPM = SHARED / "data" / "tokenizers" / "llama2-sentencepiece.model"
FINGERPRINT = ROOT / "fingerprints" / "stories260k.fingerprint.safetensors"
STORIES_VOCAB = 512
CARD = "---\nlicense: mit\nbase_model: karpathy/tinyllamas\nmodel_name: stories260K-export\ntags: [llama2c]\n---\n# stories\n"


def stories_path() -> Path:
    path = stories260k()
    if path is None:
        pytest.skip("../shared/data/models/stories260K.bin is absent")
    return path


def spm_path() -> Path:
    if not SPM.is_file():
        pytest.skip("../shared/data/tokenizers/llama2-sentencepiece.model is absent")
    return SPM


@cache
def stories_state() -> dict[str, torch.Tensor]:
    return dict(open_checkpoint(stories_path()).items())


@cache
def stories_args():
    return open_checkpoint(stories_path()).args


def _spm_pieces(n: int) -> tuple[list[str], list[float], list[int]]:
    """The first ``n`` pieces of Meta's Llama 2 SentencePiece model with scores and GGUF types."""
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(spm_path()))
    types = [2 if sp.is_unknown(i) else 3 if sp.is_control(i) else 6 if sp.is_byte(i) else 1 for i in range(n)]
    return [sp.id_to_piece(i) for i in range(n)], [sp.get_score(i) for i in range(n)], types


def llama2c_tokenizer_bin(path: Path, n: int = STORIES_VOCAB) -> Path:
    """llama2.c's ``tokenizer.bin`` export of the first ``n`` Llama 2 pieces (BOS/EOS marked as run.c's export does)."""
    pieces, scores, types = _spm_pieces(n)
    raw = []
    for i, (p, ty) in enumerate(zip(pieces, types)):
        text = f"\n{p}\n" if ty == CONTROL else p.replace("\u2581", " ")
        raw.append((scores[i], text.encode()))
    with open(path, "wb") as f:
        f.write(struct.pack("<i", max(len(b) for _, b in raw)))
        for score, b in raw:
            f.write(struct.pack("<fi", score, len(b)) + b)
    return path


def spm_tokenizer_json(path: Path, n: int = STORIES_VOCAB) -> Path:
    """A ``tokenizer.json`` of the first ``n`` Llama 2 pieces, as our SentencePiece-BPE rebuild writes it."""
    pieces, scores, types = _spm_pieces(n)
    path.write_text(sentencepiece_bpe(pieces, scores, types, add_space_prefix=True, unk_id=0).to_str())
    return path


@cache
def smol_kv() -> dict:
    return read_header(fetch("smollm2"))[0]


def smol_tokenizer_kv(n: int = 2000) -> dict:
    """SmolLM2's GGUF tokenizer metadata cut to its first ``n`` tokens (merges whose parts all survive)."""
    kv = smol_kv()
    tokens = kv["tokenizer.ggml.tokens"][:n]
    keep = set(tokens)
    merges = [m for m in kv["tokenizer.ggml.merges"] if all(p in keep for p in (*m.split(" ", 1), m.replace(" ", "")))]
    out = {k: v for k, v in kv.items() if k.startswith("tokenizer.") and not isinstance(v, list)}
    out.update({"tokenizer.ggml.tokens": tokens, "tokenizer.ggml.merges": merges,
                "tokenizer.ggml.token_type": kv["tokenizer.ggml.token_type"][:n]})  # fmt: skip
    return out


def smol_tokenizer_json(folder: Path) -> Path:
    """``tokenizer.json`` + ``tokenizer_config.json`` (SmolLM2's chat template) of SmolLM2's vocabulary, cut short."""
    kv = smol_tokenizer_kv()
    pre, _ = pre_tokenizer_for(kv.get("tokenizer.ggml.pre"))
    tok = byte_level_bpe(kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.merges"], kv["tokenizer.ggml.token_type"], pre)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tokenizer.json").write_text(tok.to_str())
    tokens = kv["tokenizer.ggml.tokens"]
    config = {"bos_token": tokens[kv["tokenizer.ggml.bos_token_id"]], "eos_token": tokens[kv["tokenizer.ggml.eos_token_id"]],
              "add_bos_token": False, "chat_template": kv["tokenizer.chat_template"]}  # fmt: skip
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return folder


def stories_hf(folder: Path, **kwargs) -> Path:
    """stories260K as an HF folder: safetensors, config.json, a 512-piece tokenizer.json, a model card."""
    save_hf(stories_state(), stories_args(), folder, **kwargs)
    spm_tokenizer_json(folder / "tokenizer.json")
    (folder / "README.md").write_text(CARD)
    return folder


def shard_hf(folder: Path) -> Path:
    """Re-lay an HF folder's ``model.safetensors`` as two shards behind a real index file."""
    from safetensors.torch import load_file

    state = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    names = sorted(state)
    weight_map = {}
    for i, part in enumerate((names[::2], names[1::2])):
        shard = f"model-0000{i + 1}-of-00002.safetensors"
        save_file({k: state[k] for k in part}, str(folder / shard), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, shard))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return folder


def stories_meta(folder: Path) -> Path:
    """stories260K as Meta's params.json + consolidated.00.pth."""
    return save_meta(stories_state(), folder, args=stories_args())


def stories_llama2c(folder: Path, version: int = 0) -> Path:
    """stories260K as llama2.c (the original file for version 0) with a tokenizer.bin beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "model.bin"
    if version == 0:
        shutil.copyfile(stories_path(), target)
    else:
        save_llama2c(stories_state(), target, version=version, args=stories_args())
    llama2c_tokenizer_bin(folder / "tokenizer.bin")
    return target


def stories_lora(folder: Path) -> Path:
    """A PEFT adapter for stories260K: rank-4 factors on q/v of two layers (seeded), declaring its base."""
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    tensors = {}
    for layer in (0, 3):
        for proj, out in (("q_proj", 64), ("v_proj", 32)):
            stem = f"base_model.model.model.layers.{layer}.self_attn.{proj}"
            tensors[f"{stem}.lora_A.weight"] = torch.randn(4, 64, generator=g) * 0.02
            tensors[f"{stem}.lora_B.weight"] = torch.randn(out, 4, generator=g) * 0.02
    save_file(tensors, str(folder / "adapter_model.safetensors"))
    cfg = {"peft_type": "LORA", "base_model_name_or_path": "karpathy/tinyllamas", "r": 4, "lora_alpha": 8,
           "target_modules": ["q_proj", "v_proj"], "task_type": "CAUSAL_LM"}  # fmt: skip
    (folder / "adapter_config.json").write_text(json.dumps(cfg, indent=2))
    return folder


def smol_gguf_header(path: Path, extra: int = 0) -> tuple[bytes, int]:
    """SmolLM2's GGUF header region (key/values + tensor table, ~1.8 MB) and the file's full size."""
    src = fetch("smollm2")
    _, table = read_header(src)
    data_start = min(t.start for t in table)
    with open(src, "rb") as f:
        head = f.read(data_start + extra)
    return head, src.stat().st_size


def write_sparse(path: Path, head: bytes, size: int) -> Path:
    """``head`` then zeros up to ``size`` bytes, as a sparse file (no disk space for the body)."""
    with open(path, "wb") as f:
        f.write(head)
        if size > len(head):
            f.truncate(size)
    return path


def fingerprint_path() -> Path:
    if not FINGERPRINT.is_file():
        pytest.skip(f"{FINGERPRINT.name} is not built (fingerprints/rebuild.py)")
    return FINGERPRINT


__all__ = [
    "NORMAL",
    "USER_DEFINED",
    "fingerprint_path",
    "llama2c_tokenizer_bin",
    "shard_hf",
    "smol_gguf_header",
    "smol_kv",
    "smol_tokenizer_json",
    "smol_tokenizer_kv",
    "spm_path",
    "spm_tokenizer_json",
    "stories_hf",
    "stories_llama2c",
    "stories_lora",
    "stories_meta",
    "stories_path",
    "stories_state",
    "write_sparse",
]
