"""``provenance compare A B``: weights and behaviour of two models, side by side.

Weights (:func:`provenance.compare.compare`) decide the verdict; behaviour on the canary prompts
(:mod:`provenance.evidence.behaviour.probes`) is reported apart, because a distilled student imitates a
teacher's behaviour with independent weights ("behaviour imitates A, weights independent").

Either side may be a fingerprint file instead of a checkpoint; it is then the reference and the other
side the candidate, so ``compare CANDIDATE FINGERPRINT`` works like comparing with the full reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provenance.checkpoint import inputs_of, open_checkpoint
from provenance.checkpoint.base import Checkpoint
from provenance.domain import Progress
from provenance.errors import ProvenanceError, UnsupportedError
from provenance.evidence.behaviour.canaries import template_notes
from provenance.evidence.behaviour.probes import (
    ProbeResults,
    candidate_results,
    run_canaries,
)
from provenance.evidence.behaviour.score import BehaviourResult, compare_behaviour
from provenance.evidence.weights.compare import CompareResult, compare
from provenance.fileio import Inputs
from provenance.fingerprint.format import SUFFIX, Fingerprint


def is_fingerprint(path: str | Path) -> bool:
    """Whether ``path`` names a fingerprint file (by its suffix; the loader validates the content)."""
    return str(path).endswith(SUFFIX)


def side_inputs(path: str | Path) -> Inputs:
    """What one side of a compare reads: a fingerprint file, or a model's files and folder."""
    if is_fingerprint(path):
        return Inputs(files=[Path(path)])
    with open_checkpoint(path) as ckpt:  # headers only: what it reads, before any work
        return inputs_of(ckpt)


def compare_models(
    a: str | Path,
    b: str | Path,
    behaviour: bool = True,
    neurons: bool = True,
    progress: Progress | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """The compare report body (JSON contract): weight verdict and evidence, plus behaviour when runnable.

    ``device`` is where the behavioural probes run (``cpu``, ``cuda``)."""
    if is_fingerprint(a) and is_fingerprint(b):
        raise ProvenanceError("both sides are fingerprints: a comparison needs the weights of at least one model")
    if is_fingerprint(b):
        a, b = b, a  # the fingerprint is the reference
    notes: list[str] = []
    cand = open_checkpoint(b)
    try:
        if is_fingerprint(a):
            fp = Fingerprint.load(a)
            if fp.weights is None:
                raise ProvenanceError("fingerprint holds no weight sketch", a)
            result = compare(fp.weights, cand, progress=progress)
            result.a.path = str(a)
            beh = _behaviour_vs_fingerprint(fp, cand, progress, notes, device) if behaviour else None
        else:
            with open_checkpoint(a) as ref:
                result = compare(ref, cand, progress=progress, neurons=neurons)
                beh = _behaviour_pair(ref, cand, progress, notes, device) if behaviour else None
    finally:
        cand.close()
    return body(result, beh, notes)


def body(result: CompareResult, beh: BehaviourResult | None, notes: list[str]) -> dict[str, Any]:
    """Assemble the compare JSON contract from the weight result and the behaviour result."""
    out = {"kind": "compare", **result.to_dict()}
    out["behaviour"] = behaviour_summary(beh)
    if beh is not None:
        out["evidence"] = [*out["evidence"], beh.to_evidence().to_dict()]
    out["notes"] = [*out.get("notes", []), *notes]
    return out


def behaviour_summary(b: BehaviourResult | None) -> dict[str, Any] | None:
    """A behaviour result for reports: per-position rows dropped, floats to 6 significant digits."""
    if b is None:
        return None
    d = {k: v for k, v in b.to_dict().items() if k != "per_position"}
    return {k: (float(f"{v:.6g}") if isinstance(v, float) else v) for k, v in d.items()}


def _behaviour_vs_fingerprint(fp: Fingerprint, cand: Checkpoint, progress: Progress | None,
                              notes: list[str], device: str) -> BehaviourResult | None:
    if fp.behaviour is None:
        notes.append("behaviour not compared: the fingerprint holds no canary results")
        return None
    try:
        cand_probes = candidate_results(cand, fp.behaviour, progress, device)
        notes += template_notes(cand.tokenizer)
        return compare_behaviour(fp.behaviour, cand_probes, fp.name)
    except UnsupportedError as e:
        notes.append(f"behaviour not compared: {e}")
        return None


def _behaviour_pair(ref: Checkpoint, cand: Checkpoint, progress: Progress | None,
                    notes: list[str], device: str) -> BehaviourResult | None:
    try:
        ref_probes: ProbeResults = run_canaries(ref, progress=progress, device=device)
        cand_probes = candidate_results(cand, ref_probes, progress, device)
        notes += template_notes(ref.tokenizer, cand.tokenizer)
        return compare_behaviour(ref_probes, cand_probes, str(ref.path.name))
    except UnsupportedError as e:
        notes.append(f"behaviour not compared: {e}")
        return None
