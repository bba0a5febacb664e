"""Baselines: what changed since a previous report of the same model (``audit --baseline PREVIOUS.json``).

A finding is *the same finding* in two reports when its rule id and where it points (anchor file and
field, not line: editing a model card moves lines) agree, the key SARIF's ``partialFingerprints`` is
built from too. Against the previous report each current finding is ``new`` or ``unchanged``, and each
previous finding no longer reported is ``fixed``. Besides findings, the verdicts that moved are listed
(the lineage verdict and base, the Meta lineage, the concluded license, the risk, and each registry
reference's weight verdict), so a re-audit after a registry update shows exactly what changed.

The functions take report bodies (dicts, as ``--format json`` writes them), never files of a model,
so ``provenance scan`` diffs each model's body against the previous scan's body of the same model
with the same :func:`diff`. CI fails only on *new* findings at or above ``--fail-on``
(:attr:`BaselineDiff.new`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from provenance.domain import Severity
from provenance.errors import FormatError
from provenance.fileio import read_json_object
from provenance.report import view

#: a report of ours is kilobytes (the SmolLM2 example: 40 kB); this bounds a hostile baseline file
MAX_BYTES = 32 * 1024 * 1024
#: a previous report with more findings than this is not one we wrote (an audit has a few dozen at most)
MAX_FINDINGS = 10_000


class State(StrEnum):
    """A finding's state against the baseline (SARIF ``baselineState`` uses the first two; a fixed
    finding is SARIF's ``absent``)."""

    NEW = "new"
    UNCHANGED = "unchanged"
    FIXED = "fixed"


def _part(body: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``body[key]`` when it is an object, else empty (a baseline file may lack or mistype it)."""
    value = body.get(key)
    return value if isinstance(value, Mapping) else {}


def finding_key(f: Mapping[str, Any]) -> str:
    """``PROV-LIC-003 README.md license``: rule id, anchor file and field (line left out)."""
    anchor = _part(f, "anchor")
    return " ".join(str(x) for x in (f.get("id"), anchor.get("path") or "-", anchor.get("field") or "-"))


@dataclass(frozen=True)
class Move:
    """One verdict that differs between the two reports (``None``: absent on that side)."""

    what: str
    before: str | None
    after: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"what": self.what, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class BaselineDiff:
    """The current report against a previous one: findings by state, and the verdicts that moved."""

    source: str
    new: tuple[dict[str, Any], ...]
    unchanged: tuple[dict[str, Any], ...]
    fixed: tuple[dict[str, Any], ...]
    moves: tuple[Move, ...]

    def to_dict(self) -> dict[str, Any]:
        """The ``baseline`` section of the report body (see ``report.schema.json``)."""
        rows = [(State.NEW, self.new), (State.FIXED, self.fixed), (State.UNCHANGED, self.unchanged)]
        return {"source": self.source,
                "counts": {s.value: len(fs) for s, fs in rows},
                "findings": [{"state": s.value, "key": finding_key(f), "id": f["id"], "severity": f["severity"],
                              "title": view.one_line(f.get("title") or "", 200)} for s, fs in rows for f in fs],
                "moves": [m.to_dict() for m in self.moves]}


def load(path: str | Path) -> dict[str, Any]:
    """A previous ``--format json`` audit report, checked enough that :func:`diff` can trust its shape
    (hostile or foreign files give one :class:`FormatError`)."""
    path = Path(path)
    body = read_json_object(path, MAX_BYTES, "baseline report")
    if body.get("kind") != "audit":
        raise FormatError("baseline is not a provenance audit report (--format json)", path)
    findings = body.get("findings")
    if not isinstance(findings, list) or len(findings) > MAX_FINDINGS:
        raise FormatError("baseline report has no valid findings list", path)
    severities = {s.value for s in Severity}
    for f in findings:
        if not (isinstance(f, dict) and isinstance(f.get("id"), str) and f.get("severity") in severities
                and (f.get("anchor") is None or isinstance(f.get("anchor"), dict))):
            raise FormatError("baseline report has a malformed finding", path)
    return body


def diff(previous: Mapping[str, Any], current: Mapping[str, Any], source: str = "") -> BaselineDiff:
    """Compare two audit bodies: ``current``'s findings as new or unchanged, ``previous``'s as fixed,
    and the verdicts that moved. ``source`` names the baseline (the file as the user gave it)."""
    left = Counter(finding_key(f) for f in previous.get("findings") or [])
    new, unchanged = [], []
    for f in current.get("findings") or []:
        key = finding_key(f)
        if left[key] > 0:
            left[key] -= 1
            unchanged.append(f)
        else:
            new.append(f)
    fixed = []
    for f in previous.get("findings") or []:
        if left[finding_key(f)] > 0:
            left[finding_key(f)] -= 1
            fixed.append(f)
    return BaselineDiff(source, tuple(new), tuple(unchanged), tuple(fixed), moves(previous, current))


def _verdicts(body: Mapping[str, Any]) -> dict[str, str | None]:
    lin, lic = _part(body, "lineage"), _part(body, "license")
    out = {"lineage.verdict": lin.get("verdict"), "lineage.base": lin.get("base"),
           "lineage.meta_lineage": lin.get("meta_lineage"), "license.concluded": lic.get("concluded"),
           "risk": body.get("risk")}
    refs = lin.get("references")
    refs = refs if isinstance(refs, list) else []
    out.update({f"references[{r.get('name')}].verdict": r.get("verdict") for r in refs if isinstance(r, Mapping)})
    return {k: None if v is None else view.one_line(v, 200) for k, v in out.items()}


def moves(previous: Mapping[str, Any], current: Mapping[str, Any]) -> tuple[Move, ...]:
    """Each verdict that differs, in a fixed order (the summary fields, then references by name)."""
    before, after = _verdicts(previous), _verdicts(current)
    keys = list(dict.fromkeys([*after, *sorted(k for k in before if k not in after)]))
    return tuple(Move(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k))


def states(body: Mapping[str, Any]) -> list[State | None]:
    """The state of each of ``body``'s findings, in order, as its ``baseline`` section records it
    (``None`` for all when the report has no baseline). What renderers use: they never diff."""
    section = body.get("baseline") if isinstance(body.get("baseline"), Mapping) else None
    findings = body.get("findings") or []
    if section is None:
        return [None] * len(findings)
    left = Counter((r["key"], r["state"]) for r in section.get("findings") or [] if r.get("state") != State.FIXED.value)
    out: list[State | None] = []
    for f in findings:
        key = finding_key(f)
        state = State.UNCHANGED if left[(key, State.UNCHANGED.value)] > 0 else State.NEW
        left[(key, state.value)] -= 1
        out.append(state)
    return out


def lines(body: Mapping[str, Any]) -> list[str]:
    """The ``baseline`` section as short lines for the human formats (empty without a baseline)."""
    section = body.get("baseline")
    if not isinstance(section, Mapping):
        return []
    c = section.get("counts") or {}
    source = view.one_line(section.get("source") or "the baseline", 200)
    out = [f"since {source}: {c.get('new', 0)} new, {c.get('fixed', 0)} fixed, {c.get('unchanged', 0)} unchanged"]
    out += [f"moved: {view.one_line(m['what'], 200)} {m['before'] or '(absent)'} → {m['after'] or '(absent)'}"
            for m in section.get("moves") or []]
    out += [f"{r['state']}: {r['id']} ({r['severity']}) {view.one_line(r['title'], 200)}"
            for r in section.get("findings") or [] if r["state"] != State.UNCHANGED.value]
    return out
