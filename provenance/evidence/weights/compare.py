"""``provenance compare A B``: does B's weights descend from A's (or the reverse)?

Orchestration only: open both checkpoints, run the weight evidence of
:mod:`provenance.evidence.weights.sketch` and package the outcome as a :class:`CompareResult`, which the
CLI and the report renderers turn into text or JSON. A is the reference whose residual basis the
comparison works in; the verdict does not depend on the order (descendants score high both ways).
A may also be a :class:`~provenance.evidence.weights.WeightSketch` (from a fingerprint).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.checkpoint import merge_lora, open_checkpoint
from provenance.checkpoint.base import EMBED, Checkpoint
from provenance.domain import Verdict
from provenance.errors import (
    FormatError,
    ProvenanceError,
    UnsupportedError,
    without_path,
)
from provenance.evidence import Evidence
from provenance.evidence.weights.sketch import (
    LayerMatch,
    Progress,
    WeightResult,
    WeightSketch,
    compare_checkpoints,
    compare_to_sketches,
    not_compared_evidence,
)


@dataclass
class ModelInfo:
    """What was loaded for one side of a comparison."""

    path: str | None
    format: str
    arch: str | None
    dims: dict[str, int]
    quantization: str | None = None
    tokenizer: str | None = None  # tokenizer kind, or None when the model ships none

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format, "arch": self.arch, "dims": dict(self.dims),
                "quantization": self.quantization, "tokenizer": self.tokenizer}

    @classmethod
    def of(cls, ckpt: Checkpoint) -> ModelInfo:
        args = ckpt.args
        dims: dict[str, int] = {}
        if args is not None:
            dims = {"dim": args.dim, "n_layers": args.n_layers, "n_heads": args.n_heads,
                    "n_kv_heads": args.n_kv_heads, "hidden_dim": args.hidden_dim,
                    "vocab_size": ckpt.info(EMBED).shape[0] if EMBED in ckpt else args.vocab_size}
        tok = ckpt.tokenizer
        return cls(str(ckpt.path), ckpt.format, args.arch if args else None, dims, ckpt.quantization,
                   tok.kind if tok is not None else None)

    @classmethod
    def of_sketch(cls, s: WeightSketch, path: str | None = None) -> ModelInfo:
        return cls(path, "weight-sketch", s.arch, {"dim": s.dim, "n_layers": s.n_layers, "vocab_size": s.vocab_size})


@dataclass
class CompareResult:
    """The answer to "is B derived from A?" with everything needed to check it.

    ``score`` is in [0, 1] (higher = more related); ``p_value`` is the chance an independent pair
    scores this high under the calibrated null (``None`` when no comparison was possible);
    ``unverified`` means the weights could not be compared (``reason`` says why; ``score`` is then
    None): never evidence of independence. ``layers`` lists each layer's best partner (A layer -> B layer); ``layer_matrix`` holds the
    similarity of every A layer with every B layer (the heatmap of the HTML report; ``None`` when no
    comparison was possible); ``alignment`` says which residual map was recovered and how well it
    fits held-out tokens.
    """

    verdict: Verdict  # derived | independent | inconclusive | unverified (weights not compared: ``reason``)
    p_value: float | None
    score: float | None
    layers: list[LayerMatch]
    alignment: dict[str, Any]
    evidence: list[Evidence]
    a: ModelInfo
    b: ModelInfo
    notes: list[str] = field(default_factory=list)
    layer_matrix: list[list[float]] | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict with a stable key order (same inputs, same bytes)."""
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "score": None if self.score is None else round(self.score, 6),
            "p_value": None if self.p_value is None else float(f"{self.p_value:.6g}"),
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "alignment": self.alignment,
            "layers": [m.to_dict() for m in self.layers],
            "layer_matrix": self.layer_matrix,
            "evidence": [e.to_dict() for e in self.evidence],
            "notes": list(self.notes),
        }


def _from_weights(r: WeightResult, a: ModelInfo, b: ModelInfo) -> CompareResult:
    align: dict[str, Any] = {"basis": r.basis}
    if r.alignment is not None:
        align.update(r.alignment.to_dict())
    matrix = [[round(float(v), 6) for v in row] for row in r.similarity] if r.layers else None
    score = None if r.score is None else min(max(r.score, 0.0), 1.0)
    return CompareResult(r.verdict, r.p_value, score, r.layers, align, r.evidence, a, b, r.notes, matrix, r.reason)


def _not_comparable(error: ProvenanceError, a: ModelInfo, b: ModelInfo) -> CompareResult:
    """Weights that could not be compared: ``unverified`` with the reason (never ``independent``)."""
    reason = without_path(error)
    return CompareResult(Verdict.UNVERIFIED, None, None, [], {"basis": "none"}, [not_compared_evidence(reason)],
                         a, b, [f"weights not compared: {reason}"], reason=reason)


def compare(a: str | Path | Checkpoint | WeightSketch, b: str | Path | Checkpoint,
            progress: Progress | None = None, neurons: bool = True) -> CompareResult:
    """Compare reference ``a`` (checkpoint, path or weight sketch) with candidate ``b``.

    Raises FormatError for unreadable files. A LoRA adapter on one side is merged into the model on
    the other (an adapter that does not fit it gives ``unverified``); weights that cannot be
    compared (two adapters, an architecture without LLaMA-style layer tensors, a tensor type we
    refuse) give an ``unverified`` result that says why, never ``independent``.
    """
    cb = b if isinstance(b, Checkpoint) else open_checkpoint(b)
    if isinstance(a, WeightSketch):
        return compare_sketches([a], cb, progress)[0]
    info_b = ModelInfo.of(cb)
    ca = a if isinstance(a, Checkpoint) else open_checkpoint(a)
    info_a = ModelInfo.of(ca)
    notes = []
    try:
        if (ca.adapter is None) != (cb.adapter is None):
            # an adapter only means something applied to a model: apply it to the other side
            adapter, model = (cb, ca) if cb.adapter is not None else (ca, cb)
            merged = merge_lora(model, adapter)
            notes.append(f"{adapter.path} is a LoRA adapter: compared as merged into {model.path}")
            ca, cb = (model, merged) if cb.adapter is not None else (merged, model)
        result = _from_weights(compare_checkpoints(ca, cb, progress, neurons=neurons), info_a, info_b)
    except (UnsupportedError, FormatError) as e:
        if not notes and isinstance(e, FormatError):
            raise
        return _not_comparable(e, info_a, info_b)
    result.notes[:0] = notes
    return result


def compare_sketches(refs: list[WeightSketch], b: Checkpoint, progress: Progress | None = None) -> list[CompareResult]:
    """Compare candidate ``b`` with every reference sketch (the audit's registry), reading ``b`` once."""
    info_b = ModelInfo.of(b)
    try:
        results = compare_to_sketches(b, refs, progress)
    except UnsupportedError as e:
        return [_not_comparable(e, ModelInfo.of_sketch(r), info_b) for r in refs]
    return [_from_weights(r, ModelInfo.of_sketch(ref), info_b) for r, ref in zip(results, refs)]
