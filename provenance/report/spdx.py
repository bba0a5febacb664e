"""SPDX 3.0.1 JSON-LD with the AI profile.

What goes where (audit):

* the model: an ``ai_AIPackage`` (purpose ``model``; architecture as ``ai_hyperparameter`` entries,
  the lineage summary as its ``comment``) that ``contains`` one ``software_File`` per source file,
  each verified by its SHA-256;
* licenses: ``hasDeclaredLicense`` (what the model card or GGUF says) and ``hasConcludedLicense``
  (what governs, from the weights) relationships to ``simplelicensing_LicenseExpression`` elements;
  an id without an SPDX identifier (the Llama licenses) is a ``LicenseRef-`` with its URL. No
  relationship where nothing is known (SPDX 3 reads an absent license relationship as NOASSERTION);
* lineage: a concluded base is an ``ai_AIPackage`` of its own and the model is ``descendantOf`` it
  (``other``, commented, for a model that only imitates a reference's behaviour);
* findings and notes: ``Annotation`` elements on the model (``review`` and ``other``).

A compare is two ``ai_AIPackage`` elements, with ``hasVariant`` when they share lineage (the direction
is unknown). Identifiers live under ``https://spdx.org/spdxdocs/provenance-<uuid>/``, the namespace the
SPDX spec suggests to tools without a domain of their own; the UUID is a UUID5 of the JSON report,
so the same inputs give the same bytes (sorted keys, ``created`` from ``SOURCE_DATE_EPOCH``).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from provenance.knowledge.licenses import get_license, normalize_license
from provenance.report import view
from provenance.report.json_ import dumps
from provenance.report.json_ import render as json_render
from provenance.report.model import Report

SPEC_VERSION = "3.0.1"
CONTEXT = "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"
_CREATION = "_:creationinfo"
#: the architecture facts reported as AI hyperparameters, in this order
_HYPER = ("arch", "dim", "n_layers", "n_heads", "n_kv_heads", "hidden_dim", "vocab_size", "rope_theta", "max_seq_len")


class _Graph:
    """The document's elements under one namespace; every element shares the one CreationInfo."""

    def __init__(self, report: Report) -> None:
        key = uuid.uuid5(uuid.NAMESPACE_URL, "urn:provenance:spdx:" + json_render(report))
        self.ns = f"https://spdx.org/spdxdocs/provenance-{key}/"
        self.elements: list[dict[str, Any]] = []

    def add(self, kind: str, local: str, **props: Any) -> str:
        spdx_id = self.ns + local
        self.elements.append({"type": kind, "spdxId": spdx_id, "creationInfo": _CREATION,
                              **{k: v for k, v in props.items() if v not in (None, [], "")}})
        return spdx_id

    def relate(self, local: str, src: str, rel: str, dst: list[str], comment: str | None = None) -> None:
        self.add("Relationship", f"relationship/{local}", to=dst, relationshipType=rel, comment=comment,
                 **{"from": src})


def _license(g: _Graph, which: str, value: str | None) -> str | None:
    """A LicenseExpression element for a declared or concluded license value (``None``: nothing known)."""
    if not value:
        return None
    lic = get_license(normalize_license(value) or value)
    custom: list[dict[str, Any]] = []
    if lic is not None and lic.spdx:
        expression = lic.spdx
    else:
        ref = "LicenseRef-" + re.sub(r"[^A-Za-z0-9.-]+", "-", lic.id if lic else "unrecognised").strip("-.")
        expression = ref
        if lic is not None and lic.url:
            custom = [{"type": "DictionaryEntry", "key": ref, "value": lic.url}]
    comment = None if lic is not None else f"declared as {view.one_line(value, 200)!r}, not a license we recognise"
    return g.add("simplelicensing_LicenseExpression", f"license/{which}", name=lic.name if lic else None,
                 simplelicensing_licenseExpression=expression, simplelicensing_customIdToUri=custom, comment=comment)


