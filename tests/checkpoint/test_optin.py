"""Large optional GGUFs (Qwen2.5-Coder 0.5B, Gemma 3 270M): enable with PROVENANCE_OPTIN=1."""

from __future__ import annotations

import logging

import pytest
import torch

from provenance.checkpoint import open_checkpoint
from tests.models import fetch

pytestmark = pytest.mark.optin("the large GGUFs")


def test_qwen2_gguf() -> None:
    c = open_checkpoint(fetch("qwen2.5-coder"))
    a = c.args
    assert (a.arch, a.dim, a.n_layers, a.n_heads, a.n_kv_heads, a.hidden_dim, a.vocab_size) == (
        "qwen2",
        896,
        24,
        14,
        2,
        4864,
        151936,
    )
    assert a.qkv_bias and a.runnable and not a.tie_embeddings and a.rope_theta == 1e6
    assert c.metadata.name == "Qwen2.5 Coder 0.5B Instruct AWQ"
    assert {c.info(n).dtype for n in c.names()} == {"F32", "Q5_0", "Q8_0", "Q4_K", "Q6_K"}
    assert c.get("model.layers.0.self_attn.q_proj.bias").shape == (896,)
    assert torch.isfinite(c.get("model.layers.0.mlp.down_proj.weight")).all()  # Q6_K


@pytest.mark.slow
def test_qwen2_q_k_are_not_permuted_like_transformers() -> None:
    # llama.cpp ropes qwen2 in NeoX mode, so its converter leaves Q/K in HF order; transformers agrees
    transformers = pytest.importorskip("transformers")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    path = fetch("qwen2.5-coder")
    c = open_checkpoint(path)
    ref = transformers.AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32
    ).state_dict()
    for i in (0, 23):
        for part in ("q_proj.weight", "q_proj.bias", "k_proj.weight", "k_proj.bias", "o_proj.weight"):
            name = f"model.layers.{i}.self_attn.{part}"
            assert torch.equal(c.get(name), ref[name]), name
    assert torch.equal(c.get("model.layers.5.mlp.down_proj.weight"), ref["model.layers.5.mlp.down_proj.weight"])


def test_gemma3_gguf_loads_for_metadata_and_tensors() -> None:
    c = open_checkpoint(fetch("gemma3"))
    a = c.args
    assert (a.arch, a.dim, a.n_layers, a.n_heads, a.n_kv_heads, a.head_dim) == ("gemma3", 640, 18, 4, 1, 256)
    assert not a.runnable
    assert (c.metadata.name, c.metadata.license) == ("Gemma 3 270m", "gemma")
    assert c.quantization is not None and len(c.header["tokenizer.ggml.tokens"]) == 262144
    # projections get canonical names; gemma's norms (stored as 1 + w) keep their GGUF names
    assert c.info("model.layers.0.self_attn.q_proj.weight").shape == (1024, 640)
    assert "blk.0.attn_q_norm.weight" in c and "blk.0.ffn_norm.weight" in c
    assert c.get("model.layers.0.self_attn.o_proj.weight").shape == (640, 1024)  # Q4_K
    assert torch.isfinite(c.get("model.layers.0.mlp.down_proj.weight")).all()  # Q6_K
