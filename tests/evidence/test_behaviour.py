"""Behavioural evidence on real models: canaries, probe results, and behaviour-only lineage verdicts.

References are the shipped fingerprints; candidates are real zoo models run live (tests/behaviour_runs.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import provenance
from provenance.checkpoint import open_checkpoint
from provenance.checkpoint.base import from_state_dict
from provenance.evidence.behaviour import canaries
from provenance.evidence.behaviour.probes import candidate_results, run_canaries
from provenance.evidence.behaviour.score import compare_behaviour
from tests.behaviour_runs import SMOL_FP, STORIES_FP, live, reference
from tests.models import fetch, stories260k

# -- the canary set -------------------------------------------------------------------------------

def test_canary_set_is_pinned_and_complete() -> None:
    cs = canaries.load_canaries()
    assert cs.version == canaries.CANARY_VERSION
    kinds = {p.kind for p in cs.probes}
    assert kinds == {"text", "identity", "knowledge", "chat", "random"}
    assert len({p.id for p in cs.probes}) == len(cs.probes)
    texts = [p for p in cs.probes if p.kind == "text"]
    for p in texts:  # cuts end before a space (or are the whole paragraph)
        full = next(q.text for q in texts if q.id.split("@")[0] == p.id.split("@")[0] and q.id.endswith("@3"))
        assert full.startswith(p.text) and (p.text == full or full[len(p.text)] in " ，。" or full[0] >= "\u4e00")


def test_modified_canary_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(canaries.CANARY_SETS, "v1", "0" * 64)
    with pytest.raises(provenance.errors.FormatError, match="modified"):
        canaries.load_canaries()


def _smol_tokenizer():  # type: ignore[no-untyped-def]
    return open_checkpoint(fetch("smollm2")).tokenizer


def test_rendering_is_deterministic_and_uses_the_chat_template() -> None:
    tok = _smol_tokenizer()
    cs = canaries.load_canaries()
    a, b = canaries.render(cs, tok), canaries.render(cs, tok)
    assert [r.ids for r in a] == [r.ids for r in b]
    chat = next(r for r in a if r.probe.id == "chat/name")
    text = tok.decode(list(chat.ids))
    assert "<|im_start|>user\nWhat is your name?<|im_end|>" in text and text.endswith("<|im_start|>assistant\n")
    # random sequences: ordinary tokens only, drawn by key so the draw does not depend on ids
    rnd = [r for r in a if r.probe.kind == "random"]
    assert all(i not in tok.special_ids for r in rnd for i in r.ids)
    assert len({r.ids for r in rnd}) == len(rnd)


def test_min_hash_draws_survive_vocabulary_extension() -> None:
    """A vocabulary grown by 5% draws (almost) the same random sequences and sampled keys."""
    tok = _smol_tokenizer()
    cs = canaries.load_canaries()
    keys = canaries.vocabulary_keys(tok)
    grown = keys + [b"extension-token-%d" % i for i in range(len(keys) // 20)]
    base = [[keys[i] for i in seq] for seq in canaries.random_sequences(cs, keys, 8)]
    after = [[grown[i] for i in seq] for seq in canaries.random_sequences(cs, grown, 8)]
    same = sum(a == b for x, y in zip(base, after) for a, b in zip(x, y))
    assert same >= 0.9 * 8 * cs.random_length
    shared = set(canaries.sample_keys(cs, keys)) & set(canaries.sample_keys(cs, grown))
    assert len(shared) >= 0.9 * cs.sample_size


def test_prefix_sharing_and_padding_match_single_runs() -> None:
    """Scheduled, left-padded batches give the same log-probabilities as each probe run alone."""
    path = stories260k()
    if path is None:
        pytest.skip("../shared absent")
    ckpt = open_checkpoint(path)
    batched = run_canaries(ckpt)
    assert batched.mode == "ids" and batched.prompts.shape == (16, 18)
    from provenance.engine.model import Transformer

    model = Transformer.from_checkpoint(ckpt)
    with torch.inference_mode():
        row = torch.tensor(batched.prompts[3, :-1], dtype=torch.long)[None]
        alone = torch.log_softmax(model(row).logits[0, 1:], dim=-1).numpy()
    names = [f"ids/3#{j}" for j in reversed(range(16))]
    rows = [batched.positions.index(n) for n in names]
    columns = [batched.keys.index(k) for k in canaries.id_keys(ckpt.args.vocab_size)]  # key order -> id order
    by_id = batched.full[rows][:, columns]
    np.testing.assert_allclose(by_id, alone, atol=1e-4)
    # greedy prompts: each continuation token is the reference's own argmax
    assert (by_id.argmax(axis=1) == batched.prompts[3, 2:]).all()


def test_text_prefixes_share_one_run_and_padding_changes_nothing() -> None:
    """Three cuts of a paragraph are read from one run, batched with a longer chat probe (left padding);
    each position matches the probe run alone, unpadded."""
    from provenance.engine.model import Transformer
    from provenance.evidence.behaviour.probes import _key_index, _schedule, _score

    ckpt = open_checkpoint(fetch("smollm2"))
    rendered = [r for r in canaries.render(canaries.load_canaries(), ckpt.tokenizer)
                if r.probe.id.startswith("text/science@") or r.probe.id == "chat/name"]
    seqs, _ = _schedule(rendered)
    assert len(rendered) == 4 and len(seqs) == 2  # the cuts ride on the whole paragraph
    model = Transformer.from_checkpoint(ckpt)
    keys, key_of = _key_index(canaries.vocabulary_keys(ckpt.tokenizer))
    batched = _score(model, rendered, key_of, len(keys), None)
    with torch.inference_mode():
        for r, rows in zip(rendered, batched):
            alone = torch.log_softmax(model(torch.tensor([r.ids])).logits[0, -1], dim=-1)
            first = np.array([keys.index(k) for k in canaries.vocabulary_keys(ckpt.tokenizer)[:50]])
            np.testing.assert_allclose(rows[-1].numpy()[first], alone[:50].numpy(), atol=2e-4)


# -- verdicts -----------------------------------------------------------------------------------

def test_identical_model_imitates_perfectly() -> None:
    ref = reference(STORIES_FP)
    path = stories260k()
    if path is None:
        pytest.skip("../shared absent")
    r = compare_behaviour(ref.behaviour, candidate_results(open_checkpoint(path), ref.behaviour), "stories260K")
    assert r.verdict == "imitates" and r.score > 0.999 and r.top1 == 1.0
    ev = r.to_evidence()
    assert ev.kind == "behaviour" and ev.supports == "derived" and "imitates" in ev.summary


def test_random_init_is_independent_and_different_canaries_inconclusive() -> None:
    ref = reference(STORIES_FP)
    ckpt = open_checkpoint(stories260k() or pytest.skip("../shared absent"))
    from provenance.engine.model import Transformer

    torch.manual_seed(0)
    fresh = from_state_dict({k: v.detach() for k, v in Transformer(ckpt.args).state_dict().items()}, ckpt.args)
    r = compare_behaviour(ref.behaviour, candidate_results(fresh, ref.behaviour), "stories260K")
    assert r.verdict == "independent" and abs(r.score) < 0.2
    other = candidate_results(fresh, ref.behaviour)
    other.mode = "text"
    assert compare_behaviour(ref.behaviour, other).verdict == "inconclusive"


# One of each kind of descendant (the hardest where there are several: heavy SFT, 4-bit); the rest of
# the zoo is scored by benchmarks/study_behaviour.py.
SMOL_DERIVED = ["smol-ft-heavy", "smol-lora", "smol-q4_0", "smol-permuted", "smol-rotated", "smol-vocab-ext"]
SMOL_INDEPENDENT = ["smol-random", "smol-scratch"]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "verdict"), [(n, "imitates") for n in SMOL_DERIVED]
                         + [(n, "independent") for n in SMOL_INDEPENDENT])
def test_smol_descendants_imitate_and_independents_are_rejected(name: str, verdict: str) -> None:
    ref = reference(SMOL_FP)
    r = compare_behaviour(ref.behaviour, live(name, ref.behaviour), "SmolLM2-135M-Instruct")
    assert r.verdict == verdict, (r.score, r.z, r.per_kind)


def test_stories260k_cannot_imitate_smollm2() -> None:
    """stories260K has no tokenizer: it cannot even read SmolLM2's canaries (and no verdict claims it)."""
    ref = reference(SMOL_FP)
    ckpt = open_checkpoint(stories260k() or pytest.skip("../shared absent"))
    with pytest.raises(provenance.errors.UnsupportedError, match="no tokenizer"):
        candidate_results(ckpt, ref.behaviour)


