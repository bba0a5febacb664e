"""SARIF 2.1.0 for GitHub code scanning and other static-analysis dashboards.

One rule per finding id (``PROV-LIN-002``: stable across versions and runs), one result per finding,
located at the finding's anchor (the model card's ``license:``/``base_model:`` line, ``config.json``),
or at the model folder's default file when it has none. Anchors are relative to the model folder,
which is joined as the command line named it: run ``provenance audit`` from the repository root with
a relative path and GitHub places the alert on that file. ``partialFingerprints`` (rule, file, field) keep an alert the same alert across runs.

Severity mapping: critical/high -> ``error``, medium -> ``warning``, low -> ``note``; a ``none``
finding (e.g. PROV-OK-001) is a ``pass`` result. ``security-severity`` lets GitHub show the level.

Rules carry their friendly ``name`` and ``helpUri`` (a section of ``docs/rules.md``) from
:data:`provenance.knowledge.rules.RULES`. A comparison has no findings: its verdict is its one result, under a
``PROV-CMP`` rule. With ``--baseline`` each result has ``baselineState`` (``new``/``unchanged``) and
the run's properties hold the baseline section, fixed findings included.
"""

from __future__ import annotations

import hashlib
import posixpath
from typing import Any
from urllib.parse import quote

from provenance import REPOSITORY_URL
from provenance.domain import Severity
from provenance.knowledge.rules import RULE_BY_ID, compare_rule
from provenance.report import baseline, markdown, view
from provenance.report.json_ import dumps
from provenance.report.model import Report

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT_KEY = "provenanceFinding/v1"

_LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning", Severity.LOW: "note",
          Severity.NONE: "none"}
_COMPARE_KIND = {"inconclusive": "review"}  # neither a pass nor a problem: a person decides
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
    """The rule of a finding's id: name, texts and ``helpUri`` from its row of the rule table; an id this
    version does not know (none today) keeps the finding's own texts."""
    sev = f.get("severity", "none")
    doc = RULE_BY_ID.get(f["id"])
    if doc is not None:
        short, full = doc.title, doc.trigger
        parts = (("Trigger", doc.trigger), ("Why it matters", doc.why), ("What to do", doc.action))
        help_text = " ".join(f"{k}: {v}" for k, v in parts)
        help_md = " ".join(f"*{k}:* {markdown.text(v, None)}" for k, v in parts)
        default = doc.severity.value
    else:
        short, full = f.get("title") or f["id"], f.get("message") or f.get("title") or f["id"]
        help_text = f"{full} Action: {f['action']}" if f.get("action") else full
        help_md = markdown.text(full, None) + (f" *Action:* {markdown.text(f['action'], None)}" if f.get("action") else "")
        default = sev
    props: dict[str, Any] = {"tags": ["provenance", "license", "supply-chain", "security"], "problem.severity": sev}
    if sev in _SECURITY_SEVERITY:
        props["security-severity"] = _SECURITY_SEVERITY[sev]
    out: dict[str, Any] = {"id": f["id"]}
    if doc is not None:
        out["name"] = doc.name
    out |= {"shortDescription": {"text": plain(short)}, "fullDescription": {"text": plain(full)},
            "help": {"text": plain(help_text), "markdown": f"**{markdown.text(f['id'])}**: {help_md}"},
            "defaultConfiguration": {"level": "note" if default == "none" else _LEVEL[Severity(default)]}, "properties": props}
    if doc is not None:
        out["helpUri"] = doc.help_uri
    return out


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


def _result(f: dict[str, Any], index: int, report: Report, state: baseline.State | None,
            kind: str | None = None) -> dict[str, Any]:
    sev = f.get("severity", "none")
    loc = _location(f, report)
    text = plain(f"{f.get('title')}: {f.get('message')}")
    if f.get("action"):
        text += " Action: " + plain(f["action"])
    out: dict[str, Any] = {"ruleId": f["id"], "ruleIndex": index, "kind": kind or ("pass" if sev == "none" else "fail"),
                           "level": _LEVEL[sev], "message": {"text": text}}
    if loc:
        out["locations"] = [loc]
    if state is not None:
        out["baselineState"] = state.value
    out["partialFingerprints"] = {FINGERPRINT_KEY: _fingerprint(f, loc)}
    out["properties"] = {"severity": sev, "evidence": list(f.get("evidence") or [])}
    return out


def _compare_finding(body: dict[str, Any]) -> dict[str, Any]:
    """A comparison's verdict as the one finding its SARIF log carries (rule ``PROV-CMP-*``), placed
    on model B."""
    doc = compare_rule(str(body.get("verdict")))
    h = view.headline(body)
    facts = "; ".join(f"{k} {v}" for k, v in h.facts if k != "verdict")
    return {"id": doc.id, "severity": doc.severity.value, "title": h.title,
            "message": f"{view.one_line(h.subject, 300)}" + (f" ({facts})" if facts else ""), "evidence": [],
            "anchor": None, "action": None if doc.severity.value == "none" else doc.action}


def to_data(report: Report) -> dict[str, Any]:
    """The SARIF log as a dict."""
    body, meta = report.body, report.meta
    findings = body.get("findings") or []
    kinds: list[str | None] = [None] * len(findings)
    states = baseline.states(body)
    if body["kind"] == "compare" and not findings:
        findings, kinds, states = [_compare_finding(body)], [_COMPARE_KIND.get(str(body.get("verdict")))], [None]
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
    if isinstance(body.get("baseline"), dict):  # fixed findings are listed here, not as results: GitHub
        props["baseline"] = body["baseline"]    # would show an "absent" result as an open alert
    invocation: dict[str, Any] = {"executionSuccessful": True, "commandLine": view.command_line(meta.command),
                                  "arguments": [view.clean(a) for a in meta.command]}
    if meta.generated_at:
        invocation["endTimeUtc"] = meta.generated_at
    run = {"tool": {"driver": {"name": meta.tool, "version": meta.version, "semanticVersion": meta.version,
                               "informationUri": REPOSITORY_URL, "rules": rules}},
           "automationDetails": {"id": f"{meta.tool}/{body['kind']}/"},
           "invocations": [invocation],
           "results": [_result(f, index[f["id"]], report, state, kind)
                       for f, state, kind in zip(findings, states, kinds, strict=True)],
           "columnKind": "unicodeCodePoints",
           "properties": props}
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(report: Report) -> str:
    return dumps(to_data(report))
