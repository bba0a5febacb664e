"""The scan's report model: one summary body (``kind: "scan"``) that every report format renders.

The body holds, per model in path order, what a reviewer triages by: verdict, concluded base,
declared vs concluded license, risk, and the findings (whole, so SARIF and the BOM carry every one),
or the error that stopped its audit; the counts; the worst risk; and the relations inside the
registry (:func:`provenance.scan.relations.find_relations`: its ``families``, connected components of
model paths, and the whole result as its ``to_dict()``), or ``None`` when they were not computed. The full audit of each model is the scan's JSON Lines output, not this.

Finding anchors are relative to each model's folder; :func:`scan_body` records that folder and the
default anchor per model (as ``provenance audit`` does for one), so no renderer touches the disk.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from provenance.domain import Progress, Severity
from provenance.fingerprint.format import Fingerprint
from provenance.report.model import anchor_base
from provenance.scan.relations import Relations, family_svg, find_relations
from provenance.scan.runner import ScanRun

_RISKS = tuple(s.value for s in sorted(Severity, key=lambda s: s.rank))


def model_row(row: dict[str, Any]) -> dict[str, Any]:
    """The summary's line for one JSON Lines row (an audit or an error)."""
    path = row["path"]
    base, default = anchor_base(path)
    out: dict[str, Any] = {"path": path, "status": row["status"], "anchor_base": base, "default_anchor": default}
    if row["status"] != "ok":
        return {**out, "error": row.get("error"), "verdict": None, "risk": None, "findings": []}
    body = row["audit"]
    lin, lic = body["lineage"], body.get("license") or {}
    return {**out, "model": body.get("model") or {}, "verdict": lin.get("verdict"), "base": lin.get("base"),
            "family": lin.get("family"), "score": lin.get("score"), "p_value": lin.get("p_value"),
            "declared_license": lic.get("declared"), "concluded_license": lic.get("concluded"),
            "risk": body.get("risk"), "findings": list(body.get("findings") or []), "notes": list(body.get("notes") or [])}


def scan_body(rows: Sequence[dict[str, Any]], roots: Sequence[str], relations: Relations | None = None) -> dict[str, Any]:
    """The summary body of a scan whose output rows are ``rows`` (path order)."""
    models = [model_row(r) for r in rows]
    ok = [m for m in models if m["status"] == "ok"]
    risk = max((m["risk"] for m in ok if m["risk"] in _RISKS), key=_RISKS.index, default="none")
    counts = {
        "models": len(models),
        "audited": len(ok),
        "errors": len(models) - len(ok),
        "verdicts": dict(sorted(Counter(m["verdict"] for m in ok).items())),
        "risks": {r: n for r in _RISKS[::-1] if (n := sum(m["risk"] == r for m in ok))},
        "findings": sum(len(m["findings"]) for m in ok),
    }
    return {"kind": "scan", "roots": list(roots), "risk": risk, "counts": counts, "models": models,
            "families": None if relations is None else [list(f) for f in relations.families],
            "relations": None if relations is None else relations.to_dict()}


def all_findings(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every finding of every model (the exit code is decided on these, as for ``audit``)."""
    return [f for m in body["models"] for f in m["findings"]]


def registry_relations(run: ScanRun, fdr: float,
                       progress: Progress | None = None) -> tuple[Relations | None, str | None]:
    """The relations between the scanned models (:func:`provenance.scan.relations.find_relations`, from
    the weight fingerprints the scan saved: no second pass over the weights) and the family graph as
    inline SVG. Models without a weight fingerprint (errors, adapters) take no part."""
    items = [(path, Fingerprint.load(fp)) for path, fp in run.fingerprints]
    relations = find_relations(items, fdr=fdr, progress=progress)
    return relations, family_svg(relations)
