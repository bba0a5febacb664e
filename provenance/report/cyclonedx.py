"""CycloneDX 1.6 ML-BOM: the audited model as a ``machine-learning-model`` component.

What goes where:

* the model: name, file hashes (SHA-256; one ``file`` sub-component per file of a multi-file model),
  declared and concluded licenses (``acknowledgement``), a ``modelCard`` (architecture, lineage facts);
* lineage: a concluded base becomes ``pedigree.ancestors``; a relation whose direction is unknown
  (``compare``) becomes ``pedigree.variants``. ``evidence.identity`` lists every piece of evidence
  as a method, technique by evidence kind, confidence by evidence strength (:data:`CONFIDENCE`);
* findings, risk and obligations: ``provenance:*`` properties, so every finding is in the BOM too.

The serial number is a UUID5 of the BOM's content, so the same inputs give the same BOM.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from provenance.domain import EvidenceKind, Strength
from provenance.knowledge.licenses import get_license, normalize_license
from provenance.report import view
from provenance.report.json_ import dumps
from provenance.report.model import Report

SPEC_VERSION = "1.6"
SCHEMA_URI = "http://cyclonedx.org/schema/bom-1.6.schema.json"

#: how far a kind of evidence can identify a lineage (provenance.evidence.Strength), as a 0..1 confidence
CONFIDENCE: dict[str | None, float] = {Strength.WEAK: 0.2, Strength.MEDIUM: 0.5, Strength.STRONG: 0.9}
_TECHNIQUE: dict[str | None, str] = {
    EvidenceKind.WEIGHTS: "binary-analysis", EvidenceKind.TOKENIZER: "binary-analysis",
    EvidenceKind.BEHAVIOUR: "dynamic-analysis", EvidenceKind.ARCHITECTURE: "manifest-analysis",
    EvidenceKind.METADATA: "manifest-analysis"}


def _prop(name: str, value: object) -> dict[str, str]:
    return {"name": f"provenance:{name}", "value": view.one_line(value, None)}


def _license(value: str | None, acknowledgement: str) -> dict[str, Any] | None:
    if not value:
        return None
    lic = get_license(normalize_license(value))
    if lic is not None and lic.spdx:
        entry: dict[str, Any] = {"id": lic.spdx}
    else:
        entry = {"name": view.one_line(lic.name if lic and lic.id != "other" else value, 200)}
        if lic is not None and lic.url:
            entry["url"] = lic.url
    entry["acknowledgement"] = acknowledgement
    return {"license": entry}


def _methods(evidence: list[dict[str, Any]], supporting: str | None = None) -> list[dict[str, Any]]:
    return [{"technique": _TECHNIQUE.get(e.get("kind"), "other"), "confidence": CONFIDENCE.get(e.get("strength"), 0.0),
             "value": view.one_line(f"{e.get('name')}: {e.get('summary')}", 500)}
            for e in evidence if supporting is None or e.get("supports") == supporting]


def _hashes(files: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"alg": "SHA-256", "content": f["sha256"]} for f in files if f.get("sha256")]


def _model_component(ref: str, model: dict[str, Any]) -> dict[str, Any]:
    """A ``machine-learning-model`` component of a described model (inspect dict or compare side)."""
    comp: dict[str, Any] = {"type": "machine-learning-model", "bom-ref": ref, "name": view.model_name(model)}
    declared = model.get("declared") or {}
    if declared.get("author"):
        comp["author"] = view.one_line(declared["author"], 200)
    files = model.get("files") or []
    if len(files) == 1:
        comp["hashes"] = _hashes(files)
    elif files:
        comp["components"] = [{"type": "file", "bom-ref": f"{ref}-file-{i}", "name": view.one_line(f.get("path"), None),
                               **({"hashes": _hashes([f])} if f.get("sha256") else {})} for i, f in enumerate(files)]
    arch = model.get("architecture") or {}
    params: dict[str, Any] = {"task": "text-generation"}
    family = arch.get("arch") if isinstance(arch, dict) else None
    family = family or model.get("arch")
    if family:
        params["architectureFamily"] = view.one_line(family, 100)
    facts = dict(view.model_facts(model))
    if "architecture" in facts:
        params["modelArchitecture"] = facts["architecture"]
    card: dict[str, Any] = {"modelParameters": params}
    card_props = [_prop(f"model:{k}", v) for k, v in facts.items() if k in ("format", "parameters", "tokenizer")]
    if card_props:
        card["properties"] = card_props
    comp["modelCard"] = card
    return comp


def _audit(body: dict[str, Any], comp: dict[str, Any]) -> None:
    lin, lic = body["lineage"], body.get("license") or {}
    licenses = [x for x in (_license(lic.get("declared"), "declared"), _license(lic.get("concluded"), "concluded")) if x]
    if licenses:
        comp["licenses"] = licenses
    ev = lin.get("evidence") or []
    if ev:
        comp["evidence"] = {"identity": [{"field": "name", "concludedValue": comp["name"], "methods": _methods(ev)}]}
    base = lin.get("base") or lin.get("family")
    if lin.get("verdict") == "derived" and base:
        ancestor: dict[str, Any] = {"type": "machine-learning-model", "bom-ref": "ancestor-0",
                                    "name": view.one_line(base, 200)}
        identity: dict[str, Any] = {"field": "name", "concludedValue": ancestor["name"]}
        score = lin.get("score")
        if isinstance(score, (int, float)) and 0.0 <= score <= 1.0:
            identity["confidence"] = float(score)
        methods = _methods(ev, "derived")
        if methods:
            identity["methods"] = methods
        ancestor["evidence"] = {"identity": [identity]}
        comp["pedigree"] = {"ancestors": [ancestor]}
    props = [_prop("kind", "audit"), _prop("lineage:verdict", lin.get("verdict")), _prop("risk", body.get("risk"))]
    for key in ("base", "family"):
        if lin.get(key):
            props.append(_prop(f"lineage:{key}", lin[key]))
    props += [_prop("lineage:p_value", view.fmt_p(lin.get("p_value"))), _prop("lineage:score", view.fmt_num(lin.get("score")))]
    props += [_prop("reference", f"{r.get('name')}: {r.get('verdict')}") for r in lin.get("references") or []]
    comp["properties"] = props + _finding_props(body) + [
        _prop("obligation", f"{o.get('kind')}" + (f" ({o['section']})" if o.get("section") else "") + f": {o.get('action')}")
        for o in view.obligations(body)]


def _finding_props(body: dict[str, Any]) -> list[dict[str, str]]:
    """Findings and notes: what every format must carry."""
    return ([_prop("finding", f"{f['id']} [{f.get('severity')}] {f.get('title')}") for f in body.get("findings") or []]
            + [_prop("note", n) for n in view.notes(body)])


def _compare(body: dict[str, Any], comp: dict[str, Any]) -> list[dict[str, Any]]:
    other = _model_component("model-b", body.get("b") or {})
    ev = body.get("evidence") or []
    if ev:
        comp["evidence"] = {"identity": [{"field": "name", "concludedValue": comp["name"], "methods": _methods(ev)}]}
    if body.get("verdict") == "derived":
        variant = {"type": "machine-learning-model", "bom-ref": "variant-b", "name": other["name"],
                   **({"hashes": other["hashes"]} if "hashes" in other else {})}
        comp["pedigree"] = {"variants": [variant]}
    comp["properties"] = [_prop("kind", "compare"), _prop("verdict", body.get("verdict")),
                          _prop("p_value", view.fmt_p(body.get("p_value"))), _prop("score", view.fmt_num(body.get("score"))),
                          _prop("compared_with", other["name"])] + _finding_props(body)
    return [other]


def serial_of(content: dict[str, Any]) -> str:
    """The BOM's serial number: a UUID5 of its content (without the time), so the same inputs give the same BOM."""
    digest = hashlib.sha256(dumps(content).encode()).hexdigest()
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'urn:provenance:bom:' + digest)}"


def to_data(report: Report) -> dict[str, Any]:
    """The BOM as a dict."""
    body, meta = report.body, report.meta
    if body["kind"] == "audit":
        comp = _model_component("model", body["model"])
        _audit(body, comp)
        others: list[dict[str, Any]] = []
    else:
        comp = _model_component("model-a", body.get("a") or {})
        others = _compare(body, comp)
    metadata: dict[str, Any] = {
        "tools": {"components": [{"type": "application", "name": meta.tool, "version": meta.version}]},
        "component": comp,
        "properties": [_prop("command", view.command_line(meta.command))],
    }
    bom: dict[str, Any] = {"bomFormat": "CycloneDX", "specVersion": SPEC_VERSION, "version": 1, "metadata": metadata}
    if others:
        bom["components"] = others
    out = {"$schema": SCHEMA_URI, "bomFormat": "CycloneDX", "specVersion": SPEC_VERSION,
           "serialNumber": serial_of(bom), "version": 1}
    if meta.generated_at:
        metadata = {"timestamp": meta.generated_at, **metadata}
    return {**out, "metadata": metadata, **({"components": others} if others else {})}


def render(report: Report) -> str:
    return dumps(to_data(report))
