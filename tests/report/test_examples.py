"""reports/: the example reports are current, and the HTML report really renders in a browser."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from provenance.report import Format, make_report, render
from tests.report.png import distinct_colours

ROOT = Path(__file__).resolve().parents[2]


def _regenerate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("regenerate", ROOT / "reports" / "regenerate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REGEN = _regenerate()


NAMES = list(REGEN.EXAMPLE_ARGS)


def _need(name: str) -> None:
    if not (REGEN.EXAMPLES / f"{name}.json").is_file():
        pytest.skip(f"reports/examples/{name}.json not generated yet: run python reports/regenerate.py")


@pytest.mark.parametrize("name", NAMES)
def test_examples_are_current(name: str) -> None:
    """Every stored format equals a fresh rendering of the stored JSON body (run
    ``python reports/regenerate.py --render`` after changing a renderer)."""
    _need(name)
    assert REGEN.stale([name]) == []


@pytest.mark.parametrize("name", NAMES)
def test_examples_cover_every_format(name: str) -> None:
    _need(name)
    body = REGEN.stored_body(name)
    files = REGEN.outputs(name, body)
    assert len(files) == sum(body["kind"] in f.kinds for f in Format) and all((REGEN.EXAMPLES / f).is_file() for f in files)
    for fname, text in files.items():
        assert "\x1b" not in text and "/root/" not in text and "/home/" not in text, fname  # machine-free


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_example_bodies_reproduce(name: str) -> None:
    """Running the real models again gives the stored body: the examples are current. Verdicts, ids,
    texts and structure must be identical; numbers equal to 1e-3 relative (another CPU's BLAS rounds
    float32 products differently, and six significant digits show it)."""
    _need(name)
    mismatches = _differences(REGEN.run_models([name])[name], REGEN.stored_body(name))
    assert mismatches == [], mismatches[:10]


def _differences(a: Any, b: Any, where: str = "") -> list[str]:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        if isinstance(a, dict) and isinstance(b, dict):
            if list(a) != list(b):
                return [f"{where}: keys {list(a)} != {list(b)}"]
            return [d for k in a for d in _differences(a[k], b[k], f"{where}/{k}")]
        if isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                return [f"{where}: {len(a)} items != {len(b)}"]
            return [d for i, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, f"{where}[{i}]")]
        return [] if a == b else [f"{where}: {a!r} != {b!r}"]
    return [] if abs(a - b) <= 1e-3 * max(abs(a), abs(b)) + 1e-9 else [f"{where}: {a} != {b}"]


# -- the page in a real browser -------------------------------------------------------------------
def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return exe


def test_html_screenshot_is_not_blank(stories_audit: dict[str, Any], tmp_path: Path) -> None:
    _chromium()
    page = tmp_path / "audit.html"
    page.write_text(render(make_report(stories_audit, ["provenance", "audit", "stories260K.bin"]), "html"), encoding="utf-8")
    png = tmp_path / "audit.png"
    assert REGEN.screenshot(page, png)
    # a blank or unstyled page has a handful of colours; the banner, badges and text give hundreds
    assert distinct_colours(png, step=3) > 200
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>")
    assert REGEN.screenshot(blank, tmp_path / "blank.png")
    assert distinct_colours(tmp_path / "blank.png", step=3) < 5


@pytest.mark.parametrize("name", NAMES)
def test_readme_screenshots(name: str) -> None:
    png, _ = REGEN.SCREENSHOTS[name]
    if not png.is_file():
        pytest.skip(f"reports/{png.name} not generated yet: run python reports/regenerate.py")
    assert png.stat().st_size < 300_000
    assert distinct_colours(png, step=3) > 200


def test_check_mode_exit_status(tmp_path: Path) -> None:
    """``--check`` is what CI and people run, from any folder; it agrees with :func:`stale`."""
    present = [n for n in NAMES if (REGEN.EXAMPLES / f"{n}.json").is_file()]
    if not present:
        pytest.skip("reports/examples not generated yet: run python reports/regenerate.py")
    only = [a for n in present for a in ("--only", n)]
    proc = subprocess.run([sys.executable, str(ROOT / "reports" / "regenerate.py"), "--check", *only], cwd=tmp_path,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == (1 if REGEN.stale(present) else 0), proc.stderr
