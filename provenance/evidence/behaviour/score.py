"""Comparing canary results: four per-position statistics and the behaviour verdict.

:func:`compare_behaviour` uses four per-position statistics (:func:`position_stats`); the verdict
rests on one of them, the tail correlation, against a null measured on independent models
(:mod:`provenance.calibration`). Behaviour is reported apart from weights: a distilled student
imitates its teacher's behaviour with weights of its own, a heavily fine-tuned descendant keeps the
weights and may drift in behaviour (:func:`lineage_phrase` words the four combinations).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import norm, rankdata

from provenance.calibration import (
    BEHAVIOUR_DEEP_TAIL,
    BEHAVIOUR_MIN_POSITIONS,
    BEHAVIOUR_MIN_SHARED_KEYS,
    BEHAVIOUR_NULL,
    BEHAVIOUR_NULL_STD_FLOOR,
    BEHAVIOUR_Z_IMITATES,
    BEHAVIOUR_Z_INDEPENDENT,
)
from provenance.domain import Verdict
from provenance.evidence import Evidence, Strength
from provenance.evidence.behaviour.probes import ProbeResults


def _js_bits(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float((kl_p + kl_q) / 2)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def position_stats(reference: ProbeResults, candidate: ProbeResults) -> dict[str, np.ndarray]:
    """Per aligned position (reference order): ``top1`` (same most likely key), ``overlap`` (share of
    the reference's top-k keys in the candidate's top-k), ``js`` (Jensen-Shannon divergence in bits
    between the two distributions coarsened to the reference's top-k keys + "everything else") and
    ``tail`` (Spearman correlation of the log-probabilities of the sampled keys in the reference's
    deep tail (the ``BEHAVIOUR_DEEP_TAIL`` least likely at that position), each model's per-key mean over
    positions removed first, so a shared unigram prior does not count as agreement).

    Positions are matched by name; keys by bytes. ``position`` lists the matched names.
    """
    cand_pos = {n: i for i, n in enumerate(candidate.positions)}
    ref_rows = [i for i, n in enumerate(reference.positions) if n in cand_pos]
    cand_rows = [cand_pos[reference.positions[i]] for i in ref_rows]
    k = reference.topk.shape[1]
    sample = [reference.keys[i] for i in reference.sample]
    ref_tail = reference.sample_logprobs[ref_rows].astype(np.float64)
    cand_tail = candidate.lookup(sample)[cand_rows]
    shared = np.isfinite(cand_tail).all(axis=0)  # keys the candidate knows at every position
    ref_tail, cand_tail = ref_tail[:, shared], cand_tail[:, shared]
    deep = ref_tail <= np.quantile(ref_tail, BEHAVIOUR_DEEP_TAIL, axis=1, keepdims=True) if ref_tail.size else ref_tail > 0
    ref_tail -= ref_tail.mean(axis=0) if len(ref_rows) else 0
    cand_tail -= cand_tail.mean(axis=0) if len(ref_rows) else 0
    top_keys = sorted({reference.keys[i] for i in reference.topk[ref_rows].ravel().tolist()})
    column = {key: j for j, key in enumerate(top_keys)}
    cand_top = candidate.lookup(top_keys)  # unknown (NaN) = below the candidate's top-k: "everything else"
    out: dict[str, list[float]] = {"top1": [], "overlap": [], "js": [], "tail": []}
    for r, c in zip(ref_rows, cand_rows):
        ref_keys = [reference.keys[i] for i in reference.topk[r]]
        cand_keys = {candidate.keys[i] for i in candidate.topk[c][:k]}
        out["top1"].append(float(ref_keys[0] == candidate.keys[candidate.topk[c][0]]))
        out["overlap"].append(len(cand_keys.intersection(ref_keys)) / k)
        p = np.exp(reference.topk_logprobs[r].astype(np.float64))
        q = np.exp(np.nan_to_num(cand_top[c, [column[key] for key in ref_keys]], nan=-np.inf))
        out["js"].append(_js_bits(np.append(p, max(0.0, 1 - p.sum())), np.append(q, max(0.0, 1 - q.sum()))))
    n_shared = int(shared.sum())
    for j in range(len(ref_rows)):
        d = deep[j]
        out["tail"].append(_spearman(ref_tail[j, d], cand_tail[j, d]) if n_shared >= BEHAVIOUR_MIN_SHARED_KEYS else float("nan"))
    stats = {key: np.array(v, dtype=np.float64) for key, v in out.items()}
    stats["n_shared"] = np.array([n_shared])
    stats["row"] = np.array(ref_rows, dtype=np.int64)
    return stats


@dataclass
class BehaviourResult:
    """How closely a candidate's behaviour follows a reference's, reported apart from weights.

    ``verdict``: ``imitates`` (agreement far above what independent models reach: a descendant or
    a distilled student; the weights tell which), ``independent`` (within the range of independent
    models) or ``inconclusive`` (between the two, or too little to compare: ``reason`` says).
    ``score`` is the mean tail correlation; ``z`` its distance from the null in null standard
    deviations and ``p_value`` the one-sided probability of reaching it independently.
    """

    reference: str
    verdict: Verdict
    score: float | None
    z: float | None
    p_value: float | None
    top1: float | None
    overlap: float | None
    js: float | None
    n_positions: int
    n_shared_keys: int
    mode: str
    reason: str
    per_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    per_position: list[dict[str, object]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return dict(vars(self))

    def to_evidence(self) -> Evidence:
        """As lineage evidence (``behaviour.agreement``)."""
        supports = {Verdict.IMITATES: Verdict.DERIVED, Verdict.INDEPENDENT: Verdict.INDEPENDENT}.get(self.verdict)
        if self.verdict == Verdict.INCONCLUSIVE or self.score is None:
            summary = f"behaviour vs {self.reference}: inconclusive ({self.reason})"
        else:
            summary = (
                f"behaviour {'imitates' if self.verdict == 'imitates' else 'is independent of'} {self.reference}: "
                f"tail agreement {self.score:.2f} (z = {self.z:.1f}), top-1 agreement {self.top1:.0%} "
                f"on {self.n_positions} canary positions"
            )
        details = {k: v for k, v in self.to_dict().items() if k != "per_position"}
        return Evidence("behaviour.agreement", "behaviour", Strength.STRONG, self.score, supports, summary, details)


def _mean(x: np.ndarray) -> float | None:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else None


#: why behaviour against a reference whose fingerprint was made without canary runs is inconclusive
NO_REFERENCE_RESULTS = "the reference fingerprint has no behavioural results"


def inconclusive(reference: str, mode: str, reason: str, n_pos: int = 0, n_shared: int = 0) -> BehaviourResult:
    return BehaviourResult(reference, Verdict.INCONCLUSIVE, None, None, None, None, None, None, n_pos, n_shared, mode, reason)


def compare_behaviour(reference: ProbeResults, candidate: ProbeResults, reference_name: str = "reference") -> BehaviourResult:
    """Compare a candidate's canary results with a reference's (either may be compact)."""

    if reference.canary_version != candidate.canary_version or reference.mode != candidate.mode:
        return inconclusive(
            reference_name, reference.mode, f"measured on different canaries ({reference.canary_version}/{reference.mode} vs "
            f"{candidate.canary_version}/{candidate.mode})"
        )
    st = position_stats(reference, candidate)
    n_shared = int(st["n_shared"][0])
    tail = st["tail"]
    valid = int(np.isfinite(tail).sum())
    if valid < BEHAVIOUR_MIN_POSITIONS:
        why = f"only {n_shared} sampled tokens shared" if n_shared < BEHAVIOUR_MIN_SHARED_KEYS else f"{valid} comparable positions"
        return inconclusive(reference_name, reference.mode, why, valid, n_shared)
    score = _mean(tail)
    assert score is not None
    mean, std = BEHAVIOUR_NULL[reference.mode]
    z = (score - mean) / max(std, BEHAVIOUR_NULL_STD_FLOOR)
    verdict = Verdict.IMITATES if z >= BEHAVIOUR_Z_IMITATES else Verdict.INDEPENDENT if z <= BEHAVIOUR_Z_INDEPENDENT else Verdict.INCONCLUSIVE
    reason = {
        Verdict.IMITATES: f"agreement {z:.1f} null standard deviations above independent models",
        Verdict.INDEPENDENT: "agreement within the range of independent models",
        Verdict.INCONCLUSIVE: f"agreement {z:.1f} null standard deviations above independent models: between thresholds",
    }[verdict]
    kinds = np.array([reference.kinds[r] for r in st["row"]])
    per_kind = {
        kind: {m: v for m in ("top1", "overlap", "js", "tail") if (v := _mean(st[m][kinds == kind])) is not None}
        for kind in dict.fromkeys(kinds.tolist())
    }
    per_position = [
        {"position": reference.positions[r], **{m: _finite(st[m][j]) for m in ("top1", "overlap", "js", "tail")}}
        for j, r in enumerate(st["row"].tolist())
    ]
    return BehaviourResult(
        reference_name, verdict, score, z, float(norm.sf(z)), _mean(st["top1"]), _mean(st["overlap"]),
        _mean(st["js"]), valid, n_shared, reference.mode, reason, per_kind, per_position,
    )


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def lineage_phrase(reference: str, weights_verdict: Verdict | None, behaviour: BehaviourResult) -> str:
    """One sentence combining a weight verdict (derived/independent/inconclusive/None) with behaviour."""
    b = behaviour.verdict
    if weights_verdict == Verdict.DERIVED:
        tail = {Verdict.IMITATES: "and its behaviour follows it", Verdict.INDEPENDENT: "but its behaviour has drifted away"}
        return f"weights derive from {reference} " + tail.get(b, "(behaviour inconclusive)")
    if weights_verdict == Verdict.INDEPENDENT:
        if b == Verdict.IMITATES:
            return f"behaviour imitates {reference}, weights independent (distilled from or trained on its outputs)"
        return f"independent of {reference}" + ("" if b == Verdict.INDEPENDENT else " (behaviour inconclusive)")
    if b == Verdict.IMITATES:
        return f"behaviour imitates {reference} (weights not compared)"
    return f"behaviour {'is independent of' if b == 'independent' else 'inconclusive against'} {reference}"
