"""Deterministic: the same inputs give byte-identical JSON (and fingerprints) from separate processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provenance.checkpoint.export import save_gguf
from tests.hostile import corpus
from tests.hostile.conftest import run_process

EPOCH = {"SOURCE_DATE_EPOCH": "1700000000", "PYTHONHASHSEED": "random"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("det")
    hf = corpus.stories_hf(root / "hf")
    gguf = save_gguf(corpus.stories_state(), root / "stories.Q8_0.gguf", "Q8_0", args=corpus.stories_args())
    return hf, gguf


def _twice(*args: str) -> str:
    first, second = run_process(*args, env=EPOCH), run_process(*args, env=EPOCH)
    assert first.code == second.code == 0, first.stderr[-500:]
    assert first.stdout == second.stdout
    json.loads(first.stdout)
    return first.stdout


def test_inspect_json_is_identical(pair: tuple[Path, Path]) -> None:
    for model in pair:
        assert '"sha256"' in _twice("inspect", str(model), "--format", "json")


@pytest.mark.slow
def test_compare_and_audit_json_are_identical(pair: tuple[Path, Path], tmp_path: Path) -> None:
    hf, gguf = pair
    (tmp_path / "registry").mkdir()
    _twice("compare", str(hf), str(gguf), "--format", "json")
    EPOCH["PROVENANCE_REGISTRY"] = str(tmp_path / "registry")
    try:
        _twice("audit", str(gguf), "--format", "json")
    finally:
        del EPOCH["PROVENANCE_REGISTRY"]


@pytest.mark.slow
def test_fingerprint_bytes_are_identical(pair: tuple[Path, Path], tmp_path: Path) -> None:
    outs = [tmp_path / f"{i}.fingerprint.safetensors" for i in range(2)]
    for out in outs:
        r = run_process("fingerprint", str(pair[0]), "-o", str(out), env=EPOCH)
        assert r.code == 0, r.stderr[-500:]
    assert outs[0].read_bytes() == outs[1].read_bytes()
