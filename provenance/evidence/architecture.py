"""Architecture evidence: how a model's configuration compares with Meta's releases (weak).

An architecture is free to copy (Yi-34B used LLaMA's, renamed), so even an exact match only *weakly*
supports descent; a mismatch proves nothing either (pruning and up-scaling change shapes).
"""

from __future__ import annotations

from provenance.domain import Verdict
from provenance.evidence import Evidence, Strength
from provenance.knowledge.releases import (
    ArchMatch,
    Knowledge,
    MatchKind,
    match_architecture,
)
from provenance.modelargs import ModelArgs

# How close each kind of match is, as the Evidence value (1 = identical configuration).
_VALUE = {MatchKind.EXACT: 1.0, MatchKind.SAME_SHAPES: 0.8, MatchKind.RESIZED_VOCAB: 0.6,
          MatchKind.DIFFERENT_DEPTH: 0.4, MatchKind.SAME_FAMILY: 0.2}
_PHRASE = {MatchKind.EXACT: "identical to", MatchKind.SAME_SHAPES: "same tensor shapes as",
           MatchKind.RESIZED_VOCAB: "same layers as (vocabulary resized)",
           MatchKind.DIFFERENT_DEPTH: "same layer shapes as (different depth)"}
MAX_LISTED = 6


def architecture_evidence(args: ModelArgs, knowledge: Knowledge) -> Evidence:
    """``architecture.release_match``: the closest Meta releases to ``args`` and what differs."""
    kn = knowledge
    matches = match_architecture(args, kn)
    details = {"matches": [m.to_dict() for m in matches[:MAX_LISTED]], "n_matches": len(matches)}
    if not matches:
        return Evidence("architecture.release_match", "architecture", Strength.WEAK, 0.0, None,
                        f"architecture {args.arch!r} matches no Meta release", details)
    best = matches[0]
    if best.kind is MatchKind.SAME_FAMILY:
        summary = (f"same {args.arch} architecture class as Meta's releases, dimensions of none "
                   "(weak: shared by many independent models)")
        return Evidence("architecture.release_match", "architecture", Strength.WEAK, _VALUE[best.kind], None,
                        summary, details)
    tied = [m for m in matches if m.kind is best.kind and len(m.differences) == len(best.differences)]
    names = " / ".join(kn.release(m.release).name for m in tied if m.release)
    summary = f"architecture {_PHRASE[best.kind]} {names}{_diff_note(best)} (weak: shared by independent models)"
    supports = Verdict.DERIVED if best.kind in (MatchKind.EXACT, MatchKind.SAME_SHAPES) else None
    details["best"] = [m.release for m in tied]
    return Evidence("architecture.release_match", "architecture", Strength.WEAK, _VALUE[best.kind], supports,
                    summary, details)


def _diff_note(m: ArchMatch) -> str:
    if not m.differences:
        return ""
    return "; differs in " + ", ".join(sorted(m.differences))
