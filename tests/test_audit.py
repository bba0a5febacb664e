"""`provenance audit` end to end on real models: SmolLM2, zoo descendants, real Meta tokenizer, real cards."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from provenance.audit import audit
from provenance.checkpoint import open_checkpoint
from provenance.cli import cli
from provenance.engine.model import Transformer
from provenance.modelargs import ModelArgs
from tests.exporters import save_hf
from tests.models import SHARED, stories260k
from tests.zoo import zoo_model

LLAMA2_TOKENIZER = SHARED / "data" / "tokenizers" / "llama2-sentencepiece.model"


@pytest.mark.slow
def test_smollm2_is_independent_of_meta_with_no_risk(smollm2_audit: dict) -> None:
    lin = smollm2_audit["lineage"]
    # the shipped registry holds SmolLM2 itself: the weights match it, and nothing points at Meta
    assert lin["verdict"] == "derived" and lin["base"] == "SmolLM2-135M-Instruct"
    assert lin["meta_lineage"] == "independent"
    assert lin["p_value"] < 1e-20
    assert smollm2_audit["license"]["declared"] == "apache-2.0"
    assert smollm2_audit["license"]["concluded"] == "apache-2.0"
    # the one finding: gemma-3-270m's fingerprint holds no canary results (no forward pass for its
    # architecture here), so imitation of it is not checked
    assert smollm2_audit["risk"] == "low"
    raised = [f for f in smollm2_audit["findings"] if f["severity"] != "none"]
    assert [(f["id"], f["severity"]) for f in raised] == [("PROV-LIN-007", "low")]
    assert "gemma-3-270m (the reference fingerprint has no behavioural results)" in raised[0]["message"]
    kinds = {e["kind"] for e in lin["evidence"]}
    assert kinds >= {"metadata", "architecture", "tokenizer", "weights", "behaviour"}
    # the other shipped references are rejected by weight evidence
    others = {r["name"]: r["verdict"] for r in lin["references"] if r["name"] != "SmolLM2-135M-Instruct"}
    assert others and all(v != "derived" for v in others.values())


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smol-ft-heavy", "smol-rotated"])
def test_zoo_descendant_is_derived_from_smollm2_with_apache_obligations(name: str) -> None:
    result = audit(zoo_model(name), behaviour=False).to_dict()
    assert result["lineage"]["verdict"] == "derived"
    assert result["lineage"]["base"] == "SmolLM2-135M-Instruct"
    assert result["license"]["concluded"] == "apache-2.0"
    assert {o["kind"] for o in result["license"]["obligations"]} >= {"attribution", "state-changes"}
    # the zoo folder declares no license: the reference's terms apply, which is a low finding
    assert "PROV-LIC-014" in {f["id"] for f in result["findings"]}
    assert result["risk"] == "low"


@pytest.mark.slow
def test_lone_lora_adapter_is_unverified_and_names_its_base() -> None:
    """Deltas alone carry no lineage: never "independent", and the base to audit is named."""
    result = audit(zoo_model("smol-lora")).to_dict()
    assert result["lineage"]["verdict"] == "unverified"
    assert result["lineage"]["base"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    lin005 = next(f for f in result["findings"] if f["id"] == "PROV-LIN-005")
    assert lin005["severity"] == "medium" and "HuggingFaceTB/SmolLM2-135M-Instruct" in lin005["action"]
    assert result["risk"] == "medium"
    assert any("no forward pass for a LoRA adapter" in n for n in result["notes"])
    # merged into its base, the same weights are derived from SmolLM2
    merged = audit(zoo_model("smol-lora-merged"), behaviour=False).to_dict()
    assert merged["lineage"]["verdict"] == "derived" and merged["lineage"]["base"] == "SmolLM2-135M-Instruct"


def _tiny_model(folder: Path, vocab: int, seed: int, card: dict | None = None) -> Path:
    """A freshly initialised small LLaMA (independent of every reference), saved as an HF folder."""
    torch.manual_seed(seed)
    args = ModelArgs(dim=64, n_layers=2, n_heads=4, n_kv_heads=4, vocab_size=vocab, hidden_dim=172, head_dim=16,
                     norm_eps=1e-5, max_seq_len=512)
    model = Transformer(args)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.02)
    return save_hf(model.state_dict(), args, folder, card=card)


@pytest.mark.skipif(not LLAMA2_TOKENIZER.exists(), reason="../shared (real LLaMA-2 tokenizer) absent")
def test_real_llama2_tokenizer_alone_is_unverified_never_derived(tmp_path: Path) -> None:
    folder = _tiny_model(tmp_path / "m", 32000, seed=1)
    shutil.copy(LLAMA2_TOKENIZER, folder / "tokenizer.model")
    result = audit(folder, behaviour=False).to_dict()
    lin = result["lineage"]
    assert lin["verdict"] == "unverified"
    assert lin["meta_lineage"] == "unverified"
    tok = next(e for e in lin["evidence"] if e["kind"] == "tokenizer")
    assert tok["supports"] == "derived" and "identical" in tok["summary"]
    lin001 = next(f for f in result["findings"] if f["id"] == "PROV-LIN-001")
    assert "registry add" in (lin001["action"] or "")
    assert all(r["verdict"] != "derived" for r in lin["references"])


LLAMA2_APACHE_CARD = {"base_model": "meta-llama/Llama-2-7b-hf", "license": "apache-2.0"}


def test_declared_llama2_base_with_apache_license_is_a_conflict(tmp_path: Path) -> None:
    folder = _tiny_model(tmp_path / "m", 512, seed=2, card=LLAMA2_APACHE_CARD)
    result = audit(folder, behaviour=False).to_dict()
    ids = {f["id"]: f for f in result["findings"]}
    assert "PROV-LIC-003" in ids
    conflict = ids["PROV-LIC-003"]
    assert conflict["severity"] == "high"
    assert conflict["anchor"]["path"] == "README.md" and conflict["anchor"]["line"] is not None
    assert result["license"]["declared"] == "apache-2.0"
    assert result["license"]["concluded"] == "llama2"
    # metadata alone never makes a derivative: no Llama 2 fingerprint installed -> unverified
    assert result["lineage"]["verdict"] == "unverified"


@pytest.mark.skipif(stories260k() is None, reason="../shared (stories260K) absent")
def test_declared_llama2_base_on_known_other_weights_is_contradicted(tmp_path: Path) -> None:
    with open_checkpoint(stories260k()) as ckpt:
        folder = save_hf(ckpt, None, tmp_path / "m", card=LLAMA2_APACHE_CARD)
    result = audit(folder, behaviour=False).to_dict()
    assert result["lineage"]["verdict"] == "derived" and result["lineage"]["base"] == "stories260K"
    assert result["license"]["concluded"] == "mit"
    ids = {f["id"] for f in result["findings"]}
    assert {"PROV-LIN-004", "PROV-LIC-015"} <= ids


@pytest.mark.parametrize(("fail_on", "code"), [("none", 0), ("low", 1), ("medium", 1), ("high", 1), ("critical", 0)])
def test_exit_code_follows_fail_on_and_not_the_report(tmp_path: Path, fail_on: str, code: int) -> None:
    folder = _tiny_model(tmp_path / "m", 512, seed=2, card=LLAMA2_APACHE_CARD)
    out = tmp_path / "r.json"
    res = CliRunner().invoke(cli, ["--quiet", "audit", str(folder), "--no-behaviour", "--format", "json",
                                   "-o", str(out), "--fail-on", fail_on])
    assert res.exit_code == code, res.output
    body = json.loads(out.read_text())
    assert body["risk"] == "high"  # the report is the same whatever the threshold
