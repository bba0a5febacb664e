"""Calibration study for behavioural evidence: ``python benchmarks/study_behaviour.py [--optin]``.

Scores every zoo model (tests/zoo.py) against its reference's shipped fingerprint with
:func:`provenance.evidence.behaviour.compare_behaviour`, plus independent pairs between real models,
and prints one row per pair: relation, tail score, top-1 agreement, top-k overlap, JS divergence and
the tail score per canary kind. The independent rows are the null sample behind ``NULL_MEAN`` and
``NULL_STD`` in provenance/evidence/behaviour.py. Runs are cached (tests/behaviour_runs.py), so a
rerun after the first only recomputes what changed. ``--optin`` adds Qwen2.5-Coder (494 MB).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provenance.errors import UnsupportedError, without_path
from provenance.evidence.behaviour.probes import ProbeResults
from provenance.evidence.behaviour.score import compare_behaviour
from tests.behaviour_runs import SMOL_FP, STORIES_FP, live, reference
from tests.zoo import ENTRIES

KINDS = ("text", "identity", "knowledge", "chat", "random", "ids")


def row(ref_name: str, cand: str, relation: str, r) -> str:  # type: ignore[no-untyped-def]
    if r.score is None:
        return f"| {ref_name} | {cand} | {relation} | inconclusive: {r.reason} |"
    kinds = " ".join(f"{k}={r.per_kind[k]['tail']:.2f}" for k in KINDS if k in r.per_kind)
    return (f"| {ref_name} | {cand} | {relation} | {r.score:.3f} | {r.z:.1f} | {r.verdict} | {r.top1:.2f} | "
            f"{r.overlap:.2f} | {r.js:.3f} | {kinds} |")


def main(optin: bool) -> None:
    print("| reference | candidate | relation | tail score | z | verdict | top-1 | top-k overlap | JS bits | tail by kind |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    null: dict[str, list[float]] = {"text": [], "ids": []}

    def pair(ref_name: str, ref: ProbeResults, cand: str, relation: str) -> None:
        try:
            r = compare_behaviour(ref, live(cand, ref), ref_name)
        except UnsupportedError as e:  # e.g. a Meta-format export without tokenizer vs text canaries
            print(f"| {ref_name} | {cand} | {relation} | not measurable: {without_path(e)} |")
            return
        print(row(ref_name, cand, relation, r), flush=True)
        if relation == "independent" and r.score is not None:
            null[ref.mode].append(r.score)

    for ref_slug, ref_name, base in ((SMOL_FP, "SmolLM2", "smollm2"), (STORIES_FP, "stories260K", "stories260k")):
        ref = reference(ref_slug).behaviour
        names = [base] + [n for n, e in ENTRIES.items() if e.reference == base and n != "smol-lora-merged"]
        names += ["smollm2"] if base == "stories260k" else (["qwen2.5-coder"] if optin else [])
        for name in names:
            relation = ENTRIES[name].relation if name in ENTRIES else ("self" if name == base else "independent")
            pair(ref_name, ref, name, "imitates (distilled)" if "student" in name else relation)
    # Independent pairs that share data or recipe, with a zoo model as the reference (its own probes).
    cross = [("stories-indep-a", ["stories-indep-b", "stories-ft", "stories-student"]),
             ("stories-student", ["stories-indep-b"]), ("smol-scratch", ["smol-random", "smollm2"])]
    if optin:
        cross.append(("qwen2.5-coder", ["smollm2", "smol-scratch", "smol-ft-heavy"]))
    for ref_model, cands in cross:
        ref = live(ref_model).compact()
        for cand in cands:
            pair(ref_model, ref, cand, "independent")
    for mode, scores in null.items():
        print(f"\nnull ({mode} mode): n={len(scores)} mean={np.mean(scores):.3f} "
              f"std={np.std(scores, ddof=1):.3f} max={np.max(scores):.3f} scores={np.round(scores, 3).tolist()}")


if __name__ == "__main__":
    main("--optin" in sys.argv[1:])
