"""Weight-space lineage: does a candidate's weights descend from a reference's, whatever was done to them?

Pipeline (reference A, candidate B):

1. **Sketch the reference** (:func:`sketch`): the embedding rows of a few thousand anchor tokens
   (keyed by surface string), the final norm gain (or the output rows when untied), a fixed random
   orthonormal probe ``P`` [D, 128] and, per layer, four symmetry-invariant maps compressed to
   ``Pᵀ M P`` (:mod:`provenance.evidence.weights.invariants`). That is all a fingerprint needs to carry.
2. **Align the residual bases** (:mod:`provenance.evidence.weights.alignment`): orthogonal Procrustes on the
   anchors B shares with A, checked on held-out anchors. It undoes permutations, sign flips,
   rotations (after gains are folded) and scale. When widths agree and the fit is poor, the
   identity map is tried too, so a descendant whose tokenizer was swapped (no shared anchors) but
   whose weights were not rotated still lines up.
3. **Compare every layer with every layer**: cosine of the invariants of A layer i and B layer j
   (probed with ``Qᵀ P``), averaged over the four kinds, after removing from each model the part
   its layers share (:func:`~provenance.evidence.weights.invariants.centre_layers`: what models trained on
   similar data converge on). Each layer's best partner allows dropped, duplicated (depth
   up-scaling) and reordered layers.
4. **Score** ``T``: the median of best-partner cosines over the layers of whichever model scores
   higher (a pruned model's every layer has a partner; an up-scaled one's too). ``T`` is near 0 for
   models with unrelated weights and near 1 for copies; its null distribution, thresholds and
   the measurements behind them live in :mod:`provenance.calibration`.

The full two-checkpoint comparison (:func:`compare_checkpoints`) uses every shared token as an
anchor and adds two signals a sketch cannot carry: name-aligned raw cosines (a fast first look that
any permutation breaks) and neuron matching (:mod:`provenance.evidence.weights.neurons`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from provenance import calibration as cal
from provenance.checkpoint.base import EMBED, FINAL_NORM, Checkpoint, layer_name
from provenance.domain import Progress, Verdict
from provenance.errors import FormatError, UnsupportedError
from provenance.evidence import Evidence, Strength
from provenance.evidence.weights import alignment as al
from provenance.evidence.weights import frame as fr
from provenance.evidence.weights import invariants as inv
from provenance.evidence.weights.neurons import NeuronLayer, neuron_test

#: Version 2 adds the token frame (:mod:`provenance.evidence.weights.frame`); version 1 is still read.
SKETCH_VERSION = 2
#: Anchor tokens a sketch keeps (evenly spaced over the usable vocabulary; 4.7 MB at D=576 in f16).
SKETCH_ANCHORS = 4096
#: Anchors of a full two-checkpoint comparison (bounds memory on 128k-token vocabularies).
FULL_ANCHORS = 16384
#: Width of the random probe subspace the per-layer maps are compressed to.
PROBE_DIM = 128
PROBE_SEED = 20250101
#: Layers the neuron test visits in a full comparison (evenly spaced over matched layers).
NEURON_LAYERS = 3
#: Layers the name-aligned cosine visits (evenly spaced).
NAME_COSINE_LAYERS = 4
REQUIRED = ("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
            "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight")


@dataclass
class WeightSketch:
    """What weight comparison needs of a reference model, in a few megabytes.

    Arrays: ``anchor_ids`` [N] (reference token ids), ``embed`` [N, D] f16 anchor embedding rows,
    ``head`` [N, D] f16 output rows with the final gain folded (``None`` when tied: then
    ``embed * final_norm``), ``final_norm`` [D] f32 or ``None``, ``probe`` [D, k] f16,
    ``invariants`` [L, 4, k, k] f16, each map traceless and of unit norm; ``frame`` (version 2) the
    token-frame forms that let two sketches be compared directly.
    """

    arch: str
    dim: int
    n_layers: int
    vocab_size: int
    anchors_by: str  # "string" (surface bytes) or "id"
    anchor_keys: list[bytes]
    anchor_ids: np.ndarray
    embed: np.ndarray
    head: np.ndarray | None
    final_norm: np.ndarray | None
    probe: np.ndarray
    invariants: np.ndarray
    notes: list[str] = field(default_factory=list)
    frame: fr.TokenFrame | None = None

    @property
    def version(self) -> int:
        """2 with a token frame, else 1 (so a version-1 sketch is written back byte for byte)."""
        return SKETCH_VERSION if self.frame is not None else 1

    @property
    def nbytes(self) -> int:
        arrays, _ = self.to_arrays()
        return sum(a.nbytes for a in arrays.values())

    def head_rows(self) -> np.ndarray:
        """Output rows of the anchors (final gain folded), float32."""
        if self.head is not None:
            return self.head.astype(np.float32)
        rows = self.embed.astype(np.float32)
        return rows * self.final_norm[None, :] if self.final_norm is not None else rows

    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, JSON header) for a safetensors-style file; :meth:`from_arrays` reverses it."""
        raw = b"".join(self.anchor_keys)
        offsets = np.zeros(len(self.anchor_keys) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(k) for k in self.anchor_keys])
        arrays: dict[str, np.ndarray] = {
            "anchor_bytes": np.frombuffer(raw, dtype=np.uint8).copy(),
            "anchor_offsets": offsets,
            "anchor_ids": self.anchor_ids.astype(np.int64),
            "embed": self.embed.astype(np.float16),
            "probe": self.probe.astype(np.float16),
            "invariants": self.invariants.astype(np.float16),
        }
        if self.head is not None:
            arrays["head"] = self.head.astype(np.float16)
        if self.final_norm is not None:
            arrays["final_norm"] = self.final_norm.astype(np.float32)
        if self.frame is not None:
            arrays.update(self.frame.to_arrays())
        header = {
            "version": self.version, "arch": self.arch, "dim": self.dim, "n_layers": self.n_layers,
            "vocab_size": self.vocab_size, "anchors_by": self.anchors_by, "n_anchors": len(self.anchor_keys),
            "probe_dim": int(self.probe.shape[1]), "kinds": list(inv.KINDS), "notes": list(self.notes),
        }
        return arrays, header

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], header: dict[str, Any]) -> WeightSketch:
        """Rebuild and validate a sketch; FormatError on any inconsistency."""
        try:
            version = int(header["version"])
            if version not in (1, SKETCH_VERSION):
                raise FormatError(f"weight sketch version {version} (this tool reads 1 and {SKETCH_VERSION})")
            if list(header["kinds"]) != list(inv.KINDS) or header["anchors_by"] not in ("string", "id"):
                raise FormatError("weight sketch: unknown invariant kinds or anchor keying")
            dim, n_layers, n = int(header["dim"]), int(header["n_layers"]), int(header["n_anchors"])
            k = int(header["probe_dim"])
            off = arrays["anchor_offsets"]
            raw = arrays["anchor_bytes"]
            want = {"anchor_offsets": (np.int64, (n + 1,)), "anchor_ids": (np.int64, (n,)),
                    "embed": (np.float16, (n, dim)), "probe": (np.float16, (dim, k)),
                    "invariants": (np.float16, (n_layers, len(inv.KINDS), k, k)),
                    "head": (np.float16, (n, dim)), "final_norm": (np.float32, (dim,)), "anchor_bytes": (np.uint8, None)}
            for name, (dtype, shape) in want.items():
                a = arrays.get(name)
                if a is None and name in ("head", "final_norm"):
                    continue
                if a is None or a.dtype != dtype or (shape is not None and a.shape != shape):
                    raise FormatError(f"weight sketch array {name} missing or not {np.dtype(dtype)}{shape}")
            if off[0] != 0 or np.any(np.diff(off) < 0) or off[-1] != raw.shape[0]:
                raise FormatError("weight sketch: anchor offsets out of range")
            ids = arrays["anchor_ids"]
            if n and (ids.min() < 0 or ids.max() >= int(header["vocab_size"])):
                raise FormatError("weight sketch: anchor ids outside the vocabulary")
            for name in ("embed", "probe", "invariants", "head", "final_norm"):
                if name in arrays and not np.all(np.isfinite(arrays[name])):
                    raise FormatError(f"weight sketch array {name} holds non-finite values")
            data = raw.tobytes()
            keys = [data[a:b] for a, b in zip(off[:-1].tolist(), off[1:].tolist())]
            return cls(
                arch=str(header["arch"]), dim=dim, n_layers=n_layers, vocab_size=int(header["vocab_size"]),
                anchors_by=str(header["anchors_by"]), anchor_keys=keys, anchor_ids=arrays["anchor_ids"],
                embed=arrays["embed"], head=arrays.get("head"), final_norm=arrays.get("final_norm"),
                probe=arrays["probe"], invariants=arrays["invariants"],
                notes=[str(x) for x in header.get("notes", [])],
                frame=fr.TokenFrame.from_arrays(arrays, n_layers) if version == SKETCH_VERSION else None,
            )
        except (KeyError, TypeError, ValueError) as e:
            raise FormatError(f"malformed weight sketch: {e}") from None


