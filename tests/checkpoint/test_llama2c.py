"""llama2.c checkpoints: the real stories260K file, and the same weights written in every format."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path

import pytest
import torch

from provenance.checkpoint import Checkpoint, open_checkpoint
from provenance.modelargs import ModelArgs
from tests.checkpoint.util import assert_identical
from tests.exporters import save_gguf, save_hf, save_llama2c, save_meta


def test_stories260k_config(stories: Checkpoint) -> None:
    a = stories.args
    assert (a.dim, a.n_layers, a.n_heads, a.n_kv_heads, a.vocab_size, a.hidden_dim) == (64, 5, 8, 4, 512, 172)
    assert a.tie_embeddings and a.head_dim == 8 and a.max_seq_len == 512
    assert stories.format == "llama2c" and stories.quantization == "F32"
    assert stories.n_params == a.n_params  # every tensor the config implies, nothing else
    assert stories.files[0].sha256.startswith("9414d5a2")


def test_legacy_export_reproduces_the_original_file(stories_path: Path, stories: Checkpoint, tmp_path: Path) -> None:
    # reading (interleaved -> rotate-half) and writing (back) are exact inverses on real data
    out = save_llama2c(stories, tmp_path / "copy.bin", version=0)
    assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(stories_path.read_bytes()).digest()


WRITERS = {
    "hf": lambda c, d: save_hf(c, None, d / "hf"),
    "hf-3-shards": lambda c, d: save_hf(c, None, d / "hf3", shards=3),
    "meta-2-shards": lambda c, d: save_meta(c, d / "meta", 2),
    "gguf-f32": lambda c, d: save_gguf(c, d / "m.gguf", "F32"),
    "llama2c-v1": lambda c, d: save_llama2c(c, d / "v1.bin", version=1),
}


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_same_weights_in_every_format(fmt: str, stories: Checkpoint, stories_state: dict, tmp_path: Path) -> None:
    reopened = open_checkpoint(WRITERS[fmt](stories, tmp_path))
    assert_identical(reopened, stories_state)
    # Meta's params.json has no token ids; everything else about the architecture survives
    assert reopened.args == ModelArgs(**{**stories.args.to_dict(), **_token_ids(reopened.args)})


def _token_ids(args: ModelArgs) -> dict:
    return {"bos_token_id": args.bos_token_id, "eos_token_id": args.eos_token_id}


def test_version2_q8_0_is_group_quantized(stories: Checkpoint, stories_state: dict, tmp_path: Path) -> None:
    q = open_checkpoint(save_llama2c(stories, tmp_path / "q80.bin", version=2))
    assert q.quantization == "Q8_0" and q.args == stories.args
    for name, value in q.items():
        ref = stories_state[name]
        if value.dim() == 1:
            assert torch.equal(value, ref), name  # norms stay float32
            continue
        assert q.info(name).dtype == "Q8_0"
        # symmetric int8 per group of 64: error at most half a step, step = group max / 127
        groups = ref.reshape(-1, 64)
        step = groups.abs().amax(dim=1, keepdim=True) / 127
        err = (value.reshape(-1, 64) - groups).abs()
        assert (err <= step / 2 + 1e-6).all(), name
        assert err.max() > 0, name  # really quantized


def test_unshared_classifier_legacy_and_v1(stories: Checkpoint, stories_state: dict, tmp_path: Path) -> None:
    # a separate classifier: negative vocab_size in the legacy header, flag 0 in v1; it follows the rope tables
    state = dict(stories_state)
    state["lm_head.weight"] = state["model.embed_tokens.weight"].flip(0).contiguous()
    args = ModelArgs(**{**stories.args.to_dict(), "tie_embeddings": False})
    for version in (0, 1):
        c = open_checkpoint(save_llama2c(state, tmp_path / f"untied{version}.bin", version=version, args=args))
        assert not c.args.tie_embeddings
        assert_identical(c, state)


def test_tokenizer_bin_beside_the_model_is_loaded(stories_path: Path, tmp_path: Path) -> None:
    # a llama2.c tokenizer.bin (max length, then score, length, bytes per token) from Meta's SPM model
    spm = pytest.importorskip("sentencepiece")
    model = stories_path.parents[1] / "tokenizers" / "llama2-sentencepiece.model"
    if not model.is_file():
        pytest.skip("../shared/data/tokenizers/llama2-sentencepiece.model is absent")
    sp = spm.SentencePieceProcessor(model_file=str(model))
    pieces = [sp.id_to_piece(i).replace("\u2581", " ").encode() for i in range(512)]
    body = b"".join(struct.pack("<fi", sp.get_score(i), len(p)) + p for i, p in enumerate(pieces))
    (tmp_path / "tokenizer.bin").write_bytes(struct.pack("<i", max(map(len, pieces))) + body)
    (tmp_path / "model.bin").write_bytes(stories_path.read_bytes())
    tok = open_checkpoint(tmp_path / "model.bin").tokenizer
    if tok is None:
        pytest.skip("provenance.tokenizer.files has no llama2.c reader yet")
    assert len(tok.tokens) == 512 and tok.tokens[300] == sp.id_to_piece(300)
