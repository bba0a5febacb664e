"""SARIF 2.1.0 for GitHub code scanning and other static-analysis dashboards.

One rule per finding id (``PROV-LIN-002``: stable across versions and runs), one result per finding,
located at the finding's anchor (the model card's ``license:``/``base_model:`` line, ``config.json``),
or at the model folder's default file when it has none. Anchors are relative to the model folder,
which is joined as the command line named it: run ``provenance audit`` from the repository root with
a relative path and GitHub places the alert on that file. ``partialFingerprints`` (rule, file, field) keep an alert the same alert across runs.

Severity mapping: critical/high -> ``error``, medium -> ``warning``, low -> ``note``; a ``none``
finding (e.g. PROV-OK-001) is a ``pass`` result. ``security-severity`` lets GitHub show the level.
"""

from __future__ import annotations

import hashlib
import posixpath
from typing import Any
from urllib.parse import quote

from provenance.domain import Severity
from provenance.report import markdown, view
from provenance.report.json_ import dumps
from provenance.report.model import Report

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT_KEY = "provenanceFinding/v1"

_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note",
          Severity.NONE: "none"}
_SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5", Severity.LOW: "3.0"}


def artifact_uri(path: str) -> dict[str, str]:
    """A SARIF artifactLocation: relative paths against ``%SRCROOT%``, absolute ones as ``file://`` URIs."""
    p = view.clean(path).replace("\\", "/")
    if p.startswith("/"):
        return {"uri": "file://" + quote(p)}
    while p.startswith("./"):
        p = p[2:]
    return {"uri": quote(p), "uriBaseId": "%SRCROOT%"}


def plain(value: object) -> str:
    """SARIF plain-text message: one line, with ``[``/``]`` escaped so no embedded link can be formed."""
    return view.one_line(value, None).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def _rule(f: dict[str, Any]) -> dict[str, Any]:
    sev = f.get("severity", "none")
    title, message, action = (plain(f.get(k) or "") for k in ("title", "message", "action"))
    help_text = f"{message} Action: {action}" if action else message
    help_md = markdown.text(f.get("message"), None) + (f" *Action:* {markdown.text(f['action'], None)}"
                                                        if f.get("action") else "")
    props: dict[str, Any] = {"tags": ["provenance", "license", "supply-chain", "security"], "problem.severity": sev}
    if sev in _SECURITY_SEVERITY:
        props["security-severity"] = _SECURITY_SEVERITY[sev]
    return {"id": f["id"], "shortDescription": {"text": title or f["id"]}, "fullDescription": {"text": message or title},
            "help": {"text": help_text, "markdown": f"**{markdown.text(f['id'])}**: {help_md}"},
            "defaultConfiguration": {"level": "note" if sev == "none" else _LEVEL[sev]}, "properties": props}


def _location(f: dict[str, Any], report: Report) -> dict[str, Any] | None:
    anchor = f.get("anchor") or {}
    path = anchor.get("path") or report.meta.default_anchor
    if not path:
        return None
    if report.meta.anchor_base and not path.startswith("/"):  # anchors are relative to the model folder
        path = posixpath.normpath(posixpath.join(report.meta.anchor_base, path))
    line = anchor.get("line") if isinstance(anchor.get("line"), int) and anchor.get("line", 0) >= 1 else 1
    return {"physicalLocation": {"artifactLocation": artifact_uri(path), "region": {"startLine": line}}}


def _fingerprint(f: dict[str, Any], loc: dict[str, Any] | None) -> str:
    uri = loc["physicalLocation"]["artifactLocation"]["uri"] if loc else ""
    field = (f.get("anchor") or {}).get("field") or ""
    return hashlib.sha256(f"{f['id']}\0{uri}\0{field}".encode()).hexdigest()[:32]


def _result(f: dict[str, Any], index: int, report: Report) -> dict[str, Any]:
    sev = f.get("severity", "none")
    loc = _location(f, report)
    text = plain(f"{f.get('title')}: {f.get('message')}")
    if f.get("action"):
        text += " Action: " + plain(f["action"])
    out: dict[str, Any] = {"ruleId": f["id"], "ruleIndex": index, "kind": "pass" if sev == "none" else "fail",
                           "level": _LEVEL[sev], "message": {"text": text}}
    if loc:
        out["locations"] = [loc]
    out["partialFingerprints"] = {FINGERPRINT_KEY: _fingerprint(f, loc)}
    out["properties"] = {"severity": sev, "evidence": list(f.get("evidence") or [])}
    return out


def to_data(report: Report) -> dict[str, Any]:
    """The SARIF log as a dict."""
    body, meta = report.body, report.meta
    findings = body.get("findings") or []
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for f in findings:
        if f["id"] not in index:
            index[f["id"]] = len(rules)
            rules.append(_rule(f))
    h = view.headline(body)
    props: dict[str, Any] = {"kind": body["kind"], "verdict": h.verdict}
    if h.risk:
        props["risk"] = h.risk
    if view.notes(body):
        props["notes"] = view.notes(body)
    invocation: dict[str, Any] = {"executionSuccessful": True, "commandLine": view.command_line(meta.command),
                                  "arguments": [view.clean(a) for a in meta.command]}
    if meta.generated_at:
        invocation["endTimeUtc"] = meta.generated_at
    run = {"tool": {"driver": {"name": meta.tool, "version": meta.version, "semanticVersion": meta.version,
                               "rules": rules}},
           "automationDetails": {"id": f"{meta.tool}/{body['kind']}/"},
           "invocations": [invocation],
           "results": [_result(f, index[f["id"]], report) for f in findings],
           "columnKind": "unicodeCodePoints",
           "properties": props}
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(report: Report) -> str:
    return dumps(to_data(report))