# -- reference side ------------------------------------------------------------------------------

def check_comparable(ckpt: Checkpoint) -> list[str]:
    """Raise UnsupportedError when ``ckpt`` lacks what weight comparison reads; return caveats."""
    if ckpt.args is None or ckpt.adapter is not None:
        raise UnsupportedError("a LoRA adapter has no full weights: merge it into its base first", ckpt.path)
    if EMBED not in ckpt:
        raise UnsupportedError("no token embedding tensor", ckpt.path)
    missing = [s for s in REQUIRED if layer_name(0, s) not in ckpt]
    if missing:
        raise UnsupportedError(f"layer tensors not in LLaMA form ({', '.join(missing)} missing)", ckpt.path)
    notes = []
    if layer_name(0, "input_layernorm.weight") not in ckpt:
        notes.append(f"{ckpt.args.arch}: norms are not LLaMA pre-norms, compared without folding their gains")
    return notes


def _usable_anchors(ckpt: Checkpoint, embed: np.ndarray) -> tuple[list[bytes], np.ndarray, str]:
    keys, by = al.token_keys(ckpt)
    ok = al.usable_rows(embed)
    ids = np.array([i for i, k in enumerate(keys) if k is not None and ok[i]], dtype=np.int64)
    return [k for k in (keys[i] for i in ids.tolist()) if k is not None], ids, by


