"""Risk rules: one test per rule, plus the overall level, ordering and the obligations checklist."""

from __future__ import annotations

import json

import pytest

from provenance.knowledge.license_text import recognise_file
from provenance.knowledge.rules import Anchor, RiskInput, Severity, assess
from tests.models import SHARED

LICENSE_DIR = SHARED / "data" / "licenses"
CARD = Anchor("README.md", 3, "license")
BASE = Anchor("README.md", 5, "base_model")
EV = ("weights.aligned_cka", "behaviour.agreement")


def ids(inp: RiskInput) -> dict[str, Severity]:
    return {f.id: f.severity for f in assess(inp).findings}


def compliant_31(**changes: object) -> RiskInput:
    """A Llama 3.1 8B fine-tune that does everything its license asks."""
    base = dict(lineage="derived", release="llama-3.1-8b", declared_base=("meta-llama/Llama-3.1-8B",),
                declared_license="llama3.1", model_name="acme/Llama-3.1-Acme-8B", license_file_present=True,
                license_file_licenses=("llama3.1",), notice_present=True, evidence=EV)
    base.update(changes)
    return RiskInput(**base)  # type: ignore[arg-type]


def test_compliant_derivative_has_no_findings_but_a_checklist() -> None:
    report = assess(compliant_31())
    assert report.findings == () and report.overall is Severity.NONE
    assert report.license == "llama3.1"
    assert {o.kind for o in report.obligations} >= {"license-copy", "attribution", "naming", "notice", "aup",
                                                     "mau-limit"}


def test_lic001_llama1_weights_are_critical() -> None:
    report = assess(RiskInput(lineage="derived", release="llama-1-13b", declared_license="apache-2.0",
                              evidence=EV))
    assert report.overall is Severity.CRITICAL and report.findings[0].id == "PROV-LIC-001"
    assert report.findings[0].evidence == EV and report.license == "llama1"
    assert [o.kind for o in report.obligations] == ["non-commercial", "no-redistribution"]


def test_lic002_declared_llama1_base() -> None:
    got = ids(RiskInput(declared_base=("huggyllama/llama-7b",), declared_license="other"))
    assert got["PROV-LIC-002"] is Severity.HIGH
    assert "PROV-LIC-002" not in ids(RiskInput(lineage="independent", declared_base=("huggyllama/llama-7b",)))


def test_lin001_unverified_tells_the_command_that_settles_it() -> None:
    inp = RiskInput(lineage="unverified", release="llama-2-7b", weak_matches=("architecture", "tokenizer"),
                    declared_license="apache-2.0", anchors={"config": Anchor("config.json")})
    f = next(x for x in assess(inp).findings if x.id == "PROV-LIN-001")
    assert f.severity is Severity.MEDIUM and "unverified" in f.title.lower()
    assert "architecture and tokenizer as Llama 2 7B" in f.message
    assert "provenance registry add /path/to/Llama-2-7b-hf --name llama-2-7b" in f.action
    assert f.anchor == Anchor("config.json")
    # a user-registered reference that is not Meta's is named as such
    f = next(x for x in assess(RiskInput(release="acme-base-7b", weak_matches=("architecture",))).findings
             if x.id == "PROV-LIN-001")
    assert "provenance registry add /path/to/acme-base-7b --name acme-base-7b" in f.action
    # nothing pointing at a Meta release: no lineage finding, the declared license stands
    report = assess(RiskInput(lineage="unverified", declared_license="apache-2.0"))
    assert report.findings == () and report.license == "apache-2.0"


def test_derived_from_a_non_meta_reference_leaves_the_declared_license() -> None:
    report = assess(RiskInput(lineage="derived", release="acme-base-7b", declared_license="apache-2.0"))
    assert report.findings == () and report.license == "apache-2.0"


def test_lin002_undeclared_llama_derivative_is_high() -> None:
    got = ids(RiskInput(lineage="derived", release="llama-2-7b", model_name="SuperChat", evidence=EV))
    assert got == {"PROV-LIN-002": Severity.HIGH}
    got = ids(RiskInput(lineage="derived", family="llama-3", declared_license="mit", evidence=EV))
    assert got["PROV-LIN-002"] is Severity.HIGH and got["PROV-LIC-003"] is Severity.HIGH


def test_lin003_declared_base_of_another_family() -> None:
    got = ids(compliant_31(declared_base=("meta-llama/Llama-2-7b-hf",)))
    assert got == {"PROV-LIN-003": Severity.MEDIUM}


def test_lin004_declared_base_but_independent_weights() -> None:
    report = assess(RiskInput(lineage="independent", declared_base=("meta-llama/Llama-2-7b-hf",),
                              declared_license="apache-2.0"))
    assert {f.id: f.severity for f in report.findings} == {"PROV-LIN-004": Severity.LOW}
    assert report.license == "apache-2.0"  # independent weights: the Llama license does not govern
    report = assess(RiskInput(lineage="independent", declared_license="llama3.1"))
    assert [(f.id, f.severity) for f in report.findings] == [("PROV-LIN-004", Severity.LOW)]


def test_lic003_declared_license_conflict_from_the_card_alone() -> None:
    inp = RiskInput(declared_base=("meta-llama/Llama-2-7b-hf",), declared_license="apache-2.0",
                    anchors={"license": CARD, "base_model": BASE})
    report = assess(inp)
    f = next(x for x in report.findings if x.id == "PROV-LIC-003")
    assert f.severity is Severity.HIGH and f.anchor == CARD
    assert "Apache License 2.0" in f.message and "Llama 2 Community License" in f.message
    assert report.license == "llama2" and report.overall is Severity.HIGH


