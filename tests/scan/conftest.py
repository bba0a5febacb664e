"""A small model registry on disk, made of real test-zoo models, and a helper that runs ``provenance scan``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.models import stories260k
from tests.zoo import zoo_model

REPO = Path(__file__).resolve().parents[2]

#: folder in the registry -> (verdict, base) that `provenance audit` must conclude
EXPECTED = {
    "renamed/tales.bin": ("derived", "stories260K"),  # a copy of stories260K under another name
    "stories-ft": ("derived", "stories260K"),
    "stories-hf": ("derived", "stories260K"),
    # no tokenizer (llama2.c's stories ship none): text canaries cannot run, so not independent but
    # unverified (fail closed, PROV-LIN-006/007)
    "stories-indep-a": ("unverified", None),
    "stories-permuted": ("derived", "stories260K"),
    "stories-student": ("imitates", "stories260K"),
    "stories/stories260K.bin": ("derived", "stories260K"),
}
SMOL = ("smol-ft-light", ("derived", "SmolLM2-135M-Instruct"))  # a second root: the zoo folder itself
BROKEN = "broken.gguf"


@dataclass(frozen=True)
class Registry:
    root: Path
    smol: Path


def make_registry(root: Path, names: tuple[str, ...] = tuple(EXPECTED)) -> Path:
    """Copy the zoo's stories models into ``root`` (they are small) with a broken GGUF beside them."""
    src = stories260k()
    if src is None:
        pytest.skip("stories260K needs ../shared (absent)")
    for rel in names:
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".bin"):
            shutil.copyfile(src, dest)
        else:
            shutil.copytree(zoo_model(rel), dest, ignore=shutil.ignore_patterns("zoo.json", "build.json"))
    (root / BROKEN).write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 24)  # a header that lies about its counts
    return root


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return Registry(make_registry(tmp_path_factory.mktemp("registry")), zoo_model(SMOL[0]))


def run_scan(*args: str | Path, quiet: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``provenance [-q] scan ARGS`` in a subprocess (the code of this checkout)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    flags = ["-q"] if quiet else []
    return subprocess.run([sys.executable, "-m", "provenance", *flags, "scan", *map(str, args)], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=timeout, check=False)