def _spread(n: int, m: int) -> np.ndarray:
    """``m`` evenly spaced indices of ``range(n)`` (all of them when n <= m)."""
    return np.arange(n) if n <= m else np.linspace(0, n - 1, m).round().astype(np.int64)


def _layer_maps(ckpt: Checkpoint, probes: list[torch.Tensor], progress: Progress | None, stage: str) -> list[torch.Tensor]:
    """Raw invariants of every layer for each probe: one [L, 4, k, k] per probe."""
    n = ckpt.args.n_layers  # type: ignore[union-attr]
    out: list[list[torch.Tensor]] = [[] for _ in probes]
    with torch.no_grad():
        for i in range(n):
            for acc, m in zip(out, inv.layer_invariants(ckpt, ckpt.args, i, probes)):  # type: ignore[arg-type]
                acc.append(m)
            if progress:
                progress(stage, i + 1, n)
    return [torch.stack(x) for x in out]


def sketch(ckpt: Checkpoint, max_anchors: int = SKETCH_ANCHORS, probe_dim: int = PROBE_DIM,
           progress: Progress | None = None) -> WeightSketch:
    """Sketch the reference ``ckpt`` (streams one tensor at a time). UnsupportedError if not comparable."""
    notes = check_comparable(ckpt)
    args = ckpt.args
    assert args is not None
    embed = ckpt.get(EMBED).numpy()
    keys, ids, by = _usable_anchors(ckpt, embed)
    frame_keys, frame_ids = fr.choose(keys, ids, by, embed.shape[0], args.dim)
    frame_rows = embed[frame_ids]
    pick = _spread(len(ids), max_anchors)
    ids = ids[pick]
    keys = [keys[i] for i in pick.tolist()]
    rows = embed[ids]
    del embed
    untied = ckpt.output_weight_name() != EMBED
    head = al.head_rows(ckpt, ids, rows) if untied else None
    final_norm = ckpt.get(FINAL_NORM).numpy() if FINAL_NORM in ckpt else None
    probe = inv.make_probe(args.dim, min(probe_dim, args.dim), PROBE_SEED).astype(np.float16)
    probes = [torch.from_numpy(probe.astype(np.float64)), torch.from_numpy(frame_rows.T.astype(np.float64))]
    maps, forms = _layer_maps(ckpt, probes, progress, "weight sketch")  # one pass for both probes
    return WeightSketch(
        arch=args.arch, dim=args.dim, n_layers=args.n_layers, vocab_size=ckpt.info(EMBED).shape[0],
        anchors_by=by, anchor_keys=keys, anchor_ids=ids, embed=rows.astype(np.float16),
        head=None if head is None else head.astype(np.float16),
        final_norm=None if final_norm is None else final_norm.astype(np.float32),
        probe=probe, invariants=inv.normalise(maps).numpy().astype(np.float16), notes=notes,
        frame=fr.build(frame_keys, frame_rows, forms),
    )


