"""Validators for the official SARIF 2.1.0 and CycloneDX 1.6 schemas in ../shared (skip when absent)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from tests.models import SHARED

SCHEMAS = SHARED / "data" / "schemas"


def _load(name: str) -> dict[str, Any]:
    path = SCHEMAS / name
    if not path.is_file():
        pytest.skip(f"{path} is absent (official schemas live in ../shared)")
    return json.loads(path.read_text())


@cache
def _sarif() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(_load("sarif-2.1.0.json"), format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)


@cache
def _cyclonedx() -> jsonschema.Draft7Validator:
    bom = _load("bom-1.6.schema.json")
    # the BOM schema refers to spdx.schema.json and jsf-0.82.schema.json beside it, by their $id
    side = [_load("spdx.schema.json"), _load("jsf-0.82.schema.json")]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in side)
    return jsonschema.Draft7Validator(bom, registry=registry, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def validate_sarif(doc: dict[str, Any]) -> None:
    _sarif().validate(doc)


def validate_cyclonedx(doc: dict[str, Any]) -> None:
    _cyclonedx().validate(doc)
