"""Risk rules: what the concluded lineage and the declared metadata mean under Meta's licenses.

Input is a small :class:`RiskInput` (filled by the audit from evidence and metadata); output is a
:class:`RiskReport`: findings with stable ids, the overall level (the worst finding) and the
obligations checklist of the governing license.

The *governing* license is Meta's license of the concluded release family when the weights descend from
one; otherwise the license of a Meta release named in ``base_model``; otherwise a Meta license the model
declares (unless the weights were shown independent). Without any of those, the declared license stands.

======== ======== =====================================================================================
id       severity when
======== ======== =====================================================================================
LIC-001  critical weights descend from LLaMA-1 (non-commercial research license, no redistribution)
LIC-002  high     ``base_model`` names a LLaMA-1 release (and the weights were not shown independent)
LIN-001  medium   unverified: weak evidence (architecture, tokenizer, metadata) points at a Meta release
                  but no weight fingerprint of it is installed; the finding names the command settling it
LIN-002  high     weights descend from a Llama release but neither base_model nor license says so
LIN-003  medium   weights descend from a different Llama family than base_model declares
LIN-004  low      base_model or license declares Llama lineage but the weights are independent of it
LIC-003  high     declared license is not Meta's although the governing license is (e.g. apache-2.0 on a
                  Llama 2 fine-tune): declared-license conflict
LIC-004  medium   declared Meta license of another version than the governing one
LIC-005  medium   base_model names a Llama release, no recognised license declared
LIC-006  medium   Llama 3.x/4 derivative whose name does not begin with "Llama" ("Llama 3" for Llama 3)
LIC-007  medium   Llama 2+ derivative shipped without the attribution Notice file
LIC-008  medium   Llama 2+ derivative shipped without a license file
LIC-009  medium   shipped license file is recognised as another license than the governing one
LIC-010  low      multimodal Llama 3.2 / Llama 4 model: no rights for EU-domiciled licensees
LIC-011  low      no Meta license governs; declared license forbids commercial use
LIC-012  low      no Meta license governs; no license declared
LIC-013  low      no Meta license governs; license file and declared license disagree
OK-001   none     independent weights with an accurate permissive license
======== ======== =====================================================================================
(ids carry the prefix ``PROV-``.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from provenance.domain import Severity
from provenance.knowledge.licenses import License, Obligation, get_license, normalize_declared
from provenance.knowledge.releases import Knowledge, Release, load_knowledge, resolve_release


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
    """

    lineage: str = "unverified"
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
    for rule in _RULES:
        findings.extend(rule(ctx))
    findings.sort(key=lambda f: (-f.severity.rank, f.id))
    overall = max((f.severity for f in findings), key=lambda s: s.rank, default=Severity.NONE)
    lic = ctx.governing or ctx.declared_lic
    return RiskReport(tuple(findings), overall, lic.id if lic else None, lic.obligations if lic else ())


def _context(inp: RiskInput, kn: Knowledge) -> _Ctx:
    concluded = kn.find(inp.release) if inp.lineage == "derived" else None
    fam = concluded.family if concluded else (inp.family if inp.lineage == "derived" else None)
    fam = fam if fam in kn.families else None  # derived from a non-Meta reference: no Meta license
    declared = tuple(r for r in (resolve_release(b, kn) for b in inp.declared_base) if r is not None)
    declared_lic = get_license(normalize_declared(inp.declared_license, inp.declared_license_name))
    governing = None
    if fam is not None:
        governing = get_license(kn.families[fam].license)
    elif declared and inp.lineage != "independent":
        governing = get_license(declared[0].license)
    elif declared_lic is not None and declared_lic.is_meta and inp.lineage != "independent":
        governing = declared_lic
    raw = inp.declared_license_name if inp.declared_license == "other" else inp.declared_license
    return _Ctx(inp, kn, concluded, fam, declared, declared_lic, raw, governing)


def _f(id_: str, sev: Severity, title: str, message: str, ev: tuple[str, ...], anchor: Anchor | None,
       action: str | None = None) -> Finding:
    return Finding(f"PROV-{id_}", sev, title, message, ev, anchor, action)