def test_behaviour_against_several_references_runs_each_probe_set_once() -> None:
    """The audit path: one candidate against shipped references of every kind."""
    from provenance.evidence.behaviour.compare import behaviour_against
    from provenance.evidence.behaviour.score import lineage_phrase
    from tests.behaviour_runs import reference as ref

    smol, stories, gemma = ref(SMOL_FP), ref(STORIES_FP), ref("gemma-3-270m")
    ckpt = open_checkpoint(stories260k() or pytest.skip("../shared absent"))
    stages: list[str] = []
    results = behaviour_against(
        ckpt, [(n, f.behaviour) for n, f in (("SmolLM2", smol), ("stories260K", stories), ("Gemma 3", gemma))],
        progress=lambda stage, done, total: stages.append(stage),
    )
    assert [r.verdict for r in results] == ["inconclusive", "imitates", "inconclusive"]
    assert "no tokenizer" in results[0].reason and "no behavioural results" in results[2].reason
    assert str(ckpt.path) not in results[0].reason and stages  # no local paths in results
    assert lineage_phrase("X", "independent", results[1]).startswith("behaviour imitates X, weights independent")
    assert lineage_phrase("X", "derived", results[1]) == "weights derive from X and its behaviour follows it"


@pytest.mark.slow
def test_smollm2_is_independent_of_stories260k() -> None:
    """The reverse direction works in id space: SmolLM2 run on stories260K's own greedy sequences."""
    ref = reference(STORIES_FP)
    r = compare_behaviour(ref.behaviour, live("smollm2", ref.behaviour), "stories260K")
    assert r.verdict == "independent", (r.score, r.z)


