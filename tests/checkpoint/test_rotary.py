"""The Q/K layout conversion is checked by its meaning: attention scores must not change.

stories260K's raw ``wq``/``wk`` (read here straight from the file's bytes) roped the way Meta and
llama2.c do it (adjacent pairs as complex numbers) must give the same q·k scores as the loader's
canonical weights roped the Hugging Face way (rotate-half).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from provenance.checkpoint import Checkpoint
from provenance.checkpoint.rotary import (
    half_to_interleaved,
    interleaved_to_half,
    llama3_rope_factors,
    llama3_scaling_from_factors,
)
from provenance.modelargs import RopeScaling


def _raw_qk(path, dim=64, layers=5, kv_dim=32, vocab=512) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer 0's wq and wk as stored: run.c order after the 28-byte header."""
    floats = np.fromfile(path, dtype="<f4", offset=28)
    wq_at = vocab * dim + layers * dim
    wk_at = wq_at + layers * dim * dim
    wq = torch.from_numpy(floats[wq_at : wq_at + dim * dim].reshape(dim, dim).copy())
    wk = torch.from_numpy(floats[wk_at : wk_at + kv_dim * dim].reshape(kv_dim, dim).copy())
    return wq, wk


def _freqs(head_dim: int, positions: torch.Tensor, theta: float = 10000.0) -> torch.Tensor:
    return torch.outer(positions.float(), 1.0 / theta ** (torch.arange(0, head_dim, 2).float() / head_dim))


def _rope_meta(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Meta's reference: pairs (2i, 2i+1) rotated as complex numbers. x: [T, H, D]."""
    xc = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(xc * torch.polar(torch.ones_like(angles), angles)[:, None, :]).flatten(-2)


def _rope_hf(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Hugging Face: pairs (i, i + D/2), ``x * cos + rotate_half(x) * sin``."""
    cos, sin = torch.cat([angles.cos()] * 2, -1)[:, None], torch.cat([angles.sin()] * 2, -1)[:, None]
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos + rotated * sin


def _scores(wq, wk, x, rope, n_heads=8, n_kv=4, head_dim=8) -> torch.Tensor:
    angles = _freqs(head_dim, torch.arange(x.shape[0]))
    q = rope((x @ wq.T).reshape(-1, n_heads, head_dim), angles)
    k = rope((x @ wk.T).reshape(-1, n_kv, head_dim), angles)
    k = k.repeat_interleave(n_heads // n_kv, dim=1)
    return torch.einsum("thd,shd->hts", q, k)


def test_canonical_layout_keeps_attention_scores(stories_path, stories: Checkpoint) -> None:
    wq_raw, wk_raw = _raw_qk(stories_path)
    x = torch.randn(16, 64, generator=torch.Generator().manual_seed(0))
    meta = _scores(wq_raw, wk_raw, x, _rope_meta)
    wq, wk = (
        stories.get("model.layers.0.self_attn.q_proj.weight"),
        stories.get("model.layers.0.self_attn.k_proj.weight"),
    )
    hf = _scores(wq, wk, x, _rope_hf)
    torch.testing.assert_close(hf, meta, atol=1e-5, rtol=1e-5)
    # the check has teeth: the raw layout roped the HF way gives different scores
    assert (_scores(wq_raw, wk_raw, x, _rope_hf) - meta).abs().max() > 0.1


def test_permutations_are_inverse_per_head() -> None:
    w = torch.arange(6 * 8 * 3, dtype=torch.float32).reshape(48, 3)
    half = interleaved_to_half(w, 6)
    assert torch.equal(half_to_interleaved(half, 6), w)
    # within head 0 (rows 0..7) interleaved rows 0,2,4,6 (first of each pair) come first
    assert half[:8, 0].tolist() == [0, 6, 12, 18, 3, 9, 15, 21]
    assert torch.equal(interleaved_to_half(w[:, 0], 6), half[:, 0])  # biases permute like rows


def test_llama3_rope_factors_match_transformers() -> None:
    # Llama 3.1 8B: head_dim 128, theta 5e5, factor 8; transformers' own llama3 rope as the reference
    transformers = pytest.importorskip("transformers")
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    scaling = RopeScaling(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=8192)
    cfg = transformers.LlamaConfig(
        hidden_size=4096, num_attention_heads=32, rope_theta=500000.0, max_position_embeddings=131072,
        rope_scaling={"rope_type": "llama3", **{k: v for k, v in vars(scaling).items() if k != "rope_type"}},
    )  # fmt: skip
    reference, _ = ROPE_INIT_FUNCTIONS["llama3"](cfg, "cpu")
    plain = 1.0 / 500000.0 ** (torch.arange(0, 128, 2).float() / 128)
    factors = llama3_rope_factors(128, 500000.0, scaling)
    torch.testing.assert_close(plain / factors, reference, rtol=1e-6, atol=0)
    assert llama3_scaling_from_factors(factors, 128, 500000.0) == scaling
