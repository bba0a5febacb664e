"""Risk rules: what the concluded lineage and the declared metadata mean under the governing license.

Input is a small :class:`RiskInput` (filled by the audit from evidence and metadata); output is a
:class:`RiskReport`: findings with stable ids, the overall level (the worst finding) and the
obligations checklist of the governing license.

The *governing* license is Meta's license of the concluded release family when the weights descend from
one; the license of the registry reference when they descend from a non-Meta one; otherwise the license
of a Meta release named in ``base_model``; otherwise a Meta license the model declares (unless the
weights were shown independent). Without any of those, the declared license stands.

Every rule is one row of :data:`RULES` (id, friendly name, severity, when it fires); the checks below
produce findings only through those rows, so a rule's severity and title are written once. The
rules also cover descendants of a non-Meta registry reference (its license governs: LIC-014, LIC-015,
OK-002) and lone LoRA adapters (LIN-005).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from provenance import REPOSITORY_URL
from provenance.domain import EvidenceKind, Severity, Verdict
from provenance.evidence.behaviour.score import NO_REFERENCE_RESULTS
from provenance.evidence.integrity import (
    EVIDENCE_NAME,
    NOT_LINEAGE,
    IntegrityResult,
    SignatureState,
)
from provenance.knowledge.licenses import (
    License,
    Obligation,
    get_license,
    normalize_declared,
    normalize_license,
    obligations,
)
from provenance.knowledge.releases import (
    Knowledge,
    Release,
    load_knowledge,
    resolve_release,
)


@dataclass(frozen=True)
class Anchor:
    """Where a finding points: a file, optionally a line and the field on it (``license``, ``base_model``)."""

    path: str
    line: int | None = None
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "line": self.line, "field": self.field}


@dataclass(frozen=True)
class Finding:
    id: str
    severity: Severity
    title: str
    message: str
    evidence: tuple[str, ...] = ()  # names of the Evidence it rests on
    anchor: Anchor | None = None
    action: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "severity": self.severity.value, "title": self.title, "message": self.message,
                "evidence": list(self.evidence), "anchor": self.anchor.to_dict() if self.anchor else None,
                "action": self.action}


@dataclass(frozen=True)
class Gap:
    """Evidence that could not be computed against one registry reference, and why.

    ``release``: the Meta release the reference stands for (a user's fingerprint of it), if any."""

    reference: str
    kind: EvidenceKind  # weights | behaviour
    reason: str
    release: str | None = None


@dataclass
class RiskInput:
    """What the rules need.

    Attributes:
        lineage: ``derived`` (weights descend from ``release``/``family``), ``independent`` or
            ``unverified`` (no weight evidence either way; ``release`` then names what the weak
            evidence in ``weak_matches`` points at, if anything).
        release: a release id of releases.json, e.g. ``llama-2-7b``.
        family: a family id (``llama-3.1``) when the exact release is unknown.
        weak_matches: kinds of weak evidence matching ``release``: ``architecture``, ``tokenizer``, ``metadata``.
        declared_base / declared_license / declared_license_name / model_name: from the model card or GGUF.
        license_file_present: a LICENSE-like file ships beside the weights (None: not checked).
        license_file_licenses: ids recognised in those files (:func:`provenance.knowledge.license_text.recognise_file`).
        notice_present: a Notice file with Meta's attribution sentence ships (None: not checked).
        evidence: names of the Evidence behind ``lineage``.
        anchors: ``license``, ``base_model``, ``name``, ``config`` -> where those are written.
        reference / reference_license: the non-Meta registry reference the weights descend from
            (lineage ``derived``, no Meta release) and its declared license, which then governs.
        adapter / adapter_base: the model is a lone LoRA adapter, and the base model it declares.
        integrity: the model-signing check (:mod:`provenance.evidence.integrity`), when a signature ships or
            was given; anchored at ``anchors["signature"]``. Integrity is not lineage: it never moves a verdict.
        gaps: evidence that could not be computed against a registry reference (weights, behaviour).
        compared: how many registry references the weights were compared with.
        registry_size: how many references the registry holds (None: not an audit's input).
    """

    lineage: Verdict = Verdict.UNVERIFIED
    release: str | None = None
    family: str | None = None
    weak_matches: tuple[str, ...] = ()
    declared_base: tuple[str, ...] = ()
    declared_license: str | None = None
    declared_license_name: str | None = None
    model_name: str | None = None
    license_file_present: bool | None = None
    license_file_licenses: tuple[str, ...] = ()
    notice_present: bool | None = None
    evidence: tuple[str, ...] = ()
    anchors: dict[str, Anchor] = field(default_factory=dict)
    reference: str | None = None
    reference_license: str | None = None
    adapter: bool = False
    adapter_base: str | None = None
    integrity: IntegrityResult | None = None
    gaps: tuple[Gap, ...] = ()
    compared: int = 0
    registry_size: int | None = None


@dataclass(frozen=True)
class RiskReport:
    findings: tuple[Finding, ...]
    overall: Severity
    license: str | None  # the governing (or, failing that, declared) license id
    obligations: tuple[Obligation, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"overall": self.overall.value, "license": self.license,
                "findings": [f.to_dict() for f in self.findings],
                "obligations": [o.to_dict() for o in self.obligations]}


METADATA_EVIDENCE = "metadata.declared"
#: The generated page documenting every rule (``python docs/regenerate.py``), relative to the repository.
RULES_PAGE = "docs/rules.md"


@dataclass(frozen=True)
class _Ctx:
    inp: RiskInput
    kn: Knowledge
    concluded: Release | None  # the release the weights descend from (lineage derived)
    concluded_family: str | None
    declared: tuple[Release, ...]  # Meta releases named in base_model
    declared_lic: License | None
    declared_raw: str | None
    governing: License | None  # Meta license that applies, if any

    def anchor(self, *keys: str) -> Anchor | None:
        return next((self.inp.anchors[k] for k in keys if k in self.inp.anchors), None)

    def fam_name(self, fam: str | None) -> str:
        return self.kn.families[fam].name if fam in self.kn.families else str(fam)


def assess(inp: RiskInput, knowledge: Knowledge | None = None) -> RiskReport:
    """Apply every rule; findings sorted worst first, then by id."""
    ctx = _context(inp, knowledge or load_knowledge())
    findings: list[Finding] = []
    for check in _CHECKS:
        findings.extend(check(ctx))
    findings.sort(key=lambda f: (-f.severity.rank, f.id))
    overall = max((f.severity for f in findings), key=lambda s: s.rank, default=Severity.NONE)
    if inp.reference is not None:  # a non-Meta reference's license governs its derivative
        concluded = normalize_license(inp.reference_license) or inp.reference_license
        return RiskReport(tuple(findings), overall, concluded, tuple(obligations(concluded)))
    lic = ctx.governing or ctx.declared_lic
    return RiskReport(tuple(findings), overall, lic.id if lic else None, lic.obligations if lic else ())


def _context(inp: RiskInput, kn: Knowledge) -> _Ctx:
    concluded = kn.find(inp.release) if inp.lineage == Verdict.DERIVED else None
    fam = concluded.family if concluded else (inp.family if inp.lineage == Verdict.DERIVED else None)
    fam = fam if fam in kn.families else None  # derived from a non-Meta reference: no Meta license
    declared = tuple(r for r in (resolve_release(b, kn) for b in inp.declared_base) if r is not None)
    declared_lic = get_license(normalize_declared(inp.declared_license, inp.declared_license_name))
    governing = None
    if fam is not None:
        governing = get_license(kn.families[fam].license)
    elif declared and inp.lineage != Verdict.INDEPENDENT:
        governing = get_license(declared[0].license)
    elif declared_lic is not None and declared_lic.is_meta and inp.lineage != Verdict.INDEPENDENT:
        governing = declared_lic
    raw = inp.declared_license_name if inp.declared_license == "other" else inp.declared_license
    return _Ctx(inp, kn, concluded, fam, declared, declared_lic, raw, governing)


def _f(id_: str, title: str, message: str, ev: tuple[str, ...], anchor: Anchor | None,
       action: str | None = None, severity: Severity | None = None) -> Finding:
    """A finding of rule ``PROV-{id_}``, at the rule's severity unless a lower one is given."""
    rule = RULE_BY_ID[f"PROV-{id_}"]
    sev = rule.severity if severity is None else severity
    assert sev.rank <= rule.severity.rank, (id_, sev)  # the table states each rule's worst case
    return Finding(rule.id, sev, title, message, ev, anchor, action)


# -- lineage rules ------------------------------------------------------------------------------------
def _llama1(c: _Ctx) -> list[Finding]:
    if c.concluded_family == "llama-1":
        return [_f("LIC-001", "Weights descend from LLaMA-1",
                   "LLaMA-1 weights were released for non-commercial research only and their redistribution "
                   "was not granted; this model cannot be used commercially or redistributed.",
                   c.inp.evidence, c.anchor("config"), "Do not ship or use commercially; retrain from a "
                   "permissively licensed base.")]
    if any(r.family == "llama-1" for r in c.declared) and c.inp.lineage != Verdict.INDEPENDENT:
        return [_f("LIC-002", "Declares a LLaMA-1 base",
                   "base_model names a LLaMA-1 release, whose license forbids commercial use and redistribution.",
                   (METADATA_EVIDENCE,), c.anchor("base_model"), "Verify the lineage with the weights; if "
                   "true, treat the model as research-only.")]
    return []


def _unverified(c: _Ctx) -> list[Finding]:
    if c.inp.lineage != Verdict.UNVERIFIED or not c.inp.release:
        return []
    if any(g.release == c.inp.release for g in c.inp.gaps):
        return []  # its fingerprint is installed but the weights could not be compared: LIN-006 says why
    rel = c.kn.find(c.inp.release)
    name = rel.name if rel else c.inp.release
    what = " and ".join(c.inp.weak_matches) or "metadata"
    folder = ((rel.primary_repo if rel else None) or c.inp.release).rsplit("/", 1)[-1]
    cmd = f"provenance registry add /path/to/{folder} --name {c.inp.release}"
    return [_f("LIN-001", f"Unverified: resembles {name}, needs review",
               f"Same {what} as {name}, which independent models also share; no weight fingerprint of "
               f"{name} is installed, so whether the weights descend from it is unverified.",
               c.inp.evidence, c.anchor("config"), f"Run `{cmd}` with the original weights, then audit again.")]


def _gap_list(gaps: list[Gap]) -> str:
    """``A, B (reason 1); C (reason 2)``: references grouped by the reason, in the order given."""
    by_reason: dict[str, list[str]] = {}
    for g in gaps:
        by_reason.setdefault(g.reason, []).append(g.reference)
    return "; ".join(f"{', '.join(refs)} ({reason})" for reason, refs in by_reason.items())


def _weights_not_compared(c: _Ctx) -> list[Finding]:
    """Missing weight evidence is never evidence of independence: say what was not checked.

    High when nothing was compared: the lineage verdict then rests on nothing, and a file that makes
    every comparison fail (one tensor in a type we refuse) must still fail a CI gate at the default
    ``--fail-on high``. Medium when others were compared: whether the model descends from the
    unchecked references (and owes their license) is open, as with PROV-LIN-001."""
    if c.inp.adapter:  # deltas alone are never comparable: PROV-LIN-005 sends the user to the base model
        return []
    gaps = [g for g in c.inp.gaps if g.kind == EvidenceKind.WEIGHTS]
    if c.inp.registry_size == 0:  # an empty or misplaced registry: "independent" of nothing is no verdict
        return [_f("LIN-006", "No registry reference to compare the weights with",
                   "The registry holds no reference fingerprint, so the weights were compared with nothing; "
                   "the lineage is unverified.", (), c.anchor("config"),
                   "Check the installation's fingerprints/ folder (provenance registry list) and audit again.")]
    if not gaps:
        return []
    scope = "any registry reference" if c.inp.compared == 0 else f"{len(gaps)} of the registry references"
    return [_f("LIN-006", f"Weights not compared with {scope}",
               f"The weights could not be compared with {_gap_list(gaps)}; the lineage against "
               f"{'them' if len(gaps) > 1 else 'it'} is unverified (missing evidence is not evidence of independence).",
               tuple(f"weights.layer_invariants[{g.reference}]" for g in gaps), c.anchor("config"),
               f"Remove the cause named for {', '.join(g.reference for g in gaps)} (e.g. requantize refused tensors "
               "to Q8_0 or F16, or fingerprint the reference with its weights) and audit again.",
               severity=None if c.inp.compared == 0 else Severity.MEDIUM)]


def _behaviour_not_compared(c: _Ctx) -> list[Finding]:
    """Behaviour asked for but not measured against some references: imitation of them is open.

    Low: the weight verdict stands; what is missing is only the check for a distilled student, and
    for models that legitimately ship no tokenizer (llama2.c's stories family) text canaries can never run."""
    gaps = [g for g in c.inp.gaps if g.kind == EvidenceKind.BEHAVIOUR]
    if not gaps:
        return []
    return [_f("LIN-007", "Behaviour not compared with some references",
               f"Behaviour could not be compared with {_gap_list(gaps)}; whether the model imitates "
               f"{'them' if len(gaps) > 1 else 'it'} (a distilled student) is not checked.",
               tuple(f"behaviour.agreement[{g.reference}]" for g in gaps), c.anchor("config"),
               "Rebuild those references' fingerprints with behaviour (provenance registry add without "
               "--no-behaviour)." if all(g.reason == NO_REFERENCE_RESULTS for g in gaps) else
               "Audit the model in a form our engine can run, with its tokenizer, to measure behaviour.")]


def _undeclared(c: _Ctx) -> list[Finding]:
    fam = c.concluded_family
    if fam is None or fam == "llama-1" or c.declared or (c.declared_lic and c.declared_lic.is_meta):
        return []
    said = f"license {c.declared_raw!r}" if c.declared_raw else "no license"
    return [_f("LIN-002", f"Undeclared {c.fam_name(fam)} derivative",
               f"The weights descend from {c.fam_name(fam)}, but the model declares no Llama base_model and "
               f"{said}; the {c.governing.name if c.governing else 'Meta license'} applies regardless.",
               c.inp.evidence, c.anchor("base_model", "license", "config"),
               "Declare the Llama base_model and license, and meet the obligations below.")]


def _declared_base_mismatch(c: _Ctx) -> list[Finding]:
    if not c.declared or not c.concluded_family:
        return []
    names = ", ".join(r.name for r in c.declared)
    if all(r.family != c.concluded_family for r in c.declared):
        return [_f("LIN-003", "Declared base differs from the weights",
                   f"base_model declares {names}, but the weights descend from {c.fam_name(c.concluded_family)}.",
                   c.inp.evidence, c.anchor("base_model"), "Correct base_model and the license.")]
    return []


def _declared_but_independent(c: _Ctx) -> list[Finding]:
    if c.inp.lineage != Verdict.INDEPENDENT:
        return []
    if c.declared:
        claim, key = f"base_model declares {', '.join(r.name for r in c.declared)}", "base_model"
    elif c.declared_lic is not None and c.declared_lic.is_meta:
        claim, key = f"the model declares the {c.declared_lic.name}", "license"
    else:
        return []
    return [_f("LIN-004", "Declared Llama lineage not supported by the weights",
               f"{claim}, but the weights are independent of every Meta reference checked.",
               c.inp.evidence, c.anchor(key), "Correct the declaration if it is wrong.")]


# -- license rules (governing Meta license) ------------------------------------------------------------
def _declared_license(c: _Ctx) -> list[Finding]:
    g, d = c.governing, c.declared_lic
    if g is None or g.id == "llama1":
        return []
    if d is not None and d.id != "other" and not d.is_meta:
        return [_f("LIC-003", "Declared license conflicts with the Llama license",
                   f"The model declares {d.name} but derives from a Llama release under the {g.name}; "
                   f"{d.name} cannot relicense Meta's materials.", (METADATA_EVIDENCE,) + c.inp.evidence,
                   c.anchor("license"), f"Declare the {g.name} (HF id {g.id}).")]
    if d is not None and d.is_meta and d.id != g.id:
        return [_f("LIC-004", "Declared Llama license of another version",
                   f"The model declares the {d.name}, but the governing license is the {g.name}.",
                   (METADATA_EVIDENCE,), c.anchor("license"), f"Declare {g.id}.")]
    if (d is None or d.id == "other") and c.declared:
        said = f"{c.declared_raw!r}, which is not recognised" if c.declared_raw else "none"
        return [_f("LIC-005", "No Llama license declared",
                   f"base_model names {c.declared[0].name} (under the {g.name}) but the declared license is {said}.",
                   (METADATA_EVIDENCE,), c.anchor("license", "base_model"), f"Declare {g.id}.")]
    return []


def _naming(c: _Ctx) -> list[Finding]:
    g, name = c.governing, c.inp.model_name
    if g is None or not g.name_prefix or not name:
        return []
    short = name.strip().rsplit("/", 1)[-1]
    originals = {r.rsplit("/", 1)[-1].lower() for rel in c.kn.releases for r in rel.repos}
    if _compact(short).startswith(_compact(g.name_prefix)) or short.lower() in originals:
        return []
    return [_f("LIC-006", f"Name does not begin with \"{g.name_prefix}\"",
               f"The {g.name} (§1.b.i) requires a distributed model built with Llama to have "
               f"\"{g.name_prefix}\" at the beginning of its name; this one is named {short!r}.",
               (METADATA_EVIDENCE,), c.anchor("name"), f"Rename to \"{g.name_prefix} ...\" (e.g. "
               f"\"{g.name_prefix}-{short}\").")]


def _compact(s: str) -> str:
    return "".join(ch for ch in s.lower() if ch.isalnum())


def _shipped_files(c: _Ctx) -> list[Finding]:
    g, inp = c.governing, c.inp
    if g is None or g.notice is None:
        return []
    out = []
    if inp.notice_present is False:
        out.append(_f("LIC-007", "Attribution Notice file missing",
                      f"The {g.name} (§1.b.iii) requires a \"Notice\" text file in every distributed copy.",
                      (), c.anchor("license"), f"Add a NOTICE file containing: {g.notice}"))
    if inp.license_file_present is False:
        out.append(_f("LIC-008", "License agreement not shipped",
                      f"The {g.name} (§1.b.i) requires giving a copy of the agreement with the model.",
                      (), c.anchor("license"), f"Ship the {g.name} as LICENSE."))
    elif inp.license_file_present and inp.license_file_licenses and g.id not in inp.license_file_licenses:
        shipped = ", ".join(inp.license_file_licenses)
        out.append(_f("LIC-009", "Shipped license file is not the governing license",
                      f"The license file beside the model reads as {shipped}; the governing license is the {g.name}.",
                      (), c.anchor("license"), f"Replace it with the {g.name} text."))
    return out


def _eu_multimodal(c: _Ctx) -> list[Finding]:
    if c.concluded is not None:
        family, multimodal = c.concluded.family, c.concluded.multimodal
    elif c.concluded_family is not None:  # family known, release not: multimodal when all its releases are
        family = c.concluded_family
        multimodal = all(r.multimodal for r in c.kn.releases if r.family == family)
    elif c.declared and c.inp.lineage != Verdict.INDEPENDENT:
        family, multimodal = c.declared[0].family, c.declared[0].multimodal
    else:
        return []
    if not multimodal:
        return []
    return [_f("LIC-010", "Multimodal Llama: no rights for EU-domiciled licensees",
               f"The acceptable use policy of {c.fam_name(family)} withholds the license grant for its "
               "multimodal models from individuals and companies domiciled in the EU (end users of products "
               "excepted).", c.inp.evidence or (METADATA_EVIDENCE,), c.anchor("license"),
               "Confirm your organisation is not EU-domiciled before using or distributing it.")]


# -- no Meta license governs ------------------------------------------------------------------------
def _declared_only(c: _Ctx) -> list[Finding]:
    if c.governing is not None or c.inp.reference is not None:
        return []
    d, inp = c.declared_lic, c.inp
    files = set(inp.license_file_licenses)
    if d is None or d.id == "other":
        if d is None:
            return [_f("LIC-012", "No license declared", "The model declares no recognised "
                       f"license{f' ({c.declared_raw!r})' if c.declared_raw else ''}; its terms are unknown.",
                       (METADATA_EVIDENCE,), c.anchor("license"), "Find and record the model's license.")]
        return []
    out = []
    if d.commercial == "no":
        out.append(_f("LIC-011", "Declared license forbids commercial use",
                      f"{d.name}: {d.commercial_note}", (METADATA_EVIDENCE,), c.anchor("license"),
                      "Use only for non-commercial purposes."))
    if files and d.id not in files:
        out.append(_f("LIC-013", "License file and declared license disagree",
                      f"The model declares {d.name}; its license file reads as {', '.join(sorted(files))}.",
                      (METADATA_EVIDENCE,), c.anchor("license"), "Make the declaration match the file."))
    elif inp.lineage == Verdict.INDEPENDENT and d.permissive and not c.declared and not any(
            g.kind == EvidenceKind.WEIGHTS for g in inp.gaps):
        out.append(_f("OK-001", "Independent weights, accurate permissive license",
                      f"The weights are independent of every reference checked and the declared {d.name} "
                      "is consistent with what ships.", inp.evidence, c.anchor("license")))
    return out


# -- a non-Meta registry reference governs -----------------------------------------------------------
def _reference_license(c: _Ctx) -> list[Finding]:
    """A descendant of a non-Meta reference: does the declared license match the reference's?"""
    ref, inp = c.inp.reference, c.inp
    if ref is None:
        return []
    concluded = normalize_license(inp.reference_license) or inp.reference_license
    lic = get_license(concluded)
    declared = get_license(inp.declared_license) if inp.declared_license else None
    ev = (f"weights.layer_invariants[{ref}]",)
    if declared is None:
        return [_f("LIC-014", "derivative declares no license",
                   f"the weights descend from {ref} ({concluded or 'license unknown'}); the model declares "
                   "no license, so the reference's terms apply and should be stated", ev, c.anchor("license"),
                   f"declare license: {concluded}" if concluded else None)]
    if lic is not None and declared.id != lic.id:
        sev = Severity.MEDIUM if (lic.commercial == "no" and declared.commercial != "no") else Severity.LOW
        return [_f("LIC-015", "declared license differs from the reference's",
                   f"declares {declared.id} but the weights descend from {ref}, licensed {lic.id}", ev,
                   c.anchor("license"), f"check that {lic.id} permits relicensing as {declared.id}", severity=sev)]
    return [_f("OK-002", "derivative of a registry reference with its license",
               f"weights descend from {ref}; declared license {declared.id} matches the reference's", ev,
               c.anchor("license"))]


def _adapter(c: _Ctx) -> list[Finding]:
    """A lone LoRA adapter holds deltas only: its base model's lineage and license govern."""
    if not c.inp.adapter:
        return []
    base = c.inp.adapter_base
    return [_f("LIN-005", "LoRA adapter: lineage not verifiable alone",
               f"a LoRA adapter holds only weight deltas; the license and obligations of its base model "
               f"({base or 'not declared'}) apply to any use of it, and the base is what must be audited",
               (METADATA_EVIDENCE,), c.anchor("base_model"),
               f"provenance audit {base or 'BASE_MODEL'} (or the model with the adapter merged)")]


# -- integrity (model signing) ------------------------------------------------------------------------
_INTEGRITY = {  # state -> (rule, title, action)
    SignatureState.VERIFIED: ("OK-003", "model signature verified", None),
    SignatureState.MISMATCH: ("INT-002", "files differ from the model signature",
                              "do not use these files: fetch the model again from its publisher"),
    SignatureState.INVALID: ("INT-001", "model signature does not verify",
                             "fetch the model again from its publisher, or check that the key or certificate is theirs"),
    SignatureState.UNVERIFIED: ("INT-003", "model signature not verified",
                                "pass the publisher's key (--verify-key) or certificate chain (--verify-cert)"),
}


def _integrity(c: _Ctx) -> list[Finding]:
    """A model-signing signature: verified, broken, or present but unchecked. Integrity, not lineage."""
    result = c.inp.integrity
    if result is None:
        return []
    rule, title, action = _INTEGRITY[result.state]
    return [_f(rule, title, f"{result.summary()}; {NOT_LINEAGE}", (EVIDENCE_NAME,), c.anchor("signature", "config"),
               action)]


@dataclass(frozen=True)
class Rule:
    """One rule: its stable id, a PascalCase name (SARIF's ``name``), the severity it reports (the
    worst, where a finding may be milder), when it fires, the check that fires it (``None`` for the
    compare verdicts, which no check makes), and its documentation: a one-line title, why it matters
    and what to do (``docs/rules.md``, SARIF's rule texts and ``helpUri``)."""

    id: str
    name: str
    severity: Severity
    trigger: str
    check: Callable[[_Ctx], list[Finding]] | None
    title: str
    why: str
    action: str

    @property
    def anchor(self) -> str:
        """The heading anchor of this rule on :data:`RULES_PAGE` (GitHub lower-cases heading text)."""
        return self.id.lower()

    @property
    def help_uri(self) -> str:
        """This rule's section of :data:`RULES_PAGE` in the repository."""
        return f"{REPOSITORY_URL}/blob/main/{RULES_PAGE}#{self.anchor}"


#: Every rule, in the order they are checked. A check may serve several rows (one decision, several outcomes).
RULES: tuple[Rule, ...] = (
    Rule("PROV-LIC-001", "Llama1Weights", Severity.CRITICAL,
         "weights descend from LLaMA-1 (non-commercial research license, no redistribution)", _llama1,
         title="Weights descend from LLaMA-1",
         why=("LLaMA-1 was released for non-commercial research only and its redistribution was never "
              "granted."),
         action="Do not ship the model or use it commercially; retrain from a permissively licensed base."),
    Rule("PROV-LIC-002", "Llama1DeclaredBase", Severity.HIGH,
         "base_model names a LLaMA-1 release and the weights were not shown independent", _llama1,
         title="Declares a LLaMA-1 base",
         why="If true, the model is research-only and may not be redistributed.",
         action=("Verify the lineage from the weights (fingerprint the release); if it holds, treat the "
                 "model as research-only.")),
    Rule("PROV-LIN-001", "UnverifiedMetaResemblance", Severity.MEDIUM,
         "weak evidence (architecture, tokenizer, metadata) points at a Meta release whose weight fingerprint is "
         "not installed", _unverified,
         title="Unverified: resembles a Meta release",
         why=("Independent models copy Llama's architecture and tokenizer all the time (TinyLlama, Yi), so "
              "the resemblance proves nothing; but if the weights do descend from that release, Meta's "
              "license governs the model."),
         action=("Fingerprint a licensed copy of the release once (`provenance registry add "
                 "/path/to/Llama-2-7b-hf --name llama-2-7b`, the finding names the exact command) and audit "
                 "again.")),
    Rule("PROV-LIN-002", "UndeclaredLlamaDerivative", Severity.HIGH,
         "weights descend from a Llama release but neither base_model nor license says so", _undeclared,
         title="Undeclared Llama derivative",
         why=("Meta's license applies to derivatives whatever the model card says; users relying on the card"
              " believe they may use the model under other terms."),
         action=("Declare the Llama `base_model` and license in the model card and meet the obligations the "
                 "report lists.")),
    Rule("PROV-LIN-003", "DeclaredBaseMismatch", Severity.MEDIUM,
         "weights descend from another Llama family than base_model declares", _declared_base_mismatch,
         title="Declared base differs from the weights",
         why="The license and obligations follow the family the weights come from, not the one declared.",
         action="Correct `base_model` and the license to the family the weights descend from."),
    Rule("PROV-LIN-004", "DeclaredLlamaButIndependent", Severity.LOW,
         "base_model or license declares Llama lineage but the weights are independent of it",
         _declared_but_independent,
         title="Declared Llama lineage not supported by the weights",
         why=("A wrong declaration misleads users about the model's terms, or hides that the weights were "
              "replaced."),
         action=("Correct the declaration if it is wrong; if it is right, the reference checked may be the "
                 "wrong release.")),
    Rule("PROV-LIN-005", "LoraAdapterAlone", Severity.MEDIUM,
         "a lone LoRA adapter: its base model's lineage and license govern and must be audited", _adapter,
         title="LoRA adapter: lineage not verifiable alone",
         why=("The license and obligations of the adapter's base model apply to any use of it, and the "
              "deltas alone cannot show which base that is."),
         action="Audit the base model the adapter names (or the model with the adapter merged)."),
    Rule("PROV-LIN-006", "WeightsNotCompared", Severity.HIGH,
         "the weights could not be compared with a registry reference (a refused tensor, widths with no shared "
         "tokens, a fingerprint without a weight sketch): the lineage against it is unverified; high when no "
         "reference was compared, medium otherwise", _weights_not_compared,
         title="Weights not compared with a reference",
         why=("Missing evidence is never evidence of independence: a model that hides one tensor from the "
              "comparison must not pass as independent of the reference it descends from."),
         action=("Read the reason in the finding; convert the model to a format and tensor types the tool reads, "
                 "or fingerprint a reference it can be compared with, and audit again.")),
    Rule("PROV-LIN-007", "BehaviourNotCompared", Severity.LOW,
         "behaviour could not be compared with a registry reference (no forward pass, no tokenizer for its text "
         "canaries, no canary results in its fingerprint): imitation of it is not ruled out", _behaviour_not_compared,
         title="Behaviour not compared with a reference",
         why=("The weight verdict stands, but a distilled student (independent weights, imitated behaviour) "
              "cannot be recognised without the behavioural comparison."),
         action=("Audit with a tokenizer and a runnable architecture, or rebuild the reference's fingerprint "
                 "with behaviour (`provenance registry add` without --no-behaviour).")),
    Rule("PROV-LIC-003", "DeclaredLicenseConflict", Severity.HIGH,
         "the declared license is not Meta's although a Meta license governs (e.g. apache-2.0 on a Llama 2 "
         "fine-tune)", _declared_license,
         title="Declared license conflicts with the Llama license",
         why=("A derivative cannot relicense Meta's materials; users trusting the declared license break "
              "Meta's terms (naming, attribution, acceptable use, the 700M-user clause)."),
         action="Declare the governing Llama license (its Hugging Face id is in the finding)."),
    Rule("PROV-LIC-004", "MetaLicenseVersionMismatch", Severity.MEDIUM,
         "a Meta license of another version than the governing one is declared", _declared_license,
         title="Declared Llama license of another version",
         why="Each Llama version has its own terms (naming rules, EU restriction, acceptable use policy).",
         action="Declare the governing license id."),
    Rule("PROV-LIC-005", "MetaLicenseNotDeclared", Severity.MEDIUM,
         "base_model names a Llama release and no recognised license is declared", _declared_license,
         title="No Llama license declared",
         why="Users cannot tell from the card that Meta's terms apply.",
         action="Declare the governing license id."),
    Rule("PROV-LIC-006", "LlamaNamingRequirement", Severity.MEDIUM,
         "a Llama 3.x/4 derivative whose name does not begin with the required prefix", _naming,
         title='Name does not begin with "Llama"',
         why=("The Llama 3 and later licenses (section 1.b.i) require a distributed model built with Llama "
              'to carry "Llama" at the beginning of its name.'),
         action="Rename the model so its name begins with the required prefix."),
    Rule("PROV-LIC-007", "AttributionNoticeMissing", Severity.MEDIUM,
         "a Llama 2+ derivative shipped without the attribution Notice file", _shipped_files,
         title="Attribution Notice file missing",
         why="The license (section 1.b.iii) requires the Notice in every distributed copy.",
         action="Add a NOTICE file with the sentence the finding quotes."),
    Rule("PROV-LIC-008", "LicenseAgreementNotShipped", Severity.MEDIUM,
         "a Llama 2+ derivative shipped without a license file", _shipped_files,
         title="License agreement not shipped",
         why="The license (section 1.b.i) requires giving a copy of the agreement with the model.",
         action="Ship the governing license text as LICENSE."),
    Rule("PROV-LIC-009", "ShippedLicenseFileMismatch", Severity.MEDIUM,
         "the shipped license file is recognised as another license than the governing one", _shipped_files,
         title="Shipped license file is not the governing license",
         why="Recipients read the shipped file as the model's terms; it must be the agreement that applies.",
         action="Replace it with the governing license text."),
    Rule("PROV-LIC-010", "MultimodalEuRestriction", Severity.LOW,
         "a multimodal Llama 3.2 / Llama 4 model: no rights for EU-domiciled licensees", _eu_multimodal,
         title="Multimodal Llama: no rights for EU-domiciled licensees",
         why=("Their acceptable use policy withholds the license for the multimodal models from individuals "
              "and companies domiciled in the EU (end users of products excepted)."),
         action="Confirm your organisation is not EU-domiciled before using or distributing the model."),
    Rule("PROV-LIC-011", "NonCommercialLicense", Severity.LOW,
         "no Meta license governs and the declared license forbids commercial use", _declared_only,
         title="Declared license forbids commercial use",
         why="Commercial use breaks the license.",
         action="Use the model for non-commercial purposes only, or find a differently licensed one."),
    Rule("PROV-LIC-012", "NoLicenseDeclared", Severity.LOW,
         "no Meta license governs and no license is declared", _declared_only,
         title="No license declared",
         why=("Without a license, no right to use or redistribute the model is granted; its terms are "
              "unknown."),
         action="Find the model's license and record it in the model card."),
    Rule("PROV-LIC-013", "LicenseFileDisagrees", Severity.LOW,
         "no Meta license governs and the license file and the declared license disagree", _declared_only,
         title="License file and declared license disagree",
         why="One of the two is wrong, and users cannot tell which terms apply.",
         action="Make the declaration and the file agree."),
    Rule("PROV-LIC-014", "ReferenceLicenseNotDeclared", Severity.LOW,
         "the weights descend from a non-Meta registry reference and the model declares no license",
         _reference_license,
         title="Derivative declares no license",
         why="The reference's terms apply to its derivatives and should be stated.",
         action="Declare the reference's license (the finding names it)."),
    Rule("PROV-LIC-015", "ReferenceLicenseMismatch", Severity.MEDIUM,
         "the weights descend from a non-Meta registry reference and the declared license differs from its "
         "license (medium when the reference's is non-commercial and the declared one is not)", _reference_license,
         title="Declared license differs from the reference's",
         why="A derivative can be relicensed only as far as the reference's license permits.",
         action=("Check that the reference's license permits the relicensing, or declare the reference's "
                 "license.")),
    Rule("PROV-OK-001", "IndependentPermissive", Severity.NONE,
         "independent weights with an accurate permissive license", _declared_only,
         title="Independent weights, accurate permissive license",
         why="Nothing to fix: this pass result records what was checked.",
         action="None."),
    Rule("PROV-OK-002", "ReferenceLicenseKept", Severity.NONE,
         "the weights descend from a non-Meta registry reference and the declared license matches its license",
         _reference_license,
         title="Derivative of a registry reference with its license",
         why="Nothing to fix: this pass result records what was checked.",
         action="None."),
    Rule("PROV-INT-001", "ModelSignatureInvalid", Severity.HIGH,
         "a model-signing signature does not verify with the key or certificates given", _integrity,
         title="Model signature does not verify",
         why=("The files may not be what their publisher signed, or the key or certificate given is not the "
              "publisher's."),
         action="Fetch the model again from its publisher, or check that the key or certificate is theirs."),
    Rule("PROV-INT-002", "ModelSignatureMismatch", Severity.HIGH,
         "the model-signing signature verifies but files changed, went missing or were added since signing",
         _integrity,
         title="Files differ from the model signature",
         why=("The publisher signed other bytes than these: the model was altered, truncated or extended "
              "after signing."),
         action="Do not use these files: fetch the model again from its publisher."),
    Rule("PROV-INT-003", "ModelSignatureNotVerified", Severity.LOW,
         "a model-signing signature ships with the model but no key or certificate was given to verify it",
         _integrity,
         title="Model signature not verified",
         why="An unchecked signature proves nothing about the files.",
         action="Pass the publisher's public key (--verify-key) or certificate chain (--verify-cert)."),
    Rule("PROV-OK-003", "ModelSignatureVerified", Severity.NONE,
         "the model-signing signature verifies and every file matches it", _integrity,
         title="Model signature verified",
         why=("Nothing to fix: the files are what the signer signed. Integrity is not lineage: it says "
              "nothing about where the weights came from."),
         action="None."),
)
#: ``provenance compare``'s verdicts as rules: a comparison has no findings, and SARIF reports its
#: verdict as one result under the rule of that verdict (:func:`compare_rule`).
COMPARE_RULES: tuple[Rule, ...] = (
    Rule("PROV-CMP-001", "SharedWeightsLineage", Severity.LOW,
         "`provenance compare A B` concluded `derived`: one model's weights descend from the other's.", None,
         title="Compared models share weights lineage",
         why="A derivative inherits the license and obligations of the model it descends from.",
         action=("Audit the descendant against the other model's license (`provenance registry add` the "
                 "ancestor, then `provenance audit`).")),
    Rule("PROV-CMP-002", "IndependentWeights", Severity.NONE,
         "`provenance compare A B` concluded `independent`: no shared weights lineage.", None,
         title="Compared models are independent",
         why="Nothing to fix: this pass result records what was compared.",
         action="None."),
    Rule("PROV-CMP-003", "InconclusiveComparison", Severity.NONE,
         ("`provenance compare A B` concluded `inconclusive`: the weights could not be compared (different "
          "shapes, no matching layers) or the evidence fell between the calibrated thresholds."), None,
         title="Comparison inconclusive",
         why="Lineage between the two is neither shown nor excluded.",
         action=("Read the report's notes; compare behaviour as well, or compare against another checkpoint "
                 "of the reference.")),
)
_COMPARE_BY_VERDICT: dict[str, Rule] = dict(zip((Verdict.DERIVED, Verdict.INDEPENDENT, Verdict.INCONCLUSIVE),
                                                COMPARE_RULES, strict=True))


def compare_rule(verdict: str) -> Rule:
    """The rule a compare verdict is reported under (an unknown verdict counts as inconclusive)."""
    return _COMPARE_BY_VERDICT.get(verdict, COMPARE_RULES[-1])


RULE_BY_ID: dict[str, Rule] = {r.id: r for r in RULES + COMPARE_RULES}
#: the checks in table order, each once
_CHECKS: tuple[Callable[[_Ctx], list[Finding]], ...] = tuple(dict.fromkeys(r.check for r in RULES if r.check))
