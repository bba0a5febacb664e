"""`provenance.evidence.weights.compare`: two real checkpoints (or a sketch and a checkpoint) in, one CompareResult out."""

from __future__ import annotations

import json

import pytest

from provenance.checkpoint import open_checkpoint
from provenance.evidence.weights import sketch as W
from provenance.evidence.weights.compare import CompareResult, compare
from tests.zoo import zoo_model

KEYS = ["verdict", "reason", "score", "p_value", "a", "b", "alignment", "layers", "layer_matrix", "evidence", "notes"]


def test_rotated_descendant_by_path():
    r = compare(zoo_model("stories260k"), zoo_model("stories-rotated"))
    assert isinstance(r, CompareResult)
    assert r.verdict == "derived" and r.score > 0.99 and r.p_value < 1e-12
    d = r.to_dict()
    assert list(d) == KEYS
    assert d["a"]["format"] == "llama2c" and d["b"]["format"] == "hf-safetensors"
    assert d["a"]["dims"] == d["b"]["dims"] == {"dim": 64, "n_layers": 5, "n_heads": 8, "n_kv_heads": 4,
                                                 "hidden_dim": 172, "vocab_size": 512}
    assert d["alignment"]["basis"] == "procrustes" and d["alignment"]["transform"] == "rotation"
    assert d["alignment"]["heldout_cosine"] > 0.999
    assert [(m["a"], m["b"]) for m in d["layers"]] == [(i, i) for i in range(5)]
    names = [e["name"] for e in d["evidence"]]
    assert names == ["weights.alignment", "weights.embedding_cosine", "weights.layer_invariants",
                     "weights.name_cosine", "weights.neuron_match"]
    assert all(e["kind"] == "weights" for e in d["evidence"])


def test_json_is_deterministic():
    a, b = zoo_model("stories260k"), zoo_model("stories-ft")
    first = json.dumps(compare(a, b).to_dict())
    assert json.dumps(compare(a, b).to_dict()) == first


def test_sketch_reference_gives_the_same_verdict():
    ref = W.sketch(open_checkpoint(zoo_model("stories260k")))
    arrays, header = ref.to_arrays()
    r = compare(W.WeightSketch.from_arrays(arrays, header), zoo_model("stories-permuted"))
    assert r.verdict == "derived" and r.a.format == "weight-sketch"
    full = compare(zoo_model("stories260k"), zoo_model("stories-permuted"))
    assert r.score == pytest.approx(full.score, abs=0.01)


@pytest.mark.slow
def test_lora_adapter_is_compared_merged_into_the_other_side():
    r = compare(zoo_model("smollm2"), zoo_model("smol-lora"), neurons=False)
    assert r.verdict == "derived" and r.b.format == "lora"
    assert "LoRA adapter: compared as merged into" in r.notes[0]
    two = compare(zoo_model("smol-lora"), zoo_model("smol-lora"))
    assert two.verdict == "unverified" and two.p_value is None and two.score is None
    assert "adapter" in two.notes[0] and "not compared" in two.evidence[0].summary