def _package(g: _Graph, local: str, model: dict[str, Any], comment: str | None = None) -> str:
    """An ``ai_AIPackage`` for a described model (inspect dict or compare side), with its files."""
    arch = model.get("architecture") or {"arch": model.get("arch"), **(model.get("dims") or {})}
    hyper = [{"type": "DictionaryEntry", "key": k, "value": view.one_line(arch[k], 100)}
             for k in _HYPER if isinstance(arch, dict) and arch.get(k) is not None]
    declared = model.get("declared") or {}
    supplier = None
    if declared.get("author"):
        supplier = g.add("Organization", f"{local}/supplier", name=view.one_line(declared["author"], 200))
    facts = dict(view.model_facts(model))
    pkg = g.add("ai_AIPackage", local, name=view.model_name(model), software_primaryPurpose="model",
                ai_typeOfModel=[view.one_line(arch["arch"], 100)] if isinstance(arch, dict) and arch.get("arch") else [],
                ai_domain=["text generation"], ai_hyperparameter=hyper, suppliedBy=supplier,
                summary=view.one_line(f"{facts.get('format', '-')}, {facts.get('parameters', '?')} parameters"),
                comment=comment)
    files = []
    for i, f in enumerate(model.get("files") or []):
        hashes = [{"type": "Hash", "algorithm": "sha256", "hashValue": f["sha256"]}] if f.get("sha256") else []
        files.append(g.add("software_File", f"{local}/file-{i}", name=view.one_line(f.get("path"), None),
                           verifiedUsing=hashes, software_primaryPurpose="model"))
    if files:
        g.relate(f"{local}-contains", pkg, "contains", files)
    return pkg


def _annotations(g: _Graph, subject: str, body: dict[str, Any]) -> None:
    """Every finding (``review``) and note (``other``) as an Annotation on ``subject``."""
    for i, f in enumerate(body.get("findings") or []):
        text = f"{f['id']} [{f.get('severity')}] {f.get('title')}: {f.get('message')}"
        if f.get("action"):
            text += f" Action: {f['action']}"
        g.add("Annotation", f"finding/{i}", annotationType="review", subject=subject, statement=view.one_line(text, None))
    for i, n in enumerate(view.notes(body)):
        g.add("Annotation", f"note/{i}", annotationType="other", subject=subject, statement=n)


def _audit(g: _Graph, body: dict[str, Any]) -> str:
    lin, lic = body["lineage"], body.get("license") or {}
    model = _package(g, "model", body["model"], view.one_line(
        f"lineage {lin.get('verdict')}: {lin.get('summary')}; risk {body.get('risk')}", None))
    for which in ("declared", "concluded"):
        expr = _license(g, which, lic.get(which))
        if expr is not None:
            g.relate(f"{which}-license", model, "hasDeclaredLicense" if which == "declared" else "hasConcludedLicense",
                     [expr])
    base = lin.get("base") or lin.get("family")
    if lin.get("verdict") in ("derived", "imitates") and base:
        ancestor = g.add("ai_AIPackage", "base", name=view.one_line(base, 200), software_primaryPurpose="model",
                         comment=view.one_line(f"registry reference, family {lin.get('family') or '-'}", None))
        why = (f"{lin.get('verdict')}: {lin.get('summary')} (score {view.fmt_num(lin.get('score'))}, "
               f"p = {view.fmt_p(lin.get('p_value'))})")
        rel = "descendantOf" if lin["verdict"] == "derived" else "other"
        g.relate("lineage", model, rel, [ancestor], view.one_line(why, None))
    _annotations(g, model, body)
    return model


def _compare(g: _Graph, body: dict[str, Any]) -> str:
    a = _package(g, "model-a", body.get("a") or {})
    b = _package(g, "model-b", body.get("b") or {})
    why = (f"compare verdict {body.get('verdict')} (score {view.fmt_num(body.get('score'))}, "
           f"p = {view.fmt_p(body.get('p_value'))})")
    if body.get("verdict") == "derived":
        g.relate("lineage", a, "hasVariant", [b], why)
    _annotations(g, a, body)
    return a


def to_data(report: Report) -> dict[str, Any]:
    """The SPDX document as a JSON-LD dict."""
    g = _Graph(report)
    meta = report.meta
    agent = g.add("SoftwareAgent", "agent", name=meta.tool)
    tool = g.add("Tool", "tool", name=f"{meta.tool} {meta.version}")
    root = _audit(g, report.body) if report.kind == "audit" else _compare(g, report.body)
    subject = view.headline(report.body).subject
    doc = {"type": "SpdxDocument", "spdxId": g.ns + "document", "creationInfo": _CREATION,
           "name": view.one_line(f"provenance {report.kind}: {subject}", 300),
           "comment": view.one_line(f"made by {view.command_line(meta.command) or meta.tool}", None),
           "profileConformance": ["core", "software", "ai", "simpleLicensing"],
           "rootElement": [root], "element": sorted(e["spdxId"] for e in g.elements)}
    creation = {"type": "CreationInfo", "@id": _CREATION, "specVersion": SPEC_VERSION,
                "created": meta.generated_at or "1970-01-01T00:00:00Z", "createdBy": [agent], "createdUsing": [tool]}
    graph = [creation, doc, *sorted(g.elements, key=lambda e: e["spdxId"])]
    return {"@context": CONTEXT, "@graph": graph}


def render(report: Report) -> str:
    return dumps(to_data(report), sort_keys=True)
