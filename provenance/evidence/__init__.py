"""Independent kinds of lineage evidence, one module each; every one returns :class:`Evidence`.

Evidence functions are pure (inputs in, Evidence out): no printing, no global state. Progress is a
callback supplied by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from provenance.domain import Strength, Verdict


@dataclass
class Evidence:
    """One named signal.

    Attributes:
        name: stable identifier, e.g. ``weights.aligned_cka`` or ``tokenizer.identity``.
        kind: ``metadata``, ``architecture``, ``tokenizer``, ``weights`` or ``behaviour``.
        strength: what this kind of signal can prove.
        value: the measured number (score, p-value, similarity) or ``None`` when not numeric.
        supports: ``derived``, ``independent`` or ``None`` (neutral / not applicable).
        summary: one human sentence.
        details: JSON-able extras (per-layer values, matched release, ...).
    """

    name: str
    kind: str
    strength: Strength
    value: float | None
    supports: Verdict | None
    summary: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "strength": self.strength.value,
            "value": self.value,
            "supports": self.supports,
            "summary": self.summary,
            "details": self.details,
        }
