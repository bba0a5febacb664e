"""Numerical junk: NaN/Inf weights, zero-size tensors, shapes or numbers the config cannot have.

Each gives a clear one-line error naming the file (exit 2) from every command that reads the
weights, never a crash, a NaN score or a verdict computed from garbage. ``inspect`` describes
without reading weights, so it only refuses what the header alone shows to be wrong.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from provenance.checkpoint import open_checkpoint
from provenance.errors import FormatError
from provenance.evidence.weights.compare import compare
from tests.exporters import save_gguf, save_hf, save_llama2c
from tests.hostile import corpus
from tests.hostile.conftest import run_cli

Q2 = "model.layers.2.self_attn.q_proj.weight"


def _state(**edits) -> dict[str, torch.Tensor]:
    state = {k: v.clone() for k, v in corpus.stories_state().items()}
    for fn in edits.values():
        fn(state)
    return state


def _nan(state: dict) -> None:
    state[Q2][3, 5] = float("nan")


def _inf(state: dict) -> None:
    state["model.embed_tokens.weight"][7, 1] = float("-inf")


@pytest.fixture(scope="module")
def junk(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("junk")
    args = corpus.stories_args()
    out = {
        "reference": corpus.stories_hf(root / "reference"),
        "nan-hf": save_hf(_state(a=_nan), args, root / "nan-hf"),
        "inf-gguf": save_gguf(_state(a=_inf), root / "inf.gguf", "F32", args=args),
        "nan-gguf-q8": save_gguf(_state(a=_nan), root / "nan-q8.gguf", "Q8_0", args=args),
        "inf-llama2c": save_llama2c(_state(a=_inf), root / "inf.bin", args=args),
    }
    empty = _state()
    for k in list(empty):
        if "mlp" in k:
            empty[k] = empty[k][:0] if "down" not in k else empty[k][:, :0]
    out["empty-mlp"] = save_hf(empty, dataclasses.replace(args, hidden_dim=0), root / "empty-mlp")
    wide = save_hf(corpus.stories_state(), args, root / "wrong-config")
    cfg = json.loads((wide / "config.json").read_text())
    (wide / "config.json").write_text(json.dumps({**cfg, "intermediate_size": 256}))
    out["wrong-config"] = wide
    # a config.json that disagrees with the weights beside it, one number at a time
    for name, edit in {"nan-theta": {"rope_theta": float("nan")}, "wrong-vocab": {"vocab_size": 600},
                       "wrong-hidden": {"hidden_size": 80}, "shallow-config": {"num_hidden_layers": 4}}.items():
        out[name] = save_hf(corpus.stories_state(), args, root / name)
        (out[name] / "config.json").write_text(json.dumps({**cfg, **edit}))
    return out


@pytest.mark.parametrize("name", ["nan-hf", "inf-gguf", "nan-gguf-q8", "inf-llama2c"])
def test_non_finite_weights_are_refused_when_read(name: str, junk: dict[str, Path]) -> None:
    path = junk[name]
    ckpt = open_checkpoint(path)  # the header is fine: opening works, reading the tensor does not
    bad = Q2 if "nan" in name else "model.embed_tokens.weight"
    with pytest.raises(FormatError, match=r"holds \d+ NaN or infinite values") as err:  # Q8_0: a whole block
        ckpt.get(bad)
    assert bad in str(err.value) and err.value.path is not None
    for a, b in ((junk["reference"], path), (path, junk["reference"])):
        with pytest.raises(FormatError, match="NaN or infinite"):
            compare(a, b)


def test_non_finite_weights_through_the_cli(junk: dict[str, Path], registry: dict[str, str]) -> None:
    path = junk["nan-hf"]
    assert run_cli("inspect", str(path), "--format", "json").code == 0  # inspect reads no weights
    run_cli("audit", str(path), "--format", "json", env=registry).refused("model.safetensors", Q2, "NaN")
    run_cli("compare", str(junk["reference"]), str(path), "--format", "json").refused("model.safetensors", "NaN")
    out = path.parent / "nan.fingerprint.safetensors"
    run_cli("fingerprint", str(path), "-o", str(out)).refused("model.safetensors", "NaN")
    assert not out.exists()


@pytest.mark.parametrize(("name", "message"), [("empty-mlp", "empty model: hidden_dim 0"),
                                               ("wrong-config", "the config implies"),
                                               ("nan-theta", "invalid rope_theta nan"),
                                               ("wrong-vocab", "vocab_size 600, the embedding has 512 rows"),
                                               ("wrong-hidden", "has shape [512, 64], the config implies [512, 80]"),
                                               ("shallow-config", "4 layers, the file holds weights of layer 4")])  # fmt: skip
def test_zero_size_and_inconsistent_models(name: str, message: str, junk: dict[str, Path],
                                           registry: dict[str, str]) -> None:
    path = junk[name]
    for args in (["inspect", str(path)], ["audit", str(path), "--format", "json"],
                 ["compare", str(junk["reference"]), str(path)]):  # fmt: skip
        run_cli(*args, env=registry).refused(str(path), message)


def test_huge_but_finite_weights_still_compare(tmp_path: Path) -> None:
    """Finite extremes are legal float32: normalisation keeps the evidence meaningful (no overflow)."""
    state = _state()
    state[Q2] *= 1e18
    state["model.embed_tokens.weight"][5, 3] = 3e38
    b = save_hf(state, corpus.stories_args(), tmp_path / "huge")
    result = compare(corpus.stories_hf(tmp_path / "ref"), b)
    assert result.verdict == "derived" and result.score > 0.99
