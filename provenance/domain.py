"""The domain's words as types: verdicts, evidence kinds and strengths, severities, progress.

Every module that decides or reports uses these; they are ``StrEnum``s, so JSON and text carry the
plain word (``"derived"``) and comparisons with strings read from a report body still hold.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

#: ``progress(stage, done, total)``: how long work reports where it is; the CLI draws it.
Progress = Callable[[str, int, int], None]


class Verdict(StrEnum):
    """A lineage verdict, of a comparison or of an audit."""

    DERIVED = "derived"  # the weights descend from the reference
    IMITATES = "imitates"  # behaviour follows the reference, weights do not
    UNVERIFIED = "unverified"  # lineage could not be settled (evidence missing or not installed)
    INCONCLUSIVE = "inconclusive"  # measured, but between the thresholds
    INDEPENDENT = "independent"  # measured, and within the range of independent models


class EvidenceKind(StrEnum):
    """What a piece of evidence is measured on."""

    METADATA = "metadata"
    ARCHITECTURE = "architecture"
    TOKENIZER = "tokenizer"
    WEIGHTS = "weights"
    BEHAVIOUR = "behaviour"


class Strength(StrEnum):
    """How much a kind of evidence can prove (what a faker would have to do to fool it)."""

    WEAK = "weak"  # declared metadata, architecture: copied or edited for free
    MEDIUM = "medium"  # tokenizer identity: reused by independent models
    STRONG = "strong"  # weights, behaviour: cannot be matched without the reference's training


class Severity(StrEnum):
    """How much a finding matters, least first (``rank`` orders them)."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)
