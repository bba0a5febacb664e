"""Attestation and SBOM formats from real audits: the in-toto Statement (checked by the in-toto-attestation
bindings) and the SPDX 3.0.1 AI document (checked by the spdx-python-model bindings, and SPDX's JSON schema where ../shared has it)."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from provenance.cli import cli
from provenance.errors import ProvenanceError
from provenance.report import Format, Report, json_, make_report, render
from provenance.report.intoto import PREDICATE_TYPE, predicate_schema
from tests.models import fetch
from tests.report.schemas import validate_intoto, validate_spdx3


def _report(body: dict[str, Any], root: Path | None) -> Report:
    return make_report(body, ["provenance", body["kind"], "model"], model_root=root)


def _by_type(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in doc["@graph"] if e["type"] == kind]


# -- in-toto -----------------------------------------------------------------------------------------
def test_intoto_statement_of_a_real_audit(stories_audit: dict[str, Any], stories: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1")
    text = render(_report(stories_audit, stories), Format.INTOTO)
    pb = validate_intoto(text)
    # the subject is the audited file with its real sha256, named relative to the model's folder
    assert [(s.name, dict(s.digest)) for s in pb.subject] == [
        (stories.name, {"sha256": hashlib.sha256(stories.read_bytes()).hexdigest()})]
    stmt = json.loads(text)
    assert stmt["predicateType"] == PREDICATE_TYPE == predicate_schema()["$id"]
    # the predicate is the JSON report, valid under the schema shipped in the package
    jsonschema.Draft202012Validator(predicate_schema()).validate(stmt["predicate"])
    assert stmt["predicate"] == json.loads(render(_report(stories_audit, stories), Format.JSON))
    assert stmt["predicate"]["lineage"]["verdict"] == "derived"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "2000000000")
    assert render(_report(stories_audit, stories), Format.INTOTO) == text  # no time: same bytes


def test_intoto_subjects_of_a_folder_are_relative(hostile_audit: dict[str, Any], hostile_folder: Path) -> None:
    pb = validate_intoto(render(_report(hostile_audit, hostile_folder), Format.INTOTO))
    names = [s.name for s in pb.subject]
    files = {Path(f["path"]).name: f["sha256"] for f in hostile_audit["model"]["files"]}
    assert names == sorted(files) and all("/" not in n for n in names)
    assert {s.name: s.digest["sha256"] for s in pb.subject} == files
    for s in pb.subject:
        assert hashlib.sha256((hostile_folder / s.name).read_bytes()).hexdigest() == s.digest["sha256"]


def test_intoto_refuses_what_it_cannot_attest(compare_same_depth: dict[str, Any], stories_audit: dict[str, Any],
                                              stories: Path) -> None:
    with pytest.raises(ProvenanceError, match="audit"):
        render(_report(compare_same_depth, stories), Format.INTOTO)
    no_digest = {**stories_audit, "model": {**stories_audit["model"], "files": [{"path": str(stories), "size": 1}]}}
    with pytest.raises(ProvenanceError, match="sha256"):
        render(_report(no_digest, stories), Format.INTOTO)
    # the validator bites: a statement without a digest is refused by the bindings
    broken = json.loads(render(_report(stories_audit, stories), Format.INTOTO))
    broken["subject"][0]["digest"] = {}
    with pytest.raises(ValueError):
        validate_intoto(json.dumps(broken))
    res = CliRunner().invoke(cli, ["compare", str(stories), str(stories), "--format", "intoto"])
    assert res.exit_code == 2 and "intoto" in res.output


def test_readme_recipes_parse() -> None:
    """Every ``provenance`` command in the README's attestation and signing section parses with the real CLI."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = text.split("## Attestations, SBOMs and model signing", 1)[1].split("\n## ", 1)[0]
    lines = [ln.split("#")[0] for block in re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
             for ln in block.splitlines() if ln.startswith("provenance ")]
    assert len(lines) >= 3
    for line in lines:
        args = shlex.split(line)[1:]
        at = next(i for i, a in enumerate(args) if not a.startswith("-"))
        parent = cli.make_context("provenance", args[: at + 1])
        with cli.commands[args[at]].make_context(args[at], args[at + 1 :], parent=parent) as sub:
            assert sub.params["model"] == "models/my-model"


