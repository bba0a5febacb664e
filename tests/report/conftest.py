"""Fixtures: report bodies from real runs (see tests/report/bodies.py); each is computed once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.models import stories260k
from tests.report import bodies


@pytest.fixture(scope="session")
def stories() -> Path:
    path = stories260k()
    if path is None:
        pytest.skip("../shared/data/models/stories260K.bin is absent")
    return path


@pytest.fixture(scope="session")
def stories_audit(stories: Path) -> dict[str, Any]:
    """The full audit (weights and behaviour) of stories260K, a shipped registry reference."""
    return bodies.audit_body(stories)


@pytest.fixture(scope="session")
def hostile_folder(stories: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bodies.hostile_model(stories, tmp_path_factory.mktemp("hostile") / "model")


@pytest.fixture(scope="session")
def hostile_audit(hostile_folder: Path) -> dict[str, Any]:
    """stories260K's weights under a hostile model card claiming a Llama 2 base: real findings."""
    return bodies.audit_body(hostile_folder, behaviour=False)


@pytest.fixture(scope="session")
def independent_audit(stories: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A freshly initialised model of stories260K's shape: independent of every reference it can be
    compared with, unverified against those it cannot (no tokenizer, other widths)."""
    folder = bodies.random_model(stories, tmp_path_factory.mktemp("random") / "model")
    return bodies.audit_body(folder, behaviour=False)


@pytest.fixture(scope="session")
def compare_same_depth(stories: Path, hostile_folder: Path) -> dict[str, Any]:
    """stories260K against its own weights re-saved as a Hugging Face folder (5 x 5 layers)."""
    return bodies.compare_body(stories, hostile_folder)


@pytest.fixture(scope="session")
def compare_other_depth(stories: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """stories260K (5 layers) against a copy with layer 2 dropped (4 layers)."""
    pruned = bodies.pruned_model(stories, tmp_path_factory.mktemp("pruned") / "model", drop=2)
    return bodies.compare_body(stories, pruned)


@pytest.fixture(scope="session")
def registry_change(stories: Path, tmp_path_factory: pytest.TempPathFactory) -> bodies.RegistryChange:
    """A real registry change that moves a verdict, through the CLI: a descendant of a fresh model is
    audited (independent of every shipped reference), its parent is added to a user registry with
    ``provenance registry add``, and the descendant is audited again with ``--baseline`` (derived now),
    then once more against that second report (nothing new)."""
    return bodies.registry_change(stories, tmp_path_factory.mktemp("baseline"))