def test_lic004_wrong_llama_version_declared() -> None:
    assert ids(compliant_31(declared_license="llama3")) == {"PROV-LIC-004": Severity.MEDIUM}


def test_lic005_llama_base_without_license() -> None:
    assert ids(compliant_31(declared_license=None)) == {"PROV-LIC-005": Severity.MEDIUM}
    assert ids(compliant_31(declared_license="other", declared_license_name="llama3.1")) == {}


@pytest.mark.parametrize("name,release,license,flagged", [
    ("acme/SuperChat-8B", "llama-3.1-8b", "llama3.1", True),
    ("acme/Llama-3.1-SuperChat", "llama-3.1-8b", "llama3.1", False),
    ("llama_superchat", "llama-3.1-8b", "llama3.1", False),
    ("meta-llama/Meta-Llama-3.1-8B-Instruct", "llama-3.1-8b", "llama3.1", False),  # Meta's own name
    ("Llama-SuperChat", "llama-3-8b", "llama3", True),  # Llama 3 wants "Llama 3" first
    ("Llama-3-SuperChat", "llama-3-8b", "llama3", False),
    ("SuperChat-7B", "llama-2-7b", "llama2", False),  # Llama 2 has no naming clause
])
def test_lic006_naming(name: str, release: str, license: str, flagged: bool) -> None:
    got = ids(compliant_31(model_name=name, release=release, declared_license=license,
                           declared_base=(), license_file_licenses=(license,)))
    assert ("PROV-LIC-006" in got) == flagged
    if flagged:
        assert got["PROV-LIC-006"] is Severity.MEDIUM


def test_lic007_notice_missing() -> None:
    report = assess(compliant_31(notice_present=False))
    f = next(x for x in report.findings if x.id == "PROV-LIC-007")
    assert f.severity is Severity.MEDIUM and "Llama 3.1 is licensed under the Llama 3.1 Community License" in f.action
    assert "PROV-LIC-007" not in ids(compliant_31(notice_present=None))  # not checked: no claim


def test_lic008_license_copy_missing() -> None:
    assert ids(compliant_31(license_file_present=False, license_file_licenses=())) == {
        "PROV-LIC-008": Severity.MEDIUM}


def test_lic009_wrong_license_file() -> None:
    assert ids(compliant_31(license_file_licenses=("apache-2.0",))) == {"PROV-LIC-009": Severity.MEDIUM}


@pytest.mark.skipif(not LICENSE_DIR.is_dir(), reason="../shared/data/licenses absent")
def test_recognised_real_license_file_feeds_the_rules() -> None:
    shipped = tuple(m.license for m in recognise_file(LICENSE_DIR / "llama3_2" / "LICENSE"))
    assert ids(compliant_31(license_file_licenses=shipped)) == {"PROV-LIC-009": Severity.MEDIUM}
    shipped = tuple(m.license for m in recognise_file(LICENSE_DIR / "llama3_1" / "LICENSE"))
    assert ids(compliant_31(license_file_licenses=shipped)) == {}


def test_lic010_multimodal_eu_restriction() -> None:
    got = ids(RiskInput(lineage="derived", release="llama-3.2-11b-vision", declared_license="llama3.2",
                        declared_base=("meta-llama/Llama-3.2-11B-Vision",), model_name="Llama-Vision-Acme"))
    assert got == {"PROV-LIC-010": Severity.LOW}
    got = ids(RiskInput(lineage="derived", release="llama-3.2-1b", declared_license="llama3.2",
                        declared_base=("meta-llama/Llama-3.2-1B",), model_name="Llama-Acme"))
    assert got == {}
    # family known, release not: every Llama 4 release is multimodal, not every Llama 3.2 one
    assert ids(RiskInput(lineage="derived", family="llama-4", declared_license="llama4",
                         model_name="Llama-Acme"))["PROV-LIC-010"] is Severity.LOW
    assert "PROV-LIC-010" not in ids(RiskInput(lineage="derived", family="llama-3.2",
                                               declared_license="llama3.2", model_name="Llama-Acme"))


def test_lic011_non_commercial_declared_license() -> None:
    assert ids(RiskInput(lineage="independent", declared_license="cc-by-nc-4.0")) == {
        "PROV-LIC-011": Severity.LOW}


def test_lic012_no_license() -> None:
    assert ids(RiskInput(lineage="independent")) == {"PROV-LIC-012": Severity.LOW}


def test_lic013_license_file_disagrees_with_declaration() -> None:
    got = ids(RiskInput(lineage="independent", declared_license="mit", license_file_present=True,
                        license_file_licenses=("apache-2.0",)))
    assert got == {"PROV-LIC-013": Severity.LOW}


def test_ok001_independent_weights_accurate_permissive_license() -> None:
    report = assess(RiskInput(lineage="independent", declared_license="apache-2.0", license_file_present=True,
                              license_file_licenses=("apache-2.0",), evidence=EV))
    assert [(f.id, f.severity) for f in report.findings] == [("PROV-OK-001", Severity.NONE)]
    assert report.overall is Severity.NONE and report.license == "apache-2.0"


def test_overall_is_the_worst_and_findings_are_ordered_and_deterministic() -> None:
    inp = RiskInput(lineage="derived", release="llama-3.1-8b", declared_license="apache-2.0",
                    model_name="Acme-8B", notice_present=False, license_file_present=False)
    report = assess(inp)
    sev = [f.severity.rank for f in report.findings]
    assert sev == sorted(sev, reverse=True) and report.overall is Severity.HIGH
    assert {"PROV-LIN-002", "PROV-LIC-003", "PROV-LIC-006", "PROV-LIC-007", "PROV-LIC-008"} <= {
        f.id for f in report.findings}
    assert json.dumps(report.to_dict()) == json.dumps(assess(inp).to_dict())
