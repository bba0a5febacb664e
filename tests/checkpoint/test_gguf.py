"""GGUF: the real SmolLM2 file against independent readers, and our writer across quant types."""

from __future__ import annotations

import logging
from pathlib import Path

import gguf
import pytest
import torch

from provenance.checkpoint import Checkpoint, open_checkpoint
from provenance.checkpoint.gguf import read_header
from provenance.checkpoint.rotary import half_to_interleaved
from tests.checkpoint.util import assert_identical, max_abs_diff
from tests.exporters import save_gguf, save_hf


def _transformers_state(folder: Path, name: str) -> dict[str, torch.Tensor]:
    """transformers' own GGUF loading: HF names, rotate-half layout, its own Q/K un-permutation."""
    transformers = pytest.importorskip("transformers")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    model = transformers.AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=name, dtype=torch.float32)
    return model.state_dict()


def test_smollm2_config_and_metadata(smollm2: Checkpoint) -> None:
    a = smollm2.args
    assert (a.arch, a.dim, a.n_layers, a.n_heads, a.n_kv_heads, a.hidden_dim, a.vocab_size) == (
        "llama",
        576,
        30,
        9,
        3,
        1536,
        49152,
    )
    assert a.tie_embeddings and a.rope_theta == 100000.0 and a.norm_eps == 1e-5 and a.runnable
    assert len(smollm2.names()) == 272 and "lm_head.weight" not in smollm2
    assert smollm2.quantization == "Q4_1"
    assert smollm2.info("model.embed_tokens.weight").dtype == "Q8_0"
    assert smollm2.info("model.embed_tokens.weight").shape == (49152, 576)  # ne order reversed
    assert smollm2.info("model.norm.weight").dtype == "F32"
    m = smollm2.metadata
    assert (m.license, m.author) == ("apache-2.0", "HuggingFaceTB")
    assert m.source_fields["gguf.general.basename"] == "smollm2"
    kv = smollm2.header
    assert len(kv["tokenizer.ggml.tokens"]) == 49152 and kv["tokenizer.ggml.pre"] == "smollm"
    assert kv["tokenizer.ggml.bos_token_id"] == 1 and isinstance(kv["tokenizer.ggml.merges"][0], str)


def test_header_parser_agrees_with_gguf_reader(smollm2_path: Path) -> None:
    kv, tensors = read_header(smollm2_path)
    reader = gguf.GGUFReader(smollm2_path)
    assert kv == {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert [(t.name, t.start, t.n_bytes, t.qtype) for t in tensors] == [
        (t.name, t.data_offset, t.n_bytes, t.tensor_type) for t in reader.tensors
    ]


@pytest.mark.slow
def test_smollm2_matches_transformers_gguf_loader(smollm2: Checkpoint, smollm2_path: Path) -> None:
    ref = _transformers_state(smollm2_path.parent, smollm2_path.name)
    ref.pop("lm_head.weight")  # transformers materialises the tied head
    assert max_abs_diff(smollm2, ref) == 0.0  # Q/K un-permutation and dequantization, bit for bit
    assert_identical(smollm2, {n: ref[n] for n in smollm2.names()})


@pytest.mark.slow
def test_smollm2_gguf_and_safetensors_export_agree(smollm2: Checkpoint, tmp_path: Path) -> None:
    folder = save_hf(smollm2, None, tmp_path / "smollm2-f32")
    exported = open_checkpoint(folder)
    assert exported.format == "hf-safetensors" and exported.args == smollm2.args
    assert_identical(exported, dict(smollm2.items()))


@pytest.mark.parametrize("qtype", ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"])
def test_exports_read_like_transformers_reads_them(
    qtype: str, stories: Checkpoint, stories_state: dict, tmp_path: Path
) -> None:
    path = save_gguf(stories, tmp_path / f"stories-{qtype}.gguf", qtype)
    ours = open_checkpoint(path)
    assert ours.args == stories.args
    assert ours.info("model.layers.0.self_attn.q_proj.weight").dtype == qtype
    ref = _transformers_state(tmp_path, path.name)
    assert_identical(ours, {n: ref[n] for n in ours.names()})
    if qtype == "F32":
        assert_identical(ours, stories_state)


def test_llama_q_k_are_stored_permuted(stories: Checkpoint, tmp_path: Path) -> None:
    # what llama.cpp's converter writes for llama-arch: Meta's interleaved rows, read back raw here
    path = save_gguf(stories, tmp_path / "s.gguf", "F32")
    raw = {t.name: t for t in gguf.GGUFReader(path).tensors}
    q = stories.get("model.layers.0.self_attn.q_proj.weight")
    k = stories.get("model.layers.0.self_attn.k_proj.weight")
    assert torch.equal(torch.from_numpy(raw["blk.0.attn_q.weight"].data.copy()), half_to_interleaved(q, 8))
    assert torch.equal(torch.from_numpy(raw["blk.0.attn_k.weight"].data.copy()), half_to_interleaved(k, 4))
    assert not torch.equal(half_to_interleaved(q, 8), q)


def test_declared_base_models_round_trip(stories: Checkpoint, tmp_path: Path) -> None:
    from provenance.checkpoint.base import DeclaredMetadata

    meta = DeclaredMetadata(
        name="Tiny Stories Tune", base_model=["karpathy/tinyllamas", "meta-llama/Llama-2-7b"], license="mit"
    )
    c = open_checkpoint(save_gguf(stories, tmp_path / "m.gguf", "F16", metadata=meta))
    assert c.metadata.base_model == ["karpathy/tinyllamas", "meta-llama/Llama-2-7b"]
    assert (c.metadata.name, c.metadata.license) == ("Tiny Stories Tune", "mit")
    assert c.metadata.source_fields["gguf.general.base_model.1.organization"] == "meta-llama"


def test_embedded_tokenizer_is_wired(smollm2: Checkpoint) -> None:
    tok = smollm2.tokenizer
    assert tok is not None and len(tok.tokens) == 49152
    assert tok.tokens[:3] == smollm2.header["tokenizer.ggml.tokens"][:3]


def test_llama31_rope_scaling_travels_as_rope_freqs(stories: Checkpoint, tmp_path: Path) -> None:
    # llama.cpp stores Llama 3.1 scaling as per-frequency divisors; the loader recovers the factor
    from provenance.modelargs import ModelArgs, RopeScaling

    scaling = RopeScaling(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=8192)
    args = ModelArgs(**{**stories.args.to_dict(), "rope_scaling": scaling})
    path = save_gguf(dict(stories.items()), tmp_path / "scaled.gguf", "F32", args=args)
    c = open_checkpoint(path)
    assert c.args.rope_scaling == scaling and "rope_freqs.weight" not in c
    # stories' head_dim 8 at theta 1e4 puts its lowest frequency in the interpolated band
    divisors = torch.from_numpy(next(t for t in gguf.GGUFReader(path).tensors if t.name == "rope_freqs.weight").data)
    assert 1.0 < divisors[-1] < 8.0 and divisors[0] == 1.0
