"""PEFT LoRA adapters: reading, declared base, and merging to the weights PEFT itself produces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from provenance.checkpoint import Checkpoint, merge_lora, open_checkpoint
from provenance.errors import FormatError, UnsupportedError
from tests.exporters import save_hf

Q0 = "model.layers.0.self_attn.q_proj.weight"
Q1 = "model.layers.1.self_attn.q_proj.weight"


def _adapter(folder: Path, tensors: dict[str, torch.Tensor], **config) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {"peft_type": "LORA", "base_model_name_or_path": "karpathy/tinyllamas", "r": 4, "lora_alpha": 4,
           "target_modules": ["q_proj"], **config}  # fmt: skip
    (folder / "adapter_config.json").write_text(json.dumps(cfg))
    save_file(
        {f"base_model.model.{k}": v.contiguous() for k, v in tensors.items()}, str(folder / "adapter_model.safetensors")
    )
    return folder


def _pair(a: torch.Tensor, b: torch.Tensor, layer: int = 0) -> dict[str, torch.Tensor]:
    stem = f"model.layers.{layer}.self_attn.q_proj"
    return {f"{stem}.lora_A.weight": a, f"{stem}.lora_B.weight": b}


def _svd_factors(delta: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    u, s, vh = torch.linalg.svd(delta)
    return vh[:r].contiguous(), (u[:, :r] * s[:r]).contiguous()  # A [r, in], B [out, r]


def test_adapter_from_real_tensors_merges_to_the_expected_weights(
    stories: Checkpoint, stories_state: dict, tmp_path: Path
) -> None:
    # a rank-4 adapter that moves layer 0's q_proj toward layer 1's: factors from the SVD of the real difference
    w0, w1 = stories_state[Q0], stories_state[Q1]
    a, b = _svd_factors(w1 - w0, 4)
    folder = _adapter(tmp_path / "ad", _pair(a, b / 2), lora_alpha=8)
    adapter = open_checkpoint(folder)
    assert adapter.format == "lora" and adapter.args is None
    info = adapter.adapter
    assert (info.base_model, info.r, info.alpha, info.target_modules, list(info.pairs)) == (
        "karpathy/tinyllamas",
        4,
        8.0,
        ["q_proj"],
        [Q0],
    )
    assert adapter.metadata.base_model == ["karpathy/tinyllamas"]
    merged = merge_lora(stories, adapter)
    assert merged.names() == stories.names() and merged.args == stories.args
    expected = w0 + (8 / 4) * (b / 2) @ a
    assert torch.equal(merged.get(Q0), expected)
    assert (merged.get(Q0) - w1).norm() < 0.9 * (w0 - w1).norm()  # really moved toward layer 1
    for name in stories.names():
        if name != Q0:
            assert torch.equal(merged.get(name), stories_state[name]), name


def test_rslora_and_fan_in_fan_out(stories: Checkpoint, stories_state: dict, tmp_path: Path) -> None:
    w0 = stories_state[Q0]
    a, b = _svd_factors(stories_state[Q1] - w0, 4)
    tensors = _pair(a, b)
    rs = merge_lora(stories, open_checkpoint(_adapter(tmp_path / "rs", tensors, lora_alpha=8, use_rslora=True)))
    assert torch.equal(rs.get(Q0), w0 + (8 / 4**0.5) * b @ a)
    # Conv1D-style (fan_in_fan_out) layers store weights as [in, out]: PEFT's delta is then (B @ A)^T
    fan = merge_lora(stories, open_checkpoint(_adapter(tmp_path / "fan", tensors, fan_in_fan_out=True)))
    assert torch.allclose(fan.get(Q0), w0 + (b @ a).T, atol=1e-6)


def test_adapter_errors(stories: Checkpoint, tmp_path: Path) -> None:
    a = torch.zeros(4, 64)
    bad = open_checkpoint(_adapter(tmp_path / "x", _pair(a, a.T, layer=9)))
    with pytest.raises(FormatError, match="base model lacks"):
        merge_lora(stories, bad)
    with pytest.raises(FormatError, match="A/B pairs"):
        open_checkpoint(_adapter(tmp_path / "half", {"model.layers.0.self_attn.q_proj.lora_A.weight": a}))
    with pytest.raises(UnsupportedError, match="DoRA"):
        open_checkpoint(_adapter(tmp_path / "dora", {}, use_dora=True))
    wrong = open_checkpoint(_adapter(tmp_path / "shape", _pair(torch.zeros(4, 32), torch.zeros(64, 4))))
    with pytest.raises(FormatError, match="do not fit"):
        merge_lora(stories, wrong).get(Q0)


@pytest.mark.parametrize("use_rslora", [False, True])
def test_matches_peft_merge_and_unload(use_rslora: bool, stories: Checkpoint, tmp_path: Path) -> None:
    peft = pytest.importorskip("peft")
    transformers = pytest.importorskip("transformers")
    base_dir = save_hf(stories, None, tmp_path / "base")
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    config = peft.LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj", "embed_tokens"],
                             lora_dropout=0.0, use_rslora=use_rslora)  # fmt: skip
    tuned = peft.get_peft_model(model, config)
    opt = torch.optim.AdamW([p for p in tuned.parameters() if p.requires_grad], lr=1e-2)
    ids = torch.randint(0, 512, (2, 32))
    for _ in range(3):  # a few real training steps, so that B is no longer zero
        tuned(input_ids=ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad()
    tuned.save_pretrained(str(tmp_path / "adapter"))
    adapter = open_checkpoint(tmp_path / "adapter")
    assert adapter.adapter.base_model == str(base_dir) and adapter.adapter.use_rslora is use_rslora
    merged = merge_lora(open_checkpoint(base_dir), adapter)
    reference = tuned.merge_and_unload().state_dict()
    changed = 0
    for name, value in merged.items():
        assert torch.equal(value, reference[name]), name
        changed += not torch.equal(value, stories.get(name))
    assert changed == 1 + 3 * 5  # embeddings + q, v, down of five layers