# -- lineage rules ------------------------------------------------------------------------------------
def _llama1(c: _Ctx) -> list[Finding]:
    if c.concluded_family == "llama-1":
        return [_f("LIC-001", Severity.CRITICAL, "Weights descend from LLaMA-1",
                   "LLaMA-1 weights were released for non-commercial research only and their redistribution "
                   "was not granted; this model cannot be used commercially or redistributed.",
                   c.inp.evidence, c.anchor("config"), "Do not ship or use commercially; retrain from a "
                   "permissively licensed base.")]
    if any(r.family == "llama-1" for r in c.declared) and c.inp.lineage != "independent":
        return [_f("LIC-002", Severity.HIGH, "Declares a LLaMA-1 base",
                   "base_model names a LLaMA-1 release, whose license forbids commercial use and redistribution.",
                   (METADATA_EVIDENCE,), c.anchor("base_model"), "Verify the lineage with the weights; if "
                   "true, treat the model as research-only.")]
    return []


def _unverified(c: _Ctx) -> list[Finding]:
    if c.inp.lineage != "unverified" or not c.inp.release:
        return []
    rel = c.kn.find(c.inp.release)
    name = rel.name if rel else c.inp.release
    what = " and ".join(c.inp.weak_matches) or "metadata"
    folder = ((rel.primary_repo if rel else None) or c.inp.release).rsplit("/", 1)[-1]
    cmd = f"provenance registry add /path/to/{folder} --name {c.inp.release}"
    return [_f("LIN-001", Severity.MEDIUM, f"Unverified: resembles {name}, needs review",
               f"Same {what} as {name}, which independent models also share; no weight fingerprint of "
               f"{name} is installed, so whether the weights descend from it is unverified.",
               c.inp.evidence, c.anchor("config"), f"Run `{cmd}` with the original weights, then audit again.")]


def _undeclared(c: _Ctx) -> list[Finding]:
    fam = c.concluded_family
    if fam is None or fam == "llama-1" or c.declared or (c.declared_lic and c.declared_lic.is_meta):
        return []
    said = f"license {c.declared_raw!r}" if c.declared_raw else "no license"
    return [_f("LIN-002", Severity.HIGH, f"Undeclared {c.fam_name(fam)} derivative",
               f"The weights descend from {c.fam_name(fam)}, but the model declares no Llama base_model and "
               f"{said}; the {c.governing.name if c.governing else 'Meta license'} applies regardless.",
               c.inp.evidence, c.anchor("base_model", "license", "config"),
               "Declare the Llama base_model and license, and meet the obligations below.")]


def _declared_base_mismatch(c: _Ctx) -> list[Finding]:
    if not c.declared or not c.concluded_family:
        return []
    names = ", ".join(r.name for r in c.declared)
    if all(r.family != c.concluded_family for r in c.declared):
        return [_f("LIN-003", Severity.MEDIUM, "Declared base differs from the weights",
                   f"base_model declares {names}, but the weights descend from {c.fam_name(c.concluded_family)}.",
                   c.inp.evidence, c.anchor("base_model"), "Correct base_model and the license.")]
    return []


def _declared_but_independent(c: _Ctx) -> list[Finding]:
    if c.inp.lineage != "independent":
        return []
    if c.declared:
        claim, key = f"base_model declares {', '.join(r.name for r in c.declared)}", "base_model"
    elif c.declared_lic is not None and c.declared_lic.is_meta:
        claim, key = f"the model declares the {c.declared_lic.name}", "license"
    else:
        return []
    return [_f("LIN-004", Severity.LOW, "Declared Llama lineage not supported by the weights",
               f"{claim}, but the weights are independent of every Meta reference checked.",
               c.inp.evidence, c.anchor(key), "Correct the declaration if it is wrong.")]


