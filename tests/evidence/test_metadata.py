"""Metadata evidence: declared base_model and license against the release knowledge (weak)."""

from __future__ import annotations

from provenance.checkpoint.base import DeclaredMetadata
from provenance.evidence import Strength
from provenance.evidence.metadata import metadata_evidence
from provenance.knowledge.releases import load_knowledge

KN = load_knowledge()


def test_declared_meta_base() -> None:
    ev = metadata_evidence(DeclaredMetadata(base_model=["meta-llama/Llama-2-7b-hf"], license="apache-2.0"), KN)
    assert (ev.strength, ev.value, ev.supports) == (Strength.WEAK, 1.0, "derived")
    assert ev.details["releases"] == ["llama-2-7b"] and ev.details["license"] == "apache-2.0"


def test_declared_meta_license_only() -> None:
    ev = metadata_evidence(DeclaredMetadata(license="other", license_name="Llama 3.1 Community License"), KN)
    assert (ev.value, ev.supports, ev.details["license"]) == (0.5, "derived", "llama3.1")


def test_metadata_pointing_nowhere() -> None:
    ev = metadata_evidence(DeclaredMetadata(name="SmolLM2 135M", base_model=["HuggingFaceTB/SmolLM2-135M"],
                                            license="apache-2.0"), KN)
    assert (ev.value, ev.supports, ev.details["license"], ev.details["releases"]) == (0.0, None, "apache-2.0", [])
    assert ev.to_dict()["strength"] == "weak" and "nothing points at a Meta release" in ev.summary