# -- SPDX 3.0.1 ----------------------------------------------------------------------------------------
def test_spdx_of_a_derived_model(stories_audit: dict[str, Any], stories: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    text = render(_report(stories_audit, stories), Format.SPDX)
    doc = json.loads(text)
    validate_spdx3(doc)
    (creation,) = _by_type(doc, "CreationInfo")
    assert creation["created"] == "2023-11-14T22:13:20Z" and creation["specVersion"] == "3.0.1"
    (document,) = _by_type(doc, "SpdxDocument")
    assert "ai" in document["profileConformance"]
    pkgs = {p["spdxId"]: p for p in _by_type(doc, "ai_AIPackage")}
    model = pkgs[document["rootElement"][0]]
    rels = {r["relationshipType"]: r for r in _by_type(doc, "Relationship")}
    # the concluded base is a package of its own and the model descends from it
    lineage = rels["descendantOf"]
    assert lineage["from"] == model["spdxId"] and pkgs[lineage["to"][0]]["name"] == stories_audit["lineage"]["base"]
    # stories260K declares no license (no hasDeclaredLicense: NOASSERTION); the concluded one is MIT
    assert "hasDeclaredLicense" not in rels
    (concluded,) = [e for e in doc["@graph"] if e.get("spdxId") == rels["hasConcludedLicense"]["to"][0]]
    assert concluded["simplelicensing_licenseExpression"] == "MIT"
    (file_,) = _by_type(doc, "software_File")
    assert file_["verifiedUsing"] == [{"type": "Hash", "algorithm": "sha256",
                                       "hashValue": stories_audit["model"]["files"][0]["sha256"]}]
    assert [a["statement"].split()[0] for a in _by_type(doc, "Annotation") if a["annotationType"] == "review"] == [
        f["id"] for f in stories_audit["findings"]]
    assert render(_report(stories_audit, stories), Format.SPDX) == text  # deterministic bytes
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1")
    assert render(_report(stories_audit, stories), Format.SPDX) != text  # only the time moved
    # the validation bites: a relationship type SPDX does not define is refused
    rels["descendantOf"]["relationshipType"] = "derivedFrom"
    with pytest.raises((ValueError, jsonschema.ValidationError), match="derivedFrom"):
        validate_spdx3(doc)


def test_spdx_declared_and_concluded_license_differ(hostile_audit: dict[str, Any], hostile_folder: Path) -> None:
    doc = json.loads(render(_report(hostile_audit, hostile_folder), Format.SPDX))
    validate_spdx3(doc)
    text = json.dumps(doc, ensure_ascii=False)
    assert "\x1b" not in text and "\u202e" not in text
    ids = {e["spdxId"]: e for e in doc["@graph"] if "spdxId" in e}
    rels = {r["relationshipType"]: ids[r["to"][0]] for r in _by_type(doc, "Relationship") if "License" in r["relationshipType"]}
    # the card declares a hostile string that is no license we know; the weights say what governs
    assert rels["hasDeclaredLicense"]["simplelicensing_licenseExpression"].startswith("LicenseRef-")
    assert "not a license we recognise" in rels["hasDeclaredLicense"]["comment"]
    assert rels["hasConcludedLicense"]["simplelicensing_licenseExpression"] == "MIT"
    assert len(_by_type(doc, "software_File")) == len(hostile_audit["model"]["files"])


def test_spdx_of_a_compare(compare_same_depth: dict[str, Any], stories: Path) -> None:
    doc = json.loads(render(_report(compare_same_depth, stories), Format.SPDX))
    validate_spdx3(doc)
    assert len(_by_type(doc, "ai_AIPackage")) == 2
    assert compare_same_depth["verdict"] == "derived"
    assert [r["relationshipType"] for r in _by_type(doc, "Relationship")] == ["hasVariant"]


@pytest.mark.slow
def test_spdx_and_intoto_of_smollm2_gguf(smollm2_audit: dict[str, Any]) -> None:
    """A real 98 MB GGUF with a declared license: SmolLM2 (Apache-2.0, declared and concluded)."""
    path, body = fetch("smollm2"), smollm2_audit
    rep = _report(body, path)
    doc = json.loads(render(rep, Format.SPDX))
    validate_spdx3(doc)
    ids = {e["spdxId"]: e for e in doc["@graph"] if "spdxId" in e}
    lic = {r["relationshipType"]: ids[r["to"][0]]["simplelicensing_licenseExpression"]
           for r in _by_type(doc, "Relationship") if "License" in r["relationshipType"]}
    assert lic == {"hasDeclaredLicense": "Apache-2.0", "hasConcludedLicense": "Apache-2.0"}
    (pkg,) = [p for p in _by_type(doc, "ai_AIPackage") if p["spdxId"] in ids and p["name"] != body["lineage"]["base"]]
    hyper = {h["key"]: h["value"] for h in pkg["ai_hyperparameter"]}
    assert hyper["n_layers"] == "30" and hyper["dim"] == "576"
    pb = validate_intoto(render(rep, Format.INTOTO))
    assert [(s.name, s.digest["sha256"]) for s in pb.subject] == [(path.name, body["model"]["files"][0]["sha256"])]
    assert json_.schema()["$id"] == pb.predicate_type
