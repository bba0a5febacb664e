"""Fixtures for the hostile-input tests: real model folders and a CLI runner that checks the error contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from provenance.cli import cli
from tests.hostile import corpus

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Session folder of pristine real model folders (copy before modifying)."""
    return tmp_path_factory.mktemp("hostile-seeds")


@pytest.fixture(scope="session")
def hf_seed(built: Path) -> Path:
    return corpus.stories_hf(built / "stories-hf")


@pytest.fixture
def hf_folder(hf_seed: Path, tmp_path: Path) -> Path:
    """A private copy of stories260K as an HF folder (safetensors, config, tokenizer.json, card)."""
    return Path(shutil.copytree(hf_seed, tmp_path / "stories-hf"))


@pytest.fixture
def registry(tmp_path: Path) -> dict[str, str]:
    """Environment with an empty user registry: audits see only the shipped fingerprints."""
    (tmp_path / "user-registry").mkdir()
    return {"PROVENANCE_REGISTRY": str(tmp_path / "user-registry")}


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def refused(self, *needles: str) -> str:
        """Assert the error contract: exit 2, one stderr line naming the problem, no traceback."""
        lines = [ln for ln in self.stderr.splitlines() if ln.strip()]
        assert self.code == 2, (self.code, self.stderr[-2000:])
        assert len(lines) == 1, self.stderr[-2000:]
        assert "Traceback" not in self.stderr and lines[0].startswith("provenance: error: ")
        for n in needles:
            assert n in lines[0], (n, lines[0])
        return lines[0]


def run_cli(*args: str, env: dict[str, str] | None = None) -> Run:
    """``provenance ARGS`` in-process (click's runner: real option parsing, real exit codes)."""
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


def run_process(*args: str, env: dict[str, str] | None = None, timeout: float = 600, tty: bool = False) -> Run:
    """``python -m provenance ARGS`` as a real process (what a user's shell sees). With ``tty``, stderr
    is a pseudo-terminal, where click passes ANSI sequences through instead of stripping them."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    cmd = [sys.executable, "-m", "provenance", *args]
    if not tty:
        p = subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout, cwd=REPO, check=False)
        return Run(p.returncode, p.stdout, p.stderr)
    import pty

    leader, follower = pty.openpty()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=follower, env=full_env, timeout=timeout, cwd=REPO,
                           check=False)
    finally:
        os.close(follower)
    chunks = []
    try:
        while chunk := os.read(leader, 65536):
            chunks.append(chunk)
    except OSError:  # EIO: every writer has closed the terminal
        pass
    finally:
        os.close(leader)
    # the terminal line discipline turns "\n" into "\r\n"
    return Run(p.returncode, p.stdout.decode(), b"".join(chunks).decode(errors="replace").replace("\r\n", "\n"))
