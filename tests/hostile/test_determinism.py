"""Deterministic: the same inputs give byte-identical JSON (and fingerprints) from two separate
processes (each with its own hash seed), with ``SOURCE_DATE_EPOCH`` set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.exporters import save_gguf
from tests.hostile import corpus
from tests.hostile.conftest import REPO

# Runs every command in one process (one startup), printing each command's exit code and stdout.
# Reports quote the command line, which here is the driver's: identical in both runs.
DRIVER = """
import json, sys
from click.testing import CliRunner
from provenance.cli import cli
out = []
for args in json.loads(sys.argv[1]):
    r = CliRunner().invoke(cli, args)
    out.append([r.exit_code, r.stdout, r.stderr[-500:]])
print(json.dumps(out))
"""


@pytest.mark.slow
def test_two_processes_give_identical_bytes(tmp_path: Path) -> None:
    hf = corpus.stories_hf(tmp_path / "hf")
    gguf = save_gguf(corpus.stories_state(), tmp_path / "stories.Q8_0.gguf", "Q8_0", args=corpus.stories_args())
    (tmp_path / "registry").mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "SOURCE_DATE_EPOCH": "1700000000", "PYTHONHASHSEED": "random",
           "PROVENANCE_REGISTRY": str(tmp_path / "registry")}  # fmt: skip
    results, prints = [], []
    fp = tmp_path / "stories.fingerprint.safetensors"  # same arguments both times (reports quote the command)
    for _ in range(2):
        commands = [["inspect", str(hf), "--format", "json"], ["inspect", str(gguf), "--format", "json"],
                    ["compare", str(hf), str(gguf), "--format", "json"], ["audit", str(gguf), "--format", "json"],
                    ["fingerprint", str(hf), "-o", str(fp)]]  # fmt: skip
        p = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(commands)], capture_output=True, text=True,
                           env=env, cwd=REPO, timeout=600)  # fmt: skip
        assert p.returncode == 0, p.stderr[-2000:]
        out = json.loads(p.stdout.splitlines()[-1])
        assert [code for code, _, _ in out] == [0, 0, 0, 0, 0], [err for _, _, err in out]
        results.append([stdout for _, stdout, _ in out[:4]])
        prints.append(fp.read_bytes())
    assert results[0] == results[1]
    assert prints[0] == prints[1]
    for text in results[0]:
        json.loads(text)
