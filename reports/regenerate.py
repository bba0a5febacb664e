"""Regenerate the example reports in reports/examples/ and the README screenshot, from real models.

    python reports/regenerate.py            # run the audit and the compare, render every format, screenshot
    python reports/regenerate.py --render   # re-render every format from the stored JSON (renderer changes)
    python reports/regenerate.py --check    # exit 1 if a stored example differs from a fresh rendering

The audit is of SmolLM2-135M-Instruct (tests/models.py); the compare pits it against a real
descendant from the test zoo (tests/zoo.py, built on first use). Both run through the real CLI
(``provenance audit|compare ... --format json``); every other format is rendered from that JSON body.
Models are linked into a scratch folder and named by relative paths, and ``SOURCE_DATE_EPOCH`` is
fixed, so the output does not depend on the machine, the cache location or the clock.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console

from provenance.cli import terminal
from provenance.report import Format, Report, ReportMeta, render

EXAMPLES = ROOT / "reports" / "examples"
EPOCH = "1767225600"  # 2026-01-01T00:00:00Z, the stated generation time of every example
# the same instant as report text; set here rather than through os.environ so importing this module
# (the example tests do) never changes the environment of the process
GENERATED_AT = "2026-01-01T00:00:00Z"
TEXT_WIDTH = 100
SMOL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DESCENDANT = "smol-pruned"  # 2 of 30 layers dropped: the compare shows an A x B layer heatmap

#: example name -> (CLI arguments after ``provenance``, the model folder finding anchors are relative
#: to, the file a finding without an anchor points at), as make_report finds them in the scratch folder
EXAMPLE_ARGS: dict[str, tuple[list[str], str, str]] = {
    "audit-smollm2": (["audit", SMOL_FILE], ".", SMOL_FILE),
    f"compare-smollm2-{DESCENDANT}": (["compare", SMOL_FILE, DESCENDANT], DESCENDANT, "config.json"),
}
#: example -> the screenshot of its HTML page in reports/ and the window height that frames it (the
#: compare page down to the end of its A x B heatmap); PNGs stay under 300 kB for the README
SCREENSHOTS: dict[str, tuple[Path, int]] = {
    "audit-smollm2": (ROOT / "reports" / "screenshot-audit.png", 1600),
    f"compare-smollm2-{DESCENDANT}": (ROOT / "reports" / "screenshot-compare.png", 2080),
}


def outputs(name: str, body: dict[str, Any]) -> dict[str, str]:
    """Every format of one example: file name -> content. Each file records the command that makes it."""
    args, base, default = EXAMPLE_ARGS[name]
    out = {}
    for fmt in (f for f in Format if body["kind"] in f.kinds):  # in-toto attests audits only
        fname = name + fmt.suffix
        # the scratch folder the models ran in is gone: the anchors are named, not looked up
        meta = ReportMeta(("provenance", *args, "--format", fmt.value, "-o", fname), GENERATED_AT, base, default)
        report = Report(body["kind"], body, meta)
        if fmt is Format.TEXT:
            buf = io.StringIO()
            draw = terminal.render_audit if body["kind"] == "audit" else terminal.render_compare
            draw(Console(file=buf, width=TEXT_WIDTH, color_system=None, highlight=False), body)
            out[fname] = buf.getvalue()
        else:
            out[fname] = render(report, fmt)
    return out


def stored_body(name: str) -> dict[str, Any]:
    """The body of a stored example (its JSON without ``meta``)."""
    data = json.loads((EXAMPLES / f"{name}.json").read_text())
    data.pop("meta")
    return data


def run_cli(args: list[str], cwd: Path) -> dict[str, Any]:
    """``provenance <args> --format json`` in ``cwd``; the body it prints."""
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "provenance", "-q", *args, "--format", "json"], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):  # 1: a finding at or above --fail-on, still a report
        raise SystemExit(f"provenance {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    data = json.loads(proc.stdout)
    data.pop("meta", None)
    return data


def run_models(names: list[str]) -> dict[str, dict[str, Any]]:
    """Run the examples ``names`` on real models, linked into a scratch folder under stable names."""
    from tests.models import fetch
    from tests.zoo import zoo_model

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        (scratch / SMOL_FILE).symlink_to(fetch("smollm2"))
        if any(DESCENDANT in EXAMPLE_ARGS[n][0] for n in names):
            (scratch / DESCENDANT).symlink_to(zoo_model(DESCENDANT), target_is_directory=True)
        return {name: run_cli(EXAMPLE_ARGS[name][0], scratch) for name in names}


def screenshot(html_file: Path, png: Path, height: int = 1600) -> bool:
    """Render ``html_file`` with headless Chromium into a ``png`` 1200 pixels wide and ``height`` high
    (False when Chromium is missing)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        return False
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                        f"--user-data-dir={profile}", "--virtual-time-budget=3000", f"--screenshot={png}",
                        f"--window-size=1200,{height}", html_file.resolve().as_uri()],
                       check=True, capture_output=True, timeout=120)
    return png.is_file()


def stale(names: list[str] | None = None) -> list[str]:
    """Example files that differ from a fresh rendering of the stored bodies (or are missing)."""
    out = []
    for name in names or list(EXAMPLE_ARGS):
        if not (EXAMPLES / f"{name}.json").is_file():
            out.append(f"{name}.json")
            continue
        for fname, text in outputs(name, stored_body(name)).items():
            path = EXAMPLES / fname
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                out.append(fname)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--render", action="store_true", help="re-render from the stored JSON, do not run models")
    mode.add_argument("--check", action="store_true", help="exit 1 when an example is out of date")
    ap.add_argument("--no-screenshot", action="store_true")
    ap.add_argument("--only", choices=list(EXAMPLE_ARGS), action="append", help="just this example (repeatable)")
    opts = ap.parse_args(argv)
    names = opts.only or list(EXAMPLE_ARGS)
    if opts.check:
        bad = stale(names)
        for f in bad:
            print(f"out of date: reports/examples/{f}", file=sys.stderr)
        return 1 if bad else 0
    bodies = {n: stored_body(n) for n in names} if opts.render else run_models(names)
    EXAMPLES.mkdir(parents=True, exist_ok=True)
    for name, body in bodies.items():
        for fname, text in outputs(name, body).items():
            (EXAMPLES / fname).write_text(text, encoding="utf-8")
            print(f"wrote reports/examples/{fname}")
    for name in [] if opts.no_screenshot else names:
        png, height = SCREENSHOTS[name]
        if screenshot(EXAMPLES / f"{name}.html", png, height):
            print(f"wrote reports/{png.name} ({png.stat().st_size:,} bytes)")
        else:
            print("chromium not found: screenshots not updated", file=sys.stderr)
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
