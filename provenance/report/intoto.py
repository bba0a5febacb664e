"""in-toto Statement v1: the audit verdict as an attestation about the audited files.

* ``subject``: every file the checkpoint was read from, named relative to the model folder, with the
  sha256 the audit already computed (``model.files[].sha256``; nothing is hashed twice);
* ``predicateType``: :data:`PREDICATE_TYPE`, which is the ``$id`` of the predicate's JSON Schema,
  ``provenance/data/report.schema.json`` (:func:`provenance.report.json_.schema`);
* ``predicate``: the ``--format json`` document itself (body and ``meta``; no time), so a verifier
  reads the same verdict, evidence and findings that the JSON report carries.

The statement is unsigned: sign it with ``cosign attest-blob --statement`` or any DSSE signer (README,
"Attestations"). Bytes are deterministic: sorted keys, ASCII, no time.
"""

from __future__ import annotations

import posixpath
from typing import Any

from provenance.errors import ProvenanceError
from provenance.report.json_ import dumps, schema
from provenance.report.json_ import to_data as json_document
from provenance.report.model import Report

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
#: the predicate is the JSON report; its type is the report schema's ``$id``
PREDICATE_TYPE = "urn:provenance:report:1"


def subjects(report: Report) -> list[dict[str, Any]]:
    """One in-toto ResourceDescriptor per audited file: ``name`` relative to the model folder, ``digest``."""
    base = report.meta.anchor_base
    out = []
    for f in report.body["model"].get("files") or []:
        if not f.get("sha256"):
            continue
        path = str(f["path"]).replace("\\", "/")
        name = posixpath.relpath(path, base) if base and path.startswith(base.rstrip("/") + "/") else path
        out.append({"name": name, "digest": {"sha256": f["sha256"]}})
    return sorted(out, key=lambda s: (s["name"], s["digest"]["sha256"]))


def to_data(report: Report) -> dict[str, Any]:
    """The Statement as a dict. Only an audit has subjects (a compare body carries no file digests)."""
    if report.kind != "audit":
        raise ProvenanceError("--format intoto attests an audit (its files and their sha256); compare has no digests")
    subj = subjects(report)
    if not subj:
        raise ProvenanceError("--format intoto needs the sha256 of the audited files, and this model has none")
    return {"_type": STATEMENT_TYPE, "subject": subj, "predicateType": PREDICATE_TYPE,
            "predicate": json_document(report)}


def render(report: Report) -> str:
    return dumps(to_data(report), sort_keys=True)


def predicate_schema() -> dict[str, Any]:
    """The JSON Schema of the predicate (the report schema, whose ``$id`` is :data:`PREDICATE_TYPE`)."""
    return schema()