# -- candidate side ------------------------------------------------------------------------------

@dataclass
class LayerMatch:
    """A layer of A and its best partner in B (or the reverse), with the cosines of each invariant."""

    a: int
    b: int
    similarity: float
    kinds: dict[str, float]
    matched: bool  # similarity >= calibration.LAYER_MATCH_MIN

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "similarity": _r(self.similarity), "matched": self.matched,
                "kinds": {k: _r(v) for k, v in self.kinds.items()}}


@dataclass
class WeightResult:
    """Outcome of a weight comparison: verdict, score ``T``, p-value under the calibrated null.

    ``unverified``: the weights could not be compared (``reason`` says why; ``score`` is None unless
    a partial comparison measured one): missing evidence, never evidence of independence."""

    verdict: Verdict  # derived | independent | inconclusive | unverified
    score: float | None
    p_value: float | None
    basis: str  # which residual map the layers were compared through: procrustes | identity | none
    alignment: al.Alignment | None
    layers: list[LayerMatch]
    similarity: np.ndarray  # [L_a, L_b] kind-averaged layer cosines
    evidence: list[Evidence]
    notes: list[str]
    neurons: list[NeuronLayer] = field(default_factory=list)
    reason: str | None = None


def not_compared_evidence(reason: str) -> Evidence:
    """The layer evidence of a comparison that could not be made (supports nothing)."""
    return Evidence("weights.layer_invariants", "weights", Strength.STRONG, None, None,
                    f"weights not compared: {reason}", {"reason": reason})


def _r(x: float) -> float:
    return round(float(x), 6)


