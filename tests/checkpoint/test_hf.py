"""Hugging Face folders: safetensors (single, sharded, lone file), pytorch_model.bin, names, metadata."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from provenance.checkpoint import Checkpoint, open_checkpoint
from provenance.errors import FormatError
from provenance.modelargs import ModelArgs
from tests.checkpoint.util import assert_identical
from tests.exporters import save_hf


def _write(folder: Path, state: dict, args: ModelArgs, name: str = "model.safetensors") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(args.to_hf_config()))
    if name.endswith(".bin"):
        torch.save(state, folder / name)
    else:
        save_file(state, str(folder / name))
    return folder


@pytest.mark.parametrize("prefix", ["", "language_model.", "model.language_model."])
def test_name_variants_map_to_canonical(prefix: str, stories: Checkpoint, stories_state: dict, tmp_path: Path) -> None:
    def rename(name: str) -> str:
        if prefix == "":  # a bare LlamaModel: no "model." prefix
            return name.removeprefix("model.")
        return prefix + name if prefix == "language_model." else name.replace("model.", prefix, 1)

    state = {rename(k): v for k, v in stories_state.items()}
    assert_identical(open_checkpoint(_write(tmp_path / "m", state, stories.args)), stories_state)


def test_pytorch_model_bin(stories: Checkpoint, stories_state: dict, tmp_path: Path) -> None:
    c = open_checkpoint(_write(tmp_path / "m", stories_state, stories.args, "pytorch_model.bin"))
    assert c.format == "hf-bin"
    assert_identical(c, stories_state)


class Payload:
    """An object a state dict has no business holding: unpickling it means importing test code."""

    def __reduce__(self):  # what a malicious pickle does: call something on load
        return (os.system, ("echo pwned > pwned.txt",))


def test_pickle_that_needs_more_than_tensors_is_refused(stories: Checkpoint, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = _write(
        tmp_path / "m", {"model.norm.weight": torch.ones(64), "x": Payload()}, stories.args, "pytorch_model.bin"
    )
    with pytest.raises(FormatError, match="weights_only") as err:
        open_checkpoint(folder)
    assert "pytorch_model.bin" in str(err.value)
    assert not (tmp_path / "pwned.txt").exists()


def test_lone_safetensors_file_with_config_beside(stories: Checkpoint, stories_state: dict, tmp_path: Path) -> None:
    folder = _write(tmp_path / "m", stories_state, stories.args, "weights.safetensors")
    assert_identical(open_checkpoint(folder / "weights.safetensors"), stories_state)


def test_bf16_is_upcast_exactly(stories: Checkpoint, stories_state: dict, tmp_path: Path) -> None:
    c = open_checkpoint(save_hf(stories, None, tmp_path / "bf16", dtype=torch.bfloat16))
    assert c.quantization == "BF16" and c.info("model.norm.weight").dtype == "BF16"
    assert_identical(c, {k: v.to(torch.bfloat16).float() for k, v in stories_state.items()})


def test_stored_head_of_a_tied_model_is_ignored(stories: Checkpoint, stories_state: dict, tmp_path: Path) -> None:
    state = {**stories_state, "lm_head.weight": torch.zeros(512, 64)}
    c = open_checkpoint(_write(tmp_path / "m", state, stories.args))
    assert "lm_head.weight" not in c and c.args.tie_embeddings


def test_declared_metadata(stories: Checkpoint, tmp_path: Path) -> None:
    card = {"base_model": ["meta-llama/Llama-3.1-8B"], "license": "other", "license_name": "llama3.1",
            "license_link": "LICENSE", "model_name": "Stories Tune"}  # fmt: skip
    folder = save_hf(stories, None, tmp_path / "m", card=card, metadata={"source": "unit"})
    (folder / "LICENSE").write_text("LLAMA 3.1 COMMUNITY LICENSE AGREEMENT\n")
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "_name_or_path": "meta-llama/Llama-3.1-8B"}))
    m = open_checkpoint(folder).metadata
    assert m.base_model == ["meta-llama/Llama-3.1-8B"]
    assert (m.name, m.license, m.license_name) == ("Stories Tune", "other", "llama3.1")
    assert m.license_file == str(folder / "LICENSE")
    assert m.source_fields["card.license_link"] == "LICENSE"
    assert m.source_fields["config._name_or_path"] == "meta-llama/Llama-3.1-8B"
    assert m.source_fields["safetensors.source"] == "unit"


def test_base_model_as_a_string(stories: Checkpoint, tmp_path: Path) -> None:
    folder = save_hf(stories, None, tmp_path / "m", card={"base_model": "karpathy/tinyllamas"})
    assert open_checkpoint(folder).metadata.base_model == ["karpathy/tinyllamas"]


def test_config_that_contradicts_the_tensors(stories: Checkpoint, stories_state: dict, tmp_path: Path) -> None:
    args = ModelArgs(**{**stories.args.to_dict(), "hidden_dim": 4096})
    with pytest.raises(FormatError, match="config implies"):
        open_checkpoint(_write(tmp_path / "m", stories_state, args))


def test_transformers_loads_our_export(stories: Checkpoint, stories_state: dict, tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    folder = save_hf(stories, None, tmp_path / "m")
    model = transformers.AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in stories_state.items())
