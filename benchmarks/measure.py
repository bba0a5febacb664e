"""Measuring tools shared by the benchmark stages: CLI runs with their peak memory, the read floor, the machine.

A CLI run is ``python -m provenance ...`` in a fresh process (imports included, as a user sees it),
started by the small :mod:`launch` process so that its peak memory is its own.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
CHUNK = 16 << 20  # read-floor chunk size


@dataclass
class Context:
    """Shared by the stages of one run: options and the measurements already taken (the scaling
    stage reuses the compare and fingerprint stages' numbers instead of re-running them)."""

    quick: bool
    device: str
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    _memo: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def row(self, stage: str, what: str, result: str, target: str = "") -> None:
        self.rows.append((stage, what, result, target))

    def memo(self, key: tuple[str, str], fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]


@dataclass
class Run:
    """One finished CLI run: wall time, peak RSS (``ru_maxrss``) and peak anonymous memory (polled)."""

    seconds: float
    peak_rss_mb: float
    peak_anon_mb: float
    returncode: int
    stdout: str
    stderr: str

    def check(self, what: str) -> Run:
        """Raise with the CLI's own message when it failed (exit 1 only means a finding for audit)."""
        if self.returncode not in (0, 1):
            raise RuntimeError(f"{what} failed (exit {self.returncode}): {self.stderr.strip()[-500:]}")
        return self


def run_cli(args: list[str], profile_to: Path | None = None) -> Run:
    """Run ``provenance ARGS`` in a fresh interpreter, through :mod:`launch` (which says why).
    ``profile_to``: run it under cProfile, writing the statistics there."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    profile = ["-m", "cProfile", "-o", str(profile_to)] if profile_to else []
    cmd = [sys.executable, *profile, "-m", "provenance", "-q", *args]
    with tempfile.TemporaryDirectory() as tmp:
        res = Path(tmp) / "run.json"
        done = subprocess.run([sys.executable, str(Path(__file__).with_name("launch.py")), str(res), *cmd],
                              capture_output=True, text=True, cwd=ROOT, env=env, check=True)
        r = json.loads(res.read_text())
    return Run(r["seconds"], r["maxrss_kb"] / 1024, r["anon_kb"] / 1024, r["returncode"], done.stdout, done.stderr)


@cache
def cli_has_device() -> bool:
    """Whether this version of the CLI takes ``--device`` (checked once, from ``audit --help``)."""
    return "--device" in run_cli(["audit", "--help"]).stdout


def device_args(device: str) -> list[str]:
    """``--device DEVICE`` for the CLI when it has the option and the device is not the default."""
    return ["--device", device] if device != "cpu" and cli_has_device() else []


def files_of(path: Path) -> list[Path]:
    """The files a checkpoint consists of (a folder's regular files, or the file itself)."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file())
    return [path]


def nbytes(paths: list[Path]) -> int:
    return sum(p.stat().st_size for f in paths for p in files_of(f))


def _read_all(paths: list[Path]) -> int:
    buf = bytearray(CHUNK)
    total = 0
    for f in paths:
        for p in files_of(f):
            with open(p, "rb", buffering=0) as fh:
                while n := fh.readinto(buf):
                    total += n
    return total


def read_floor(paths: list[Path], repeat: int = 2) -> dict[str, float]:
    """Seconds to read every byte of ``paths`` once from the page cache (read once to warm, then the
    best of ``repeat`` full reads in 16 MiB chunks): no comparison can be faster than this."""
    _read_all(paths)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        total = _read_all(paths)
        best = min(best, time.perf_counter() - start)
    return {"seconds": best, "gb": total / 1e9, "gb_per_s": total / 1e9 / best}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def machine(device: str) -> dict[str, object]:
    """What the numbers were measured on."""
    out: dict[str, object] = {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "memory_gib": _mem_total_gb(),
        "python": platform.python_version(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        import transformers

        out["transformers"] = transformers.__version__
    except ImportError:
        pass
    if device.startswith("cuda") and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(device)
        out["gpu_memory_gib"] = round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1)
    return out