# -- license rules (governing Meta license) ------------------------------------------------------------
def _declared_license(c: _Ctx) -> list[Finding]:
    g, d = c.governing, c.declared_lic
    if g is None or g.id == "llama1":
        return []
    if d is not None and d.id != "other" and not d.is_meta:
        return [_f("LIC-003", Severity.HIGH, "Declared license conflicts with the Llama license",
                   f"The model declares {d.name} but derives from a Llama release under the {g.name}; "
                   f"{d.name} cannot relicense Meta's materials.", (METADATA_EVIDENCE,) + c.inp.evidence,
                   c.anchor("license"), f"Declare the {g.name} (HF id {g.id}).")]
    if d is not None and d.is_meta and d.id != g.id:
        return [_f("LIC-004", Severity.MEDIUM, "Declared Llama license of another version",
                   f"The model declares the {d.name}, but the governing license is the {g.name}.",
                   (METADATA_EVIDENCE,), c.anchor("license"), f"Declare {g.id}.")]
    if (d is None or d.id == "other") and c.declared:
        said = f"{c.declared_raw!r}, which is not recognised" if c.declared_raw else "none"
        return [_f("LIC-005", Severity.MEDIUM, "No Llama license declared",
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
    return [_f("LIC-006", Severity.MEDIUM, f"Name does not begin with \"{g.name_prefix}\"",
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
        out.append(_f("LIC-007", Severity.MEDIUM, "Attribution Notice file missing",
                      f"The {g.name} (§1.b.iii) requires a \"Notice\" text file in every distributed copy.",
                      (), c.anchor("license"), f"Add a NOTICE file containing: {g.notice}"))
    if inp.license_file_present is False:
        out.append(_f("LIC-008", Severity.MEDIUM, "License agreement not shipped",
                      f"The {g.name} (§1.b.i) requires giving a copy of the agreement with the model.",
                      (), c.anchor("license"), f"Ship the {g.name} as LICENSE."))
    elif inp.license_file_present and inp.license_file_licenses and g.id not in inp.license_file_licenses:
        shipped = ", ".join(inp.license_file_licenses)
        out.append(_f("LIC-009", Severity.MEDIUM, "Shipped license file is not the governing license",
                      f"The license file beside the model reads as {shipped}; the governing license is the {g.name}.",
                      (), c.anchor("license"), f"Replace it with the {g.name} text."))
    return out


def _eu_multimodal(c: _Ctx) -> list[Finding]:
    if c.concluded is not None:
        family, multimodal = c.concluded.family, c.concluded.multimodal
    elif c.concluded_family is not None:  # family known, release not: multimodal when all its releases are
        family = c.concluded_family
        multimodal = all(r.multimodal for r in c.kn.releases if r.family == family)
    elif c.declared and c.inp.lineage != "independent":
        family, multimodal = c.declared[0].family, c.declared[0].multimodal
    else:
        return []
    if not multimodal:
        return []
    return [_f("LIC-010", Severity.LOW, "Multimodal Llama: no rights for EU-domiciled licensees",
               f"The acceptable use policy of {c.fam_name(family)} withholds the license grant for its "
               "multimodal models from individuals and companies domiciled in the EU (end users of products "
               "excepted).", c.inp.evidence or (METADATA_EVIDENCE,), c.anchor("license"),
               "Confirm your organisation is not EU-domiciled before using or distributing it.")]


# -- no Meta license governs ------------------------------------------------------------------------
def _declared_only(c: _Ctx) -> list[Finding]:
    if c.governing is not None:
        return []
    d, inp = c.declared_lic, c.inp
    files = set(inp.license_file_licenses)
    if d is None or d.id == "other":
        if d is None:
            return [_f("LIC-012", Severity.LOW, "No license declared", "The model declares no recognised "
                       f"license{f' ({c.declared_raw!r})' if c.declared_raw else ''}; its terms are unknown.",
                       (METADATA_EVIDENCE,), c.anchor("license"), "Find and record the model's license.")]
        return []
    out = []
    if d.commercial == "no":
        out.append(_f("LIC-011", Severity.LOW, "Declared license forbids commercial use",
                      f"{d.name}: {d.commercial_note}", (METADATA_EVIDENCE,), c.anchor("license"),
                      "Use only for non-commercial purposes."))
    if files and d.id not in files:
        out.append(_f("LIC-013", Severity.LOW, "License file and declared license disagree",
                      f"The model declares {d.name}; its license file reads as {', '.join(sorted(files))}.",
                      (METADATA_EVIDENCE,), c.anchor("license"), "Make the declaration match the file."))
    elif inp.lineage == "independent" and d.permissive and not c.declared:
        out.append(_f("OK-001", Severity.NONE, "Independent weights, accurate permissive license",
                      f"The weights are independent of every reference checked and the declared {d.name} "
                      "is consistent with what ships.", inp.evidence, c.anchor("license")))
    return out


_RULES = (_llama1, _unverified, _undeclared, _declared_base_mismatch, _declared_but_independent,
          _declared_license, _naming, _shipped_files, _eu_multimodal, _declared_only)
