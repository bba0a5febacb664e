"""Missing evidence is never evidence of independence (issue #13, item 6): every way a comparison can
be skipped (a refused tensor, widths with no shared tokens, too few anchors, a fingerprint without
weights or canary results, a model that cannot run a reference's canaries) gives ``unverified`` with
the reason and a finding, on stories260K and files made from it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from provenance.audit import audit
from provenance.checkpoint import Checkpoint, open_checkpoint
from provenance.checkpoint.base import EMBED, from_state_dict
from provenance.cli import cli
from provenance.evidence.weights import sketch as W
from provenance.fingerprint.format import SUFFIX, Fingerprint
from tests.checkpoint import ggml_reference as ref
from tests.exporters import save_hf
from tests.models import stories260k

pytestmark = pytest.mark.skipif(stories260k() is None, reason="../shared (stories260K) absent")

UP = "blk.0.ffn_up.weight"


@pytest.fixture(scope="module")
def stories() -> Checkpoint:
    path = stories260k()
    assert path is not None
    return open_checkpoint(path)


def _findings(body: dict) -> dict[str, dict]:
    return {f["id"]: f for f in body["findings"]}


def test_one_refused_tensor_is_unverified_with_a_high_finding_not_independent(stories: Checkpoint,
                                                                              tmp_path: Path) -> None:
    """The issue's evasion: stories260K with one tensor in Q8_1 blocks that are not ggml's (the 40-byte
    block of the ``gguf`` package's table) was "independent of every registry reference", exit 0."""
    up = stories.get("model.layers.0.mlp.up_proj.weight").numpy()
    path = ref.save_gguf_with(stories, tmp_path / "evasion.gguf", {UP: (ref.Q.Q8_1, ref.quantize_q8_1_gguf_py(up))})
    out = tmp_path / "audit.json"
    res = CliRunner().invoke(cli, ["--quiet", "audit", str(path), "--format", "json", "-o", str(out)])
    assert res.exit_code == 1, res.output  # the default --fail-on high
    body = json.loads(out.read_text())
    lin = body["lineage"]
    assert lin["verdict"] == "unverified" and "lineage unverified" in lin["summary"]
    assert {r["verdict"] for r in lin["references"]} == {"unverified"}
    assert all("'blk.0.ffn_up.weight' refused: Q8_1 block 0 is not ggml's" in r["reason"] for r in lin["references"])
    lin006 = _findings(body)["PROV-LIN-006"]
    assert lin006["severity"] == "high" and lin006["title"] == "Weights not compared with any registry reference"
    assert "stories260K" in lin006["message"] and "Q8_1" in lin006["message"]
    # the engine cannot load the tensor either: behaviour is a gap too, never "independent"
    assert all(r["behaviour"]["verdict"] == "inconclusive" for r in lin["references"])
    assert "PROV-LIN-007" in _findings(body) and "PROV-OK-001" not in _findings(body)
    # compare says the same: never independent
    res = CliRunner().invoke(cli, ["--quiet", "compare", str(stories.path), str(path), "--format", "json",
                                   "--no-behaviour"])
    assert res.exit_code == 0, res.output
    cmp = json.loads(res.output)
    assert cmp["verdict"] == "unverified" and cmp["score"] is None and "Q8_1" in cmp["reason"]
    # the same weights in ggml's own Q8_1 block are read, and derived
    path = ref.save_gguf_with(stories, tmp_path / "q81.gguf", {UP: (ref.Q.Q8_1, ref.quantize_q8_1(up).view(np.int8))})
    again = audit(path, behaviour=False).to_dict()
    assert again["lineage"]["verdict"] == "derived" and again["lineage"]["base"] == "stories260K"


def test_references_that_cannot_be_put_beside_the_model_leave_it_unverified(stories: Checkpoint,
                                                                             tmp_path: Path) -> None:
    """A tokenizer-less model independent of stories260K and SmolLM2 cannot be aligned with gemma or
    Qwen (other widths, no shared tokens): unverified against those (medium: others were compared),
    and their text canaries cannot run on it (low)."""
    gen = torch.Generator().manual_seed(0)
    state = {n: torch.ones(t.shape) if t.dim() == 1 else torch.randn(*t.shape, generator=gen) * 0.02
             for n, t in stories.items()}
    save_hf(from_state_dict(state, stories.args), stories.args, tmp_path / "random")
    out = tmp_path / "audit.json"
    res = CliRunner().invoke(cli, ["--quiet", "audit", str(tmp_path / "random"), "--format", "json", "-o", str(out),
                                   "--fail-on", "medium"])
    assert res.exit_code == 1, res.output  # medium fails --fail-on medium; nothing reaches the default high
    body = json.loads(out.read_text())
    assert body["lineage"]["verdict"] == "unverified" and body["risk"] == "medium"
    verdicts = {r["name"]: (r["verdict"], r["reason"]) for r in body["lineage"]["references"]}
    assert verdicts["stories260K"] == ("independent", None) and verdicts["SmolLM2-135M-Instruct"][0] == "independent"
    for name in ("gemma-3-270m", "Qwen2.5-Coder-0.5B-Instruct"):
        assert verdicts[name][0] == "unverified" and "fewer than 32 shared anchor tokens" in verdicts[name][1]
    found = _findings(body)
    assert found["PROV-LIN-006"]["severity"] == "medium"
    assert found["PROV-LIN-006"]["title"] == "Weights not compared with 2 of the registry references"
    assert found["PROV-LIN-007"]["severity"] == "low"
    assert "this model has no tokenizer" in found["PROV-LIN-007"]["message"]
    assert "gemma-3-270m (the reference fingerprint has no behavioural results)" in found["PROV-LIN-007"]["message"]
    assert "stories260K" not in found["PROV-LIN-007"]["message"]  # its id-mode canaries did run
    assert body["lineage"]["meta_lineage"] == "independent"  # nothing about Meta was left open


def test_a_fingerprint_without_weights_is_a_gap_not_a_pass(stories: Checkpoint, tmp_path: Path) -> None:
    """A user's Meta fingerprint without a weight sketch (e.g. its weights could not be sketched):
    the Meta lineage is unverified against it, named by PROV-LIN-006 (not PROV-LIN-001's "not installed")."""
    registry = tmp_path / "registry"
    registry.mkdir()
    fp = Fingerprint.from_checkpoint(stories, name="llama-2-7b", family="llama-2", license="llama2",
                                     weights=False, behaviour=False)
    fp.save(registry / f"llama-2-7b{SUFFIX}")
    body = audit(stories.path, registry_dir=registry, behaviour=False).to_dict()
    lin = body["lineage"]
    assert lin["verdict"] == "derived" and lin["base"] == "stories260K"  # a weight match still stands
    assert lin["meta_lineage"] == "unverified"
    row = next(r for r in lin["references"] if r["name"] == "llama-2-7b")
    assert row["verdict"] == "unverified" and row["reason"] == "the reference fingerprint holds no weight sketch"
    found = _findings(body)
    assert "llama-2-7b (the reference fingerprint holds no weight sketch)" in found["PROV-LIN-006"]["message"]
    assert found["PROV-LIN-006"]["severity"] == "medium" and "PROV-LIN-001" not in found
    assert any("--no-behaviour" in n for n in body["notes"])


def test_too_few_anchors_prove_derivation_but_never_independence(stories: Checkpoint) -> None:
    """With fewer than 32 shared anchor tokens the bases are compared through the identity map only:
    an unrotated descendant still shows (derived), a low score proves nothing (unverified)."""
    sketch = W.sketch(stories)
    state = dict(stories.items())
    args = stories.args
    small = dataclasses.replace(args, vocab_size=16)
    cut = from_state_dict({**state, EMBED: state[EMBED][:16]}, small)
    derived = W.compare_to_sketch(cut, sketch)
    assert derived.alignment is None and derived.basis == "identity" and derived.verdict == "derived"
    gen = torch.Generator().manual_seed(1)
    noise = from_state_dict({n: t if t.dim() == 1 else torch.randn(*t.shape, generator=gen) * 0.02
                             for n, t in cut.items()}, small)
    unverified = W.compare_to_sketch(noise, sketch)
    assert unverified.verdict == "unverified" and "fewer than 32 shared anchor tokens" in unverified.reason
    layer = next(e for e in unverified.evidence if e.name == "weights.layer_invariants")
    assert layer.supports is None and "unverified:" in layer.summary


def test_an_empty_registry_is_no_evidence_of_independence(stories: Checkpoint, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """No reference to compare with (a misplaced ``fingerprints/`` folder) must not read "independent
    of every registry reference": unverified, and a high finding that names the registry."""
    from provenance.fingerprint import registry

    monkeypatch.setattr(registry, "shipped_dir", lambda: tmp_path / "shipped")
    body = audit(stories.path, registry_dir=tmp_path / "user", behaviour=False).to_dict()
    assert body["lineage"]["verdict"] == "unverified" and body["lineage"]["references"] == []
    lin006 = _findings(body)["PROV-LIN-006"]
    assert lin006["severity"] == "high" and "registry holds no reference" in lin006["message"]