@pytest.mark.parametrize("name", ["stories-permuted", "stories-rotated"])
def test_stories_descendants_imitate(name: str) -> None:
    ref = reference(STORIES_FP)
    r = compare_behaviour(ref.behaviour, live(name, ref.behaviour), "stories260K")
    assert r.verdict == "imitates" and r.score > 0.99


@pytest.mark.parametrize("name", ["stories-indep-a", "stories-indep-b"])
def test_stories_independents_are_rejected(name: str) -> None:
    ref = reference(STORIES_FP)
    r = compare_behaviour(ref.behaviour, live(name, ref.behaviour), "stories260K")
    assert r.verdict == "independent", (r.score, r.z)


def test_distilled_student_imitates_behaviour() -> None:
    """Trained from random init on stories260K's samples: behaviour imitates, weights are its own."""
    from provenance.evidence.weights.sketch import compare_to_sketch
    from tests.zoo import zoo_model

    ref = reference(STORIES_FP)
    r = compare_behaviour(ref.behaviour, live("stories-student", ref.behaviour), "stories260K")
    assert r.verdict == "imitates", (r.score, r.z)
    weights = compare_to_sketch(open_checkpoint(zoo_model("stories-student")), ref.weights)
    assert weights.verdict == "independent", (weights.score, weights.p_value)


@pytest.mark.optin("downloads Qwen2.5-Coder, 494 MB")
def test_qwen_is_independent_of_smollm2() -> None:
    ref = reference(SMOL_FP)
    r = compare_behaviour(ref.behaviour, live("qwen2.5-coder", ref.behaviour), "SmolLM2-135M-Instruct")
    assert r.verdict == "independent", (r.score, r.z)
