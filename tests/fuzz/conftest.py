"""Real files the fuzz targets mutate, written once per session (see tests/hostile/corpus.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.hostile import corpus


@pytest.fixture(scope="session")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of seed files and model folders, built lazily by the targets that need them."""
    return tmp_path_factory.mktemp("fuzz-seeds")


def fresh(tmp: Path, src: Path) -> Path:
    """A scratch copy of folder ``src`` at ``tmp`` (files are small), replacing the last example's."""
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(src, tmp)
    return tmp


def seed(root: Path, name: str, build) -> Path:
    """``root/name`` built by ``build(path)`` on first use."""
    path = root / name
    if not path.exists():
        build(path)
    return path


@pytest.fixture(scope="session")
def stories_hf_seed(seeds: Path) -> Path:
    return seed(seeds, "hf", corpus.stories_hf)


@pytest.fixture(scope="session")
def smol_tokenizer_seed(seeds: Path) -> Path:
    """SmolLM2's real tokenizer as a folder (tokenizer.json + tokenizer_config.json), shared by the targets."""
    return seed(seeds, "smol-tokenizer", corpus.smol_tokenizer_json)
