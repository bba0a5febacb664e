"""Validators from the field: the official SARIF 2.1.0 and CycloneDX 1.6 schemas in ../shared (skip when
absent), the official SPDX 3 Python bindings (spdx-python-model) and the in-toto attestation bindings.

SPDX's 3.0.1 JSON schema ships in no package on PyPI and may not be copied into the project; when
``../shared/data/schemas/spdx-3.0.1.schema.json`` is present it is applied as well.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from tests.models import SHARED

SCHEMAS = SHARED / "data" / "schemas"
SPDX3_SCHEMA = SCHEMAS / "spdx-3.0.1.schema.json"


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


@cache
def _spdx3() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SPDX3_SCHEMA.read_text()))


def validate_spdx3(doc: dict[str, Any]) -> None:
    """The official SPDX 3 Python bindings (spdx-python-model): they deserialize every element with its
    typed properties (enumerations included) and serialize it again, which checks cardinalities; then
    SPDX's 3.0.1 JSON schema where ../shared has it."""
    if SPDX3_SCHEMA.is_file():
        _spdx3().validate(doc)
    import io

    import spdx_python_model

    model, objects = spdx_python_model.load_data(doc)
    model.JSONLDSerializer().write(objects, io.BytesIO())


def validate_intoto(text: str) -> Any:
    """An in-toto Statement v1 parsed strictly (unknown fields are errors) and checked by the
    in-toto-attestation bindings; returns the Statement protobuf."""
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    pb = json_format.Parse(text, statement_pb2.Statement())
    Statement.copy_from_pb(pb).validate()
    return pb
