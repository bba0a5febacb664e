"""Fixtures for the checkpoint tests: the real models, opened once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from provenance.checkpoint import Checkpoint, open_checkpoint
from tests.models import fetch, stories260k


@pytest.fixture(scope="session")
def stories_path() -> Path:
    path = stories260k()
    if path is None:
        pytest.skip("../shared/data/models/stories260K.bin is absent")
    return path


@pytest.fixture(scope="session")
def stories(stories_path: Path) -> Checkpoint:
    return open_checkpoint(stories_path)


@pytest.fixture(scope="session")
def stories_state(stories: Checkpoint) -> dict[str, torch.Tensor]:
    return dict(stories.items())


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    return fetch("smollm2")


@pytest.fixture(scope="session")
def smollm2(smollm2_path: Path) -> Checkpoint:
    return open_checkpoint(smollm2_path)
