"""JSON: the body as produced, plus who made it and how (``meta``), byte-deterministic.

Two runs on the same inputs give the same bytes: keys stay in the order the body builds them, the
output is ASCII (no raw control bytes, whatever a model file contained), NaN is refused, and the
generation time is left out. Its shape is ``provenance/data/report.schema.json`` (JSON Schema
2020-12, :func:`schema`).
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from provenance.report.model import Report

SCHEMA_NAME = "report.schema.json"


def dumps(data: Any, sort_keys: bool = False) -> str:
    """Deterministic JSON text: two-space indent, ASCII only, no NaN/Infinity, trailing newline;
    ``sort_keys`` for formats whose consumers expect canonical key order (in-toto, SPDX)."""
    return json.dumps(data, indent=2, ensure_ascii=True, allow_nan=False, sort_keys=sort_keys) + "\n"


def to_data(report: Report) -> dict[str, Any]:
    """The JSON document: the body, then ``meta`` (tool, version, command; no time)."""
    return {**report.body, "meta": report.meta.to_dict(with_time=False)}


def render(report: Report) -> str:
    return dumps(to_data(report))


def schema() -> dict[str, Any]:
    """The JSON Schema of :func:`render`'s output (shipped as ``provenance/data/report.schema.json``)."""
    return json.loads(resources.files("provenance").joinpath("data", SCHEMA_NAME).read_text(encoding="utf-8"))
