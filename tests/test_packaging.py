"""A wheel carries what an installed ``provenance`` needs: the shipped fingerprints and release data
(``setup.py`` copies ``fingerprints/`` into the package), and an install from it audits with them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from provenance.fingerprint.registry import list_entries, shipped_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_the_shipped_registry(tmp_path: Path) -> None:
    src = tmp_path / "src"  # a copy, so building leaves no build/ or egg-info in the checkout
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for folder in ("provenance", "fingerprints"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("provenance-*.whl"))
    members = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"provenance/data/fingerprints/{p.name}" for p in shipped_dir().iterdir() if p.suffix != ".py"}
    assert shipped and shipped <= members
    assert "provenance/knowledge/releases.json" in members and "provenance/data/canaries-v1.json" in members
    # installed from the wheel (outside the checkout), the registry is the shipped one
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    code = ("from provenance.fingerprint.registry import list_entries, shipped_dir; from provenance.knowledge.releases import load_knowledge;"
            "print(shipped_dir()); print(len(list_entries(None))); print(len(load_knowledge().releases))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(site), "HOME": str(tmp_path)},
                         check=True, capture_output=True, text=True).stdout.split()
    assert out[0] == str(site / "provenance" / "data" / "fingerprints")
    assert int(out[1]) == len([e for e in list_entries(None) if e.origin == "shipped"]) and int(out[2]) > 20
