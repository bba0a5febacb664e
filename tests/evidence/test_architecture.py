"""Architecture evidence on real release configurations and a real model (weak)."""

from __future__ import annotations

import pytest

from provenance.checkpoint.gguf import load_gguf
from provenance.evidence import Strength
from provenance.evidence.architecture import architecture_evidence
from provenance.knowledge.releases import load_knowledge
from provenance.modelargs import ModelArgs
from tests.models import fetch
from tests.release_configs import CONFIGS

KN = load_knowledge()


@pytest.fixture(scope="module")
def smollm2():
    with load_gguf(fetch("smollm2")) as ckpt:
        yield ckpt

def test_exact_architecture_is_weak_support() -> None:
    ev = architecture_evidence(ModelArgs.from_hf_config(CONFIGS["meta-llama/Llama-2-7b-hf"]), KN)
    assert (ev.name, ev.kind, ev.strength, ev.value, ev.supports) == (
        "architecture.release_match", "architecture", Strength.WEAK, 1.0, "derived")
    assert ev.summary.startswith("architecture identical to Llama 2 7B (weak")
    assert ev.details["best"] == ["llama-2-7b"] and ev.details["matches"][0]["kind"] == "exact"


def test_tied_exact_matches_are_all_named() -> None:
    ev = architecture_evidence(ModelArgs.from_hf_config(CONFIGS["meta-llama/Llama-3.3-70B-Instruct"]), KN)
    assert "Llama 3.1 70B / Llama 3.3 70B" in ev.summary


def test_resized_vocabulary_does_not_support_descent_on_its_own() -> None:
    ev = architecture_evidence(ModelArgs.from_hf_config(CONFIGS["mistralai/Mistral-7B-v0.1"]), KN)
    assert ev.value == 0.6 and ev.supports is None and "vocabulary resized" in ev.summary


def test_real_smollm2_shares_only_the_design(smollm2) -> None:
    ev = architecture_evidence(smollm2.args, KN)
    assert ev.value == 0.2 and ev.supports is None and "dimensions of none" in ev.summary


def test_unrelated_architecture_class() -> None:
    ev = architecture_evidence(ModelArgs.from_hf_config(CONFIGS["Qwen/Qwen2.5-0.5B"]), KN)
    assert (ev.value, ev.supports) == (0.0, None) and "matches no Meta release" in ev.summary
