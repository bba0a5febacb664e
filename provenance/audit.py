"""``provenance audit``: lineage verdict, concluded license and risk for one model.

Layers of evidence, weakest first: declared metadata, architecture signature, tokenizer identity
(:mod:`provenance.evidence`), then the strong ones against every registry fingerprint: weights
(:mod:`provenance.evidence.weights.sketch`) and behaviour (:mod:`provenance.evidence.behaviour.probes`).

How the lineage verdict is reached (documented rules, in order):

1. ``derived``: the weights match a registry reference (weight verdict ``derived``); the best
   such reference (highest score) is the ``base``. Its family and license govern.
2. ``imitates``: no weight match, but the behaviour of a reference is imitated far beyond what
   independent models reach (a distilled student, or a descendant whose weights we cannot compare).
3. ``unverified``: a LoRA adapter (deltas only: its base's lineage governs, finding PROV-LIN-005
   names the base to audit), or weak evidence (architecture, tokenizer or declared base model)
   points at a Meta release whose weight fingerprint is not installed. Never concluded as derived: architecture and
   tokenizer are copied by independent models (TinyLlama, Yi). The finding names the command that
   settles it.
4. ``unverified``: the weights could not be compared with some registry reference (a tensor type
   we refuse, no shared tokens to align differing widths, too few anchors to align equal ones, a
   fingerprint without a weight sketch): the lineage against it is unknown, and missing evidence is
   never evidence of independence. Finding PROV-LIN-006 says what was not checked and why (high
   when no reference was compared, medium otherwise).
5. ``independent``: nothing above. With no weak pointer to a Meta release and no weight match, the
   model is independent of every Meta release the tool knows; with a Meta fingerprint installed and
   a weight verdict ``independent``, it is independent of that release by weight evidence.

Behaviour that could not be measured against a reference (no forward pass for the architecture, a
model without a tokenizer against text canaries, a fingerprint without canary results) leaves the
weight verdict standing but is listed in the low finding PROV-LIN-007: imitation of that reference
is not ruled out. Models that legitimately ship no tokenizer (llama2.c's stories family) therefore
carry PROV-LIN-007 against every text-probed reference and, where the widths differ too, PROV-LIN-006
(medium) against those references: such a model is ``derived`` when its weights match a reference,
and otherwise ``unverified``, never ``independent`` of references it could not be put beside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.checkpoint import open_checkpoint
from provenance.checkpoint.base import Checkpoint
from provenance.checkpoint.metadata import MODEL_CARD, license_files, notice_files
from provenance.compare import behaviour_summary
from provenance.describe import describe_checkpoint
from provenance.domain import EvidenceKind, Progress, Verdict
from provenance.errors import ProvenanceError
from provenance.evidence import Evidence
from provenance.evidence.architecture import architecture_evidence
from provenance.evidence.behaviour.canaries import template_notes
from provenance.evidence.behaviour.compare import behaviour_against
from provenance.evidence.behaviour.probes import ProbeResults
from provenance.evidence.behaviour.score import BehaviourResult
from provenance.evidence.integrity import IntegrityResult, SigningCheck, check_signature
from provenance.evidence.metadata import metadata_evidence
from provenance.evidence.tokenizer import tokenizer_evidence
from provenance.evidence.weights.compare import CompareResult, compare_sketches
from provenance.evidence.weights.sketch import WeightSketch
from provenance.fileio import read_bounded
from provenance.fingerprint.format import Fingerprint
from provenance.fingerprint.registry import Entry, load_references
from provenance.knowledge.license_text import notice_license, recognise_file
from provenance.knowledge.releases import Knowledge, load_knowledge, resolve_release
from provenance.knowledge.rules import Anchor, Finding, Gap, RiskInput, assess


@dataclass
class ReferenceCheck:
    """One registry reference compared with the audited model."""

    name: str
    family: str | None
    license: str | None
    origin: str
    weights: CompareResult | None  # None: the fingerprint holds no weight sketch
    behaviour: BehaviourResult | None  # None: behaviour not asked for

    def weights_gap(self) -> str | None:
        """Why the weights were not compared with this reference (None when they were)."""
        if self.weights is None:
            return "the reference fingerprint holds no weight sketch"
        return self.weights.reason if self.weights.verdict == Verdict.UNVERIFIED else None

    def behaviour_gap(self) -> str | None:
        """Why behaviour, asked for, was not compared with this reference (None when it was)."""
        b = self.behaviour
        return b.reason if b is not None and b.score is None else None

    def to_dict(self) -> dict[str, Any]:
        w = self.weights
        return {
            "name": self.name,
            "family": self.family,
            "license": self.license,
            "origin": self.origin,
            "verdict": w.verdict if w else Verdict.UNVERIFIED,
            "reason": self.weights_gap(),
            "score": round(w.score, 6) if w and w.score is not None else None,
            "p_value": None if w is None or w.p_value is None else float(f"{w.p_value:.6g}"),
            "layers": [m.to_dict() for m in w.layers] if w else [],
            "alignment": w.alignment if w else None,
            "behaviour": behaviour_summary(self.behaviour),
        }


@dataclass
class AuditResult:
    """Everything ``provenance audit`` reports; :meth:`to_dict` is the JSON contract."""

    model: dict[str, Any]
    verdict: Verdict  # derived | imitates | unverified | independent
    base: str | None
    family: str | None
    p_value: float | None
    score: float | None
    meta_lineage: Verdict  # derived | unverified | independent: relative to Meta's releases
    summary: str
    evidence: list[Evidence]
    references: list[ReferenceCheck]
    declared_license: str | None
    concluded_license: str | None
    license_obligations: list[dict[str, Any]]
    risk: str
    findings: list[Finding]
    notes: list[str] = field(default_factory=list)
    integrity: IntegrityResult | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "audit",
            "model": self.model,
            "lineage": {
                "verdict": self.verdict,
                "base": self.base,
                "family": self.family,
                "p_value": None if self.p_value is None else float(f"{self.p_value:.6g}"),
                "score": None if self.score is None else round(self.score, 6),
                "meta_lineage": self.meta_lineage,
                "summary": self.summary,
                "evidence": [e.to_dict() for e in self.evidence],
                "references": [r.to_dict() for r in self.references],
            },
            "license": {
                "declared": self.declared_license,
                "concluded": self.concluded_license,
                "obligations": self.license_obligations,
            },
            "risk": self.risk,
            "findings": [f.to_dict() for f in self.findings],
            "notes": list(self.notes),
        }
        if self.integrity is not None:  # integrity is reported beside lineage, never as lineage evidence
            out["integrity"] = self.integrity.to_dict()
        return out


def audit(
    model: str | Path | Checkpoint,
    registry_dir: str | Path | None = None,
    behaviour: bool = True,
    progress: Progress | None = None,
    device: str = "cpu",
    signing: SigningCheck | None = None,
    references: Sequence[tuple[Entry, Fingerprint]] | None = None,
) -> AuditResult:
    """Audit ``model`` against the shipped and user registries (see the module docstring for rules).

    ``device`` is where the behavioural probes run (``cpu``, ``cuda``). ``signing`` verifies a
    model-signing signature (:mod:`provenance.evidence.integrity`); without it a ``model.sig`` in the
    model folder is still reported, as not verified. ``references`` is the registry already loaded by
    :func:`provenance.fingerprint.registry.load_references` (a scan loads it once per worker); by
    default it is loaded from ``registry_dir``."""
    ckpt = model if isinstance(model, Checkpoint) else open_checkpoint(model)
    kn = load_knowledge()
    notes: list[str] = []
    integrity = check_signature(ckpt.path, signing or SigningCheck())
    if integrity is not None:
        for f in ckpt.files:
            f.known_sha256(integrity.sha256.get(f.path.resolve()))
    info = describe_checkpoint(ckpt)
    weak = [metadata_evidence(ckpt.metadata, kn)]
    if ckpt.args is not None:
        weak.append(architecture_evidence(ckpt.args, kn))
    weak.append(tokenizer_evidence(ckpt.tokenizer, kn))

    loaded = references if references is not None else load_references(registry_dir, progress)
    refs = _check_references(ckpt, loaded, behaviour, progress, device, notes)
    derived = sorted((r for r in refs if r.weights and r.weights.verdict == Verdict.DERIVED),
                     key=lambda r: (-(r.weights.score or 0.0), r.name))  # type: ignore[union-attr]
    imitated = sorted((r for r in refs if r.behaviour and r.behaviour.verdict == Verdict.IMITATES),
                      key=lambda r: (-(r.behaviour.z or 0.0), r.name))  # type: ignore[union-attr]
    pointers = _meta_pointers(weak, kn)
    gaps = _gaps(refs, kn)
    unchecked = [g for g in gaps if g.kind == EvidenceKind.WEIGHTS]
    # a Meta fingerprint counts as installed only where the weights were compared with it
    installed = {_meta_release_of(r, kn) for r in refs if r.weights_gap() is None} - {None}
    if not behaviour:
        notes.append("behaviour not measured (--no-behaviour): imitation (a distilled student) is not checked")

    strong: list[Evidence] = []
    for r in refs:
        if r.weights is not None:
            strong.extend(_tag(e, r.name) for e in r.weights.evidence)
        if r.behaviour is not None:
            strong.append(_tag(r.behaviour.to_evidence(), r.name))

    base = family = None
    p = score = None
    release_id: str | None = None
    if derived:
        best = derived[0]
        verdict, base, family = Verdict.DERIVED, best.name, best.family
        p, score = best.weights.p_value, best.weights.score  # type: ignore[union-attr]
        release_id = _meta_release_of(best, kn)
        summary = f"weights descend from {best.name} (score {score:.3f}, p = {_fmt_p(p)})"
    elif imitated:
        best = imitated[0]
        verdict, base, family = Verdict.IMITATES, best.name, best.family
        p, score = best.behaviour.p_value, best.behaviour.score  # type: ignore[union-attr]
        summary = f"behaviour imitates {best.name}; weights " + (
            "independent of every registry reference" if not unchecked else
            f"not derived from any reference compared, not compared with {_names(unchecked)}")
    elif ckpt.adapter is not None:
        # deltas alone carry no lineage of their own: that of the base they are applied to governs
        verdict, base = Verdict.UNVERIFIED, ckpt.adapter.base_model
        release_id = sorted(pointers - installed)[0] if pointers - installed else None
        summary = (f"a LoRA adapter (weight deltas only): its lineage is its base model's, declared as "
                   f"{base or 'nothing'}; audit the base, or the adapter merged into it, to verify")
    elif pointers - installed:
        verdict = Verdict.UNVERIFIED
        release_id = sorted(pointers - installed)[0]
        rel = kn.release(release_id)
        installed_gap = any(g.release == release_id for g in unchecked)
        summary = (f"weak evidence points at {rel.name} but " + (
            "its weights could not be compared" if installed_gap else "no weight fingerprint of it is installed")
            + "; weights unverified")
    elif not refs:
        verdict = Verdict.UNVERIFIED
        summary = "the registry holds no reference fingerprint: the weights were compared with nothing"
    elif unchecked:
        verdict = Verdict.UNVERIFIED
        compared = len(refs) - len(unchecked)
        summary = (f"weights not compared with {_names(unchecked)} ({unchecked[0].reason})"
                   + (f"; independent of the {compared} other registry references" if compared else "")
                   + ": lineage unverified")
    else:
        verdict = Verdict.INDEPENDENT
        summary = ("independent of every registry reference"
                   + (" and of every Meta release (no architecture, tokenizer or declared-base match)"
                      if not pointers else " (weights checked against the installed Meta fingerprints)"))

    # relative to Meta's releases: unverified when the open question concerns one of them, such as an
    # installed Meta fingerprint the weights could not be compared with
    meta_gaps = sorted(g.release for g in unchecked if g.release)
    meta_lineage = (Verdict.DERIVED if verdict == Verdict.DERIVED and release_id else
                    Verdict.UNVERIFIED if (verdict == Verdict.UNVERIFIED and (release_id or ckpt.adapter is not None))
                    or meta_gaps else Verdict.INDEPENDENT)
    risk_release = release_id or (meta_gaps[0] if meta_lineage == Verdict.UNVERIFIED and meta_gaps else None)
    reference = derived[0] if verdict == Verdict.DERIVED and release_id is None else None  # a non-Meta reference
    risk_in = _risk_input(ckpt, kn, meta_lineage, risk_release, family if verdict == Verdict.DERIVED else None,
                          weak, pointers, [e.name for e in strong], reference, integrity)
    risk_in.gaps, risk_in.compared, risk_in.registry_size = tuple(gaps), len(refs) - len(unchecked), len(refs)
    report = assess(risk_in, kn)
    return AuditResult(
        model=info,
        verdict=verdict,
        base=base,
        family=family,
        p_value=p,
        score=score,
        meta_lineage=meta_lineage,
        summary=summary,
        evidence=weak + strong,
        references=refs,
        declared_license=risk_in.declared_license,
        concluded_license=report.license,
        license_obligations=[o.to_dict() for o in report.obligations],
        risk=report.overall.value,
        findings=list(report.findings),
        notes=notes,
        integrity=integrity,
    )


def _gaps(refs: list[ReferenceCheck], kn: Knowledge) -> list[Gap]:
    """Evidence that could not be computed against each reference (weights first, in registry order)."""
    out = []
    for kind in (EvidenceKind.WEIGHTS, EvidenceKind.BEHAVIOUR):
        for r in refs:
            reason = r.weights_gap() if kind == EvidenceKind.WEIGHTS else r.behaviour_gap()
            if reason is not None:
                out.append(Gap(r.name, kind, reason, _meta_release_of(r, kn)))
    return out


def _names(gaps: list[Gap]) -> str:
    return ", ".join(g.reference for g in gaps)


def _fmt_p(p: float | None) -> str:
    return "n/a" if p is None else f"{p:.2g}"


def _tag(e: Evidence, ref: str) -> Evidence:
    """The same evidence, named for the reference it was measured against."""
    return Evidence(f"{e.name}[{ref}]", e.kind, e.strength, e.value, e.supports, e.summary,
                    {**e.details, "reference": ref})


def _check_references(
    ckpt: Checkpoint, loaded: Sequence[tuple[Entry, Fingerprint]], behaviour: bool, progress: Progress | None,
    device: str, notes: list[str],
) -> list[ReferenceCheck]:
    entries = [e for e, _ in loaded]
    sketches: dict[int, WeightSketch] = {}
    probes: list[tuple[str, ProbeResults | None]] = []  # canary results (None: none stored), for one behaviour pass
    for i, (entry, fp) in enumerate(loaded):
        if fp.weights is not None:
            sketches[i] = fp.weights
        probes.append((entry.name, fp.behaviour))
    # one pass over the candidate's tensors serves every reference
    results = dict(zip(sketches, compare_sketches(list(sketches.values()), ckpt, progress))) if sketches else {}
    beh: dict[str, BehaviourResult] = {}
    if behaviour:
        # every reference gets a result: what cannot be measured comes back inconclusive with its reason
        beh = {r.reference: r for r in behaviour_against(ckpt, probes, progress, device)}
        notes += template_notes(ckpt.tokenizer)
    if behaviour and probes and (ckpt.args is None or not ckpt.args.runnable):
        what = "a LoRA adapter" if ckpt.args is None else f"architecture {ckpt.args.arch!r}"
        notes.append(f"behaviour not measured: our engine has no forward pass for {what}")
    if progress:
        progress("references checked", len(entries), len(entries))
    return [ReferenceCheck(e.name, e.family, e.license, e.origin, results.get(i), beh.get(e.name))
            for i, e in enumerate(entries)]


def _meta_release_of(ref: ReferenceCheck, kn: Knowledge) -> str | None:
    """The Meta release a registry reference stands for (a user's ``registry add`` of a Meta model)."""
    for name in (ref.name, ref.family):
        rel = resolve_release(name, kn)
        if rel is not None:
            return rel.id
    return None


def _meta_pointers(weak: list[Evidence], kn: Knowledge) -> set[str]:
    """Meta release ids that weak evidence (metadata, exact architecture, tokenizer) points at."""
    out: set[str] = set()
    for e in weak:
        if e.supports != Verdict.DERIVED:
            continue
        if e.kind == "metadata":
            out.update(e.details.get("releases", []))
        elif e.kind == "architecture":
            out.update(e.details.get("best", []))
        elif e.kind == "tokenizer":
            for m in e.details.get("matches", []):
                if m.get("kind") in ("identical", "same-regular-tokens"):
                    out.update(m.get("releases", []))
    return {r for r in out if kn.find(r) is not None}


def _risk_input(
    ckpt: Checkpoint, kn: Knowledge, lineage: Verdict, release: str | None, family: str | None,
    weak: list[Evidence], pointers: set[str], strong_names: list[str], reference: ReferenceCheck | None,
    integrity: IntegrityResult | None,
) -> RiskInput:
    meta = ckpt.metadata
    weak_kinds = tuple(sorted({e.kind for e in weak if e.supports == Verdict.DERIVED}))
    if lineage == Verdict.UNVERIFIED and release is None and pointers:
        release = sorted(pointers)[0]
    folder = ckpt.path if ckpt.path.is_dir() else ckpt.path.parent
    lic_files, lic_ids, notice = _license_files(folder)
    fam = family if family in kn.families else None
    return RiskInput(
        lineage=lineage,
        release=release,
        family=fam,
        weak_matches=weak_kinds,
        declared_base=tuple(meta.base_model),
        declared_license=meta.license,
        declared_license_name=meta.license_name,
        model_name=meta.name or (folder.name if ckpt.path.is_dir() else ckpt.path.stem),
        license_file_present=bool(lic_files),
        license_file_licenses=tuple(lic_ids),
        notice_present=notice,
        evidence=tuple(strong_names) or tuple(e.name for e in weak),
        anchors=_anchors(ckpt, folder, integrity),
        reference=reference.name if reference else None,
        reference_license=reference.license if reference else None,
        adapter=ckpt.adapter is not None,
        adapter_base=ckpt.adapter.base_model if ckpt.adapter else None,
        integrity=integrity,
    )


def _license_files(folder: Path) -> tuple[list[Path], list[str], bool]:
    """License-like files beside the model, the licenses recognised in them, and a Meta Notice."""
    files = license_files(folder)
    ids: list[str] = []
    for p in files:
        try:
            ids.extend(m.license for m in recognise_file(p) if m.license not in ids)
        except ProvenanceError:
            continue
    notice = False
    for p in notice_files(folder) + files:
        try:
            text = read_bounded(p, 1 << 20, "notice file").decode("utf-8", errors="replace")
        except ProvenanceError:
            continue
        notice = notice or notice_license(text) is not None
    return files, ids, notice


def _anchors(ckpt: Checkpoint, folder: Path, integrity: IntegrityResult | None) -> dict[str, Anchor]:
    """Where ``license:``, ``base_model:`` and the config are written (SARIF anchors results there)."""
    out: dict[str, Anchor] = {}
    card = folder / MODEL_CARD
    if card.is_file():
        try:
            with open(card, encoding="utf-8", errors="replace") as f:
                lines = f.read(1 << 20).splitlines()
        except OSError:
            lines = []
        for n, line in enumerate(lines[:400], start=1):
            key = line.split(":", 1)[0].strip()
            if key in ("license", "base_model", "model_name") and key not in out:
                out["name" if key == "model_name" else key] = Anchor(MODEL_CARD, n, key)
    if (folder / "config.json").is_file():
        out["config"] = Anchor("config.json", None, None)
    if not out or ckpt.path.is_file():
        out.setdefault("config", Anchor(ckpt.path.name, None, None))
    out.setdefault("license", out["config"] if "config" in out else Anchor(ckpt.path.name))
    out.setdefault("base_model", out["license"])
    if integrity is not None:  # the signature file when it lies in the model's folder, else the config
        sig, root = integrity.signature.resolve(), folder.resolve()
        out["signature"] = Anchor(sig.relative_to(root).as_posix()) if sig.is_relative_to(root) else out["config"]
    return out