def _match_anchors(cand: Checkpoint, ref: WeightSketch, embed: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """Indices into the sketch's anchors and the candidate's ids they correspond to."""
    keys, by = al.token_keys(cand)
    ok = al.usable_rows(embed)
    if by == "string" and ref.anchors_by == "string":
        where = {k: i for i, k in enumerate(keys) if k is not None and ok[i]}
        pairs = [(s, where[k]) for s, k in enumerate(ref.anchor_keys) if k in where]
    else:  # no strings on one side: ids are the only shared key (meaningful for equal vocabularies)
        by = "id"
        n = embed.shape[0]
        pairs = [(s, int(i)) for s, i in enumerate(ref.anchor_ids.tolist()) if i < n and ok[i]]
    sel = np.array([p[0] for p in pairs], dtype=np.int64)
    ids = np.array([p[1] for p in pairs], dtype=np.int64)
    return sel, ids, by


def _align(cand: Checkpoint, ref: WeightSketch, embed: np.ndarray) -> tuple[al.Alignment | None, float | None]:
    """Residual alignment of the candidate (embedding table ``embed``) onto the reference, and the
    unaligned anchor cosine."""
    sel, ids, by = _match_anchors(cand, ref, embed)
    if len(sel) < cal.MIN_ANCHORS:
        return None, None
    ra = ref.embed[sel].astype(np.float32)
    rb = embed[ids]
    raw = None
    if ra.shape[1] == rb.shape[1]:
        raw = float(np.mean(np.sum(ra * rb, 1) / np.maximum(np.linalg.norm(ra, axis=1) * np.linalg.norm(rb, axis=1), 1e-30)))
    ha = ref.head_rows()[sel]
    hb = al.head_rows(cand, ids, rb)
    ratio = float(np.median(np.linalg.norm(ra, axis=1)) / max(np.median(np.linalg.norm(rb, axis=1)), 1e-30))
    return al.fit_alignment([ra, ha], [rb, hb], by, ratio), raw


def _statistic(s: np.ndarray) -> float:
    """T: median best-partner cosine over the layers of whichever model it is larger for."""
    return float(max(np.median(s.max(axis=0)), np.median(s.max(axis=1))))


def _layer_matches(s_kinds: np.ndarray) -> list[LayerMatch]:
    s = s_kinds.mean(-1)
    pairs = {(i, int(s[i].argmax())) for i in range(s.shape[0])}
    pairs |= {(int(s[:, j].argmax()), j) for j in range(s.shape[1])}
    return [
        LayerMatch(i, j, float(s[i, j]), {k: float(s_kinds[i, j, n]) for n, k in enumerate(inv.KINDS)},
                   bool(s[i, j] >= cal.LAYER_MATCH_MIN))
        for i, j in sorted(pairs)
    ]


def p_value(score: float) -> float:
    """Upper tail of ``score`` under the calibrated null of independent pairs (normal model)."""
    from scipy.stats import norm

    return max(float(norm.sf((score - cal.WEIGHT_NULL_MEAN) / cal.WEIGHT_NULL_STD)), 1e-300)


def verdict_for(score: float, p: float | None) -> Verdict:
    """derived / independent / inconclusive from the score and its p-value (thresholds: calibration)."""
    if p is not None and p <= cal.WEIGHT_DERIVED_P and score >= cal.WEIGHT_DERIVED_MIN_SCORE:
        return Verdict.DERIVED
    if score <= cal.WEIGHT_INDEPENDENT_MAX_SCORE:
        return Verdict.INDEPENDENT
    return Verdict.INCONCLUSIVE


def compare_to_sketch(cand: Checkpoint, ref: WeightSketch, progress: Progress | None = None) -> WeightResult:
    """Compare candidate ``cand`` with a reference known only by its sketch."""
    return compare_to_sketches(cand, [ref], progress)[0]


@dataclass
class _Plan:
    """What one reference needs from the candidate's single pass over its layers."""

    ref: WeightSketch
    notes: list[str]
    alignment: al.Alignment | None
    raw_cos: float | None
    bases: list[tuple[str, torch.Tensor]]  # (basis name, probe [D_cand, k] in the candidate's basis)
    dim: int  # the candidate's width


def _plan(cand: Checkpoint, ref: WeightSketch, embed: np.ndarray, caveats: list[str]) -> _Plan:
    args = cand.args
    assert args is not None
    notes = list(ref.notes) + caveats
    alignment, raw_cos = _align(cand, ref, embed)
    probe = torch.from_numpy(ref.probe.astype(np.float64))
    bases: list[tuple[str, torch.Tensor]] = []
    if alignment is not None:
        bases.append(("procrustes", torch.from_numpy(alignment.q).T @ probe))
    else:
        notes.append(f"fewer than {cal.MIN_ANCHORS} shared anchor tokens: residual bases not aligned")
    if args.dim == ref.dim and (alignment is None or alignment.heldout_cosine < cal.ALIGNED_HELDOUT):
        bases.append(("identity", probe))  # e.g. a swapped tokenizer over unrotated weights
    if not bases:
        notes.append("widths differ and no shared tokens: layers cannot be put in one basis")
    return _Plan(ref, notes, alignment, raw_cos, bases, args.dim)


def compare_to_sketches(cand: Checkpoint, refs: list[WeightSketch], progress: Progress | None = None) -> list[WeightResult]:
    """Compare candidate ``cand`` with each reference sketch, reading the candidate's tensors once.

    Every reference's probes go through one pass over the candidate's layers (the audit checks all
    registry references; reading and dequantizing the candidate dominates the cost). Raises
    :class:`UnsupportedError` when the candidate's weights cannot be compared at all.
    """
    caveats = check_comparable(cand)
    embed = cand.get(EMBED).numpy()
    plans = [_plan(cand, ref, embed, caveats) for ref in refs]
    del embed  # the full table can be 2 GB (128k x 4096); the alignments kept only anchor rows
    probes = [p for plan in plans for _, p in plan.bases]
    maps = iter(inv.normalise(m) for m in (_layer_maps(cand, probes, progress, "weight comparison") if probes else []))
    return [_score_plan(plan, [next(maps) for _ in plan.bases], cand.args.n_layers) for plan in plans]  # type: ignore[union-attr]


def _score_plan(plan: _Plan, maps: list[torch.Tensor], n_layers: int) -> WeightResult:
    """The weight result for one reference from the candidate's layer maps through its bases."""
    ref, notes = plan.ref, plan.notes
    if not plan.bases:
        why = f"widths differ ({ref.dim} vs {plan.dim}) and fewer than {cal.MIN_ANCHORS} shared anchor tokens to align them"
        return WeightResult(Verdict.UNVERIFIED, None, None, "none", None, [], np.zeros((ref.n_layers, n_layers)),
                            [not_compared_evidence(why)], notes, reason=why)
    ref_maps = inv.centre_layers(torch.from_numpy(ref.invariants.astype(np.float64)))
    sims = [inv.similarity(ref_maps, inv.centre_layers(m)).numpy() for m in maps]
    scores = [_statistic(s.mean(-1)) for s in sims]
    best = int(np.argmax(scores))
    basis, s_kinds, score = plan.bases[best][0], sims[best], scores[best]
    p = p_value(score)
    verdict = verdict_for(score, p)
    reason: str | None = None
    if plan.alignment is None and verdict != Verdict.DERIVED:
        # through the identity map alone only an unrotated descendant shows: a low score proves nothing
        verdict, reason = Verdict.UNVERIFIED, (f"fewer than {cal.MIN_ANCHORS} shared anchor tokens: residual bases "
                                               "not aligned, so only an unrotated descendant could have been detected")
    layers = _layer_matches(s_kinds)
    evidence: list[Evidence] = []
    if plan.alignment is not None:
        evidence.append(_alignment_evidence(plan.alignment))
    if plan.raw_cos is not None:
        evidence.append(Evidence(
            "weights.embedding_cosine", "weights", Strength.STRONG, _r(plan.raw_cos), None,
            f"unaligned cosine of shared-token embeddings {plan.raw_cos:.3f} (a first look: any permutation breaks it)",
        ))
    evidence.append(_layer_evidence(verdict, score, p, basis, layers, s_kinds, scores, reason))
    return WeightResult(verdict, score, p, basis, plan.alignment, layers, s_kinds.mean(-1), evidence, notes,
                        reason=reason)


def _alignment_evidence(a: al.Alignment) -> Evidence:
    return Evidence(
        "weights.alignment", "weights", Strength.STRONG, _r(a.heldout_cosine), None,
        f"residual bases aligned on {a.n_shared} tokens shared by {a.anchors_by} ({a.transform}): "
        f"held-out cosine {a.heldout_cosine:.3f}",
        a.to_dict(),
    )


def _layer_evidence(verdict: Verdict, score: float, p: float, basis: str, layers: list[LayerMatch],
                    s_kinds: np.ndarray, scores: list[float], reason: str | None) -> Evidence:
    matched = sorted({m.a for m in layers if m.matched}), sorted({m.b for m in layers if m.matched})
    la, lb = s_kinds.shape[:2]
    kinds = {k: _r(np.median(s_kinds[..., n].max(axis=1))) for n, k in enumerate(inv.KINDS)}
    summary = (f"per-layer invariants: score {score:.3f} (p = {p:.2g} for independent models); "
               f"{len(matched[0])}/{la} reference and {len(matched[1])}/{lb} candidate layers matched"
               + (f"; unverified: {reason}" if reason else ""))
    return Evidence(
        "weights.layer_invariants", "weights", Strength.STRONG, _r(score),
        verdict if verdict in (Verdict.DERIVED, Verdict.INDEPENDENT) else None, summary,
        {"p_value": float(f"{p:.6g}"), "basis": basis, "scores_by_basis": [_r(x) for x in scores],
         "kinds": kinds, "matched_a": len(matched[0]), "matched_b": len(matched[1])},
    )


# -- full two-checkpoint comparison --------------------------------------------------------------

def name_cosines(a: Checkpoint, b: Checkpoint) -> Evidence | None:
    """Raw cosine of same-named, same-shaped linear weights in a few layers (no alignment at all).

    Fast and decisive for untouched copies and fine-tunes; any permutation, rotation or re-layout
    drives it to ~0, so a low value proves nothing.
    """
    n = min(a.args.n_layers, b.args.n_layers)  # type: ignore[union-attr]
    values: dict[str, float] = {}
    for i in _spread(n, NAME_COSINE_LAYERS).tolist():
        for s in REQUIRED:
            name = layer_name(i, s)
            if name in a and name in b and a.info(name).shape == b.info(name).shape:
                x, y = a.get(name).flatten().double(), b.get(name).flatten().double()
                values[name] = float(x @ y / max(float(x.norm() * y.norm()), 1e-30))
    if not values:
        return None
    med = float(np.median(list(values.values())))
    return Evidence("weights.name_cosine", "weights", Strength.STRONG, _r(med), None,
                    f"same-name weights in {len(values)} tensors: median raw cosine {med:.3f} (no alignment)",
                    {"tensors": {k: _r(v) for k, v in values.items()}})


def _neuron_pairs(layers: list[LayerMatch]) -> list[tuple[int, int]]:
    """Evenly spaced reference layers with their matched partner, falling back to best partners."""
    best: dict[int, LayerMatch] = {}
    for m in layers:
        if m.a not in best or m.similarity > best[m.a].similarity:
            best[m.a] = m
    ordered = [best[i] for i in sorted(best)]
    matched = [m for m in ordered if m.matched] or ordered
    return [(m.a, m.b) for m in (matched[i] for i in _spread(len(matched), NEURON_LAYERS).tolist())]


def neuron_evidence(a: Checkpoint, b: Checkpoint, result: WeightResult) -> Evidence | None:
    """Run the neuron-matching test on a few layer pairs (needs a residual alignment and equal widths:
    its null agreement was calibrated on equal-width pairs, and across widths unrelated models
    agree more often, e.g. Qwen2.5-Coder vs SmolLM2: 4.6%, p = 3e-6 under that null)."""
    if result.basis == "none":
        return None
    if a.args.dim != b.args.dim:  # type: ignore[union-attr]
        result.notes.append("neuron test skipped: the widths differ (its null is calibrated on equal widths)")
        return None
    q = result.alignment.q if result.basis == "procrustes" and result.alignment else np.eye(a.args.dim)  # type: ignore[union-attr]
    layers, p = neuron_test(a, b, _neuron_pairs(result.layers), q)
    result.neurons = layers
    frac = sum(x.agree for x in layers) / max(sum(x.n for x in layers), 1)
    supports = Verdict.DERIVED if p <= cal.NEURON_DERIVED_P and frac >= cal.NEURON_DERIVED_FRACTION else None
    return Evidence(
        "weights.neuron_match", "weights", Strength.STRONG, _r(frac), supports,
        f"MLP neurons matched by gate and by up rows agree for {frac:.1%} (Fisher p = {p:.2g} "
        f"if the two matchings were unrelated; {len(layers)} layers)",
        {"p_value": float(f"{p:.6g}"), "layers": [x.to_dict() for x in layers]},
    )


def compare_checkpoints(a: Checkpoint, b: Checkpoint, progress: Progress | None = None,
                        neurons: bool = True) -> WeightResult:
    """Full comparison of reference ``a`` and candidate ``b``: the sketch test with every shared token
    as an anchor, plus name-aligned cosines and (``neurons``) the neuron-matching test as extra
    evidence. The verdict is the sketch test's, so a fingerprint gives the same answer."""
    ref = sketch(a, max_anchors=FULL_ANCHORS, progress=progress)
    result = compare_to_sketch(b, ref, progress=progress)
    extra = [name_cosines(a, b)]
    if neurons:
        with torch.no_grad():
            extra.append(neuron_evidence(a, b, result))
    result.evidence.extend(e for e in extra if e is not None)
    return result
