"""Microsoft's SARIF multitool (npm ``@microsoft/sarif-multitool``), installed once into the test cache
(``~/.cache/provenance/npm``), and one ``validate`` run over many files (its start-up costs seconds).

What it reports is itself a SARIF log: one result per problem, at level ``error`` (schema
violations), ``warning`` or ``note``, with the checked file as its location.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.models import cache_dir

PACKAGE = "@microsoft/sarif-multitool@5.7.0"
# the platform package's binary; npm may skip its postinstall ``chmod u+x`` (install scripts not approved)
BINARY = Path("node_modules", "@microsoft", "sarif-multitool-linux", "Sarif.Multitool")


@dataclass(frozen=True)
class Problem:
    file: str
    level: str
    rule: str
    text: str


def install() -> Path:
    """The multitool binary; skip when npm is absent, fail when npm cannot install it."""
    prefix = cache_dir() / "npm"
    exe = prefix / BINARY
    if not exe.is_file():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: the SARIF multitool check needs node and npm")
        prefix.mkdir(parents=True, exist_ok=True)
        with open(prefix / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # parallel sessions share the cache
            if not exe.is_file():
                proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), PACKAGE],
                                      capture_output=True, text=True, timeout=600, check=False)
                if proc.returncode != 0 or not exe.is_file():
                    pytest.fail(f"npm install {PACKAGE} failed: {proc.stderr[-2000:]}")
    exe.chmod(exe.stat().st_mode | 0o100)
    return exe


def validate(exe: Path, files: list[Path], out: Path) -> list[Problem]:
    """Every problem the multitool finds in ``files`` (errors, warnings and notes), in one run."""
    proc = subprocess.run([str(exe), "validate", "--level", "Error;Warning;Note", "-o", str(out), *map(str, files)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0 and out.is_file(), proc.stdout[-3000:] + proc.stderr[-3000:]
    run = json.loads(out.read_text(encoding="utf-8-sig"))["runs"][0]
    assert all(inv.get("executionSuccessful") for inv in run["invocations"]), run["invocations"]
    rules = run["tool"]["driver"].get("rules") or []
    problems = []
    for r in run.get("results") or []:
        loc = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        text = r["message"].get("text") or " ".join(r["message"].get("arguments") or [])
        rule = r.get("ruleId") or rules[r["ruleIndex"]]["id"]
        problems.append(Problem(Path(loc.removeprefix("file://")).name, r.get("level", "warning"), rule, text))
    return problems
