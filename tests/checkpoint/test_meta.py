"""Meta's original layout: params.json rules and model-parallel shard merging."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from provenance.checkpoint import Checkpoint, open_checkpoint
from provenance.checkpoint.meta import ffn_hidden_dim, params_to_args
from provenance.errors import FormatError
from tests.checkpoint.util import assert_identical
from tests.exporters import save_meta


@pytest.mark.parametrize(
    ("release", "dim", "multiple_of", "multiplier", "hidden"),
    [  # params.json values of Meta's releases and the intermediate_size of their HF configs
        ("LLaMA-1 7B", 4096, 256, None, 11008),
        ("LLaMA-1 65B", 8192, 256, None, 22016),
        ("Llama 2 70B", 8192, 4096, 1.3, 28672),
        ("Llama 3 8B", 4096, 1024, 1.3, 14336),
        ("Llama 3.1 405B", 16384, 4096, 1.2, 53248),
        ("Llama 3.2 1B", 2048, 256, 1.5, 8192),
    ],
)
def test_ffn_hidden_dim_rule(release: str, dim: int, multiple_of: int, multiplier: float | None, hidden: int) -> None:
    assert ffn_hidden_dim(dim, multiple_of, multiplier) == hidden, release


def test_llama31_params() -> None:
    params = {  # Llama 3.1 8B's params.json
        "dim": 4096,
        "ffn_dim_multiplier": 1.3,
        "multiple_of": 1024,
        "n_heads": 32,
        "n_kv_heads": 8,
        "n_layers": 32,
        "norm_eps": 1e-05,
        "rope_theta": 500000.0,
        "use_scaled_rope": True,
        "vocab_size": 128256,
    }
    a = params_to_args(params)
    assert (a.hidden_dim, a.n_kv_heads, a.head_dim, a.rope_theta, a.vocab_size) == (14336, 8, 128, 500000.0, 128256)
    assert a.rope_scaling is not None and a.rope_scaling.factor == 8.0
    assert a.rope_scaling.original_max_position_embeddings == 8192


def test_two_shards_are_split_as_meta_splits_them(stories: Checkpoint, stories_state: dict, tmp_path: Path) -> None:
    folder = save_meta(stories, tmp_path / "meta", n_shards=2)
    s0 = torch.load(folder / "consolidated.00.pth", weights_only=True)
    s1 = torch.load(folder / "consolidated.01.pth", weights_only=True)
    assert s0["layers.0.attention.wq.weight"].shape == (32, 64)  # column-parallel: output rows
    assert s0["layers.0.attention.wk.weight"].shape == (16, 64)  # two of the four KV heads
    assert s0["layers.0.attention.wo.weight"].shape == (64, 32)  # row-parallel: input columns
    assert s0["layers.0.feed_forward.w2.weight"].shape == (64, 86)
    assert s0["tok_embeddings.weight"].shape == (512, 32)  # ParallelEmbedding splits the dimension
    assert torch.equal(s0["norm.weight"], s1["norm.weight"])  # replicated
    merged = open_checkpoint(folder)
    assert merged.format == "meta"
    assert_identical(merged, stories_state)


def test_vocab_parallel_embedding_is_merged_by_rows(stories: Checkpoint, stories_state: dict, tmp_path: Path) -> None:
    # Llama 3's VocabParallelEmbedding splits the vocabulary instead of the dimension
    folder = save_meta(stories, tmp_path / "meta", n_shards=2)
    embed = stories_state["model.embed_tokens.weight"]
    for i, rows in enumerate(embed.chunk(2, dim=0)):
        path = folder / f"consolidated.{i:02d}.pth"
        shard = torch.load(path, weights_only=True)
        shard["tok_embeddings.weight"] = rows.clone()
        torch.save(shard, path)
    assert_identical(open_checkpoint(folder), stories_state)


def test_inconsistent_shards_are_refused(stories: Checkpoint, tmp_path: Path) -> None:
    folder = save_meta(stories, tmp_path / "meta", n_shards=2)
    path = folder / "consolidated.01.pth"
    shard = torch.load(path, weights_only=True)
    shard["layers.0.attention.wq.weight"] = shard["layers.0.attention.wq.weight"][:8].clone()
    torch.save(shard, path)
    with pytest.raises(FormatError, match="disagree"):
        open_checkpoint(folder)
    (folder / "consolidated.01.pth").rename(folder / "consolidated.03.pth")
    with pytest.raises(FormatError, match="numbered"):
        open_checkpoint(folder)
