"""``provenance scan`` on a registry of real zoo models: verdicts, summary formats, cache, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from provenance.scan.cache import ResultCache
from provenance.scan.discover import discover
from provenance.scan.runner import ScanOptions, scan
from tests.report.schemas import validate_cyclonedx, validate_sarif
from tests.scan.conftest import BROKEN, EXPECTED, REPO, SMOL, Registry, make_registry, run_scan

SUMMARIES = ("s.txt", "s.json", "s.md", "s.html", "s.sarif", "s.cdx.json")


@dataclass(frozen=True)
class FirstScan:
    registry: Registry
    out: Path
    cache: Path
    summaries: Path
    proc: subprocess.CompletedProcess[str]

    def rows(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.read_text().splitlines()]


@pytest.fixture(scope="module")
def first(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> FirstScan:
    """One scan through the CLI with a pool of two workers and every summary format."""
    d = tmp_path_factory.mktemp("first")
    summaries = [a for s in SUMMARIES for a in ("--summary", d / s)]
    proc = run_scan(registry.root, registry.smol, "--jobs", "2", "--cache-dir", d / "cache", "-o", d / "out.jsonl",
                    *summaries)
    return FirstScan(registry, d / "out.jsonl", d / "cache", d, proc)


def _rel(row: dict[str, Any], reg: Registry) -> str:
    p = Path(row["path"])
    return SMOL[0] if p == reg.smol else p.relative_to(reg.root).as_posix()


def test_every_model_once_with_the_right_verdict(first: FirstScan) -> None:
    assert first.proc.returncode == 2, first.proc.stderr  # the broken GGUF could not be audited
    rows = first.rows()
    assert [r["path"] for r in rows] == sorted(r["path"] for r in rows)
    names = [_rel(r, first.registry) for r in rows]
    assert sorted(names) == sorted([*EXPECTED, SMOL[0], BROKEN])
    expected = {**EXPECTED, SMOL[0]: SMOL[1]}
    for row, name in zip(rows, names):
        if name == BROKEN:
            assert row["status"] == "error" and BROKEN in row["error"] and "audit" not in row
            continue
        lin = row["audit"]["lineage"]
        assert (lin["verdict"], lin["base"]) == expected[name], name
        assert row["audit"]["model"]["path"] == row["path"]
    # the renamed copy of stories260K was hashed, not audited: 9 rows, 8 audits
    assert "scanned 9 models: 8 audited, 0 from the cache, 1 failed" in first.proc.stderr


def test_summary_in_every_format(first: FirstScan) -> None:
    body = json.loads((first.summaries / "s.json").read_text())
    assert body["kind"] == "scan" and body["counts"]["models"] == 9 and body["counts"]["errors"] == 1
    assert body["counts"]["verdicts"] == {"derived": 6, "imitates": 1, "unverified": 1}
    sarif = json.loads((first.summaries / "s.sarif").read_text())
    validate_sarif(sarif)
    assert len(sarif["runs"]) == 1  # one run covers every model
    run = sarif["runs"][0]
    located = {r["properties"]["model"] for r in run["results"]}
    assert len(located) == 8  # every audited model has at least one finding (a pass counts)
    assert not run["invocations"][0]["executionSuccessful"]
    assert BROKEN in run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"]
    validate_cyclonedx(json.loads((first.summaries / "s.cdx.json").read_text()))
    for name in ("s.txt", "s.md", "s.html"):
        text = (first.summaries / name).read_text()
        assert "stories-indep-a" in text and "unverified" in text and "imitates" in text, name


def test_rescan_audits_only_what_changed(first: FirstScan, tmp_path: Path) -> None:
    cache = ResultCache(first.cache)
    lines = cache.results.read_text().count("\n")
    reg = first.registry
    candidates = discover([reg.root, reg.smol])
    opts = ScanOptions()
    again = scan(candidates, opts, cache)
    assert again.audited == 0 and again.cached == 9
    out = "".join(json.dumps(r, ensure_ascii=True, separators=(",", ":")) + "\n" for r in again.rows)
    assert out == first.out.read_text()  # same bytes from the cache as from the workers
    assert cache.results.read_text().count("\n") == lines

    # one file changed: a model card declaring a license, in the independent model's folder
    (reg.root / "stories-indep-a" / "README.md").write_text("---\nlicense: mit\n---\n# a model\n")
    try:
        changed = scan(discover([reg.root, reg.smol]), opts, cache)
    finally:
        (reg.root / "stories-indep-a" / "README.md").unlink()
    assert changed.audited == 1
    row = next(r for r in changed.rows if r["path"].endswith("stories-indep-a"))
    assert row["audit"]["license"]["declared"] == "mit"
    assert cache.results.read_text().count("\n") == lines + 1


def test_sigkill_mid_scan_then_resume(tmp_path: Path) -> None:
    """Kill -9 after the first result is on disk, tear the last line, rerun: each model once."""
    names = ("stories-ft", "stories-hf", "stories-indep-a", "stories-permuted")
    root = make_registry(tmp_path / "reg", names)
    cache = tmp_path / "cache"
    args = [sys.executable, "-m", "provenance", "-q", "scan", str(root), "--no-behaviour", "--cache-dir", str(cache),
            "-o", str(tmp_path / "a.jsonl")]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    results = cache / "results.jsonl"
    deadline = time.monotonic() + 300
    while not (results.is_file() and results.read_bytes().count(b"\n") >= 2) and time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail("the scan ended before it could be killed")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = results.read_bytes().count(b"\n")
    assert 2 <= done < 5  # 5 models (the broken GGUF included): killed before the end
    with open(results, "ab") as f:
        f.write(b'{"key":"torn')  # what a kill in the middle of a write leaves
    second = run_scan(root, "--no-behaviour", "--cache-dir", cache, "-o", tmp_path / "b.jsonl", quiet=False)
    assert second.returncode == 2, second.stderr
    # no progress display when stderr is not a terminal (no -q here): the closing line only
    assert second.stderr == f"scanned 5 models: {5 - done} audited, {done} from the cache, 1 failed\n"
    rows = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert sorted(Path(r["path"]).name for r in rows) == sorted([*names, BROKEN])
    assert all(line.endswith(b"}") for line in results.read_bytes().splitlines())  # the torn line was cut


def test_relations_inside_the_registry(first: FirstScan) -> None:
    """Families from the fingerprints the scan saved: stories260K, its copy and its descendants are one
    family; the independent, the distilled student (own weights) and the SmolLM2 fine-tune stand alone."""
    body = json.loads((first.summaries / "s.json").read_text())
    reg = first.registry
    families = [sorted(_rel({"path": p}, reg) for p in f) for f in body["families"] if len(f) > 1]
    stories = sorted(n for n, (verdict, _) in EXPECTED.items() if verdict == "derived")
    assert families == [stories]
    singles = {_rel({"path": f[0]}, reg) for f in body["families"] if len(f) == 1}
    assert singles == {"stories-indep-a", "stories-student", SMOL[0]}  # the broken GGUF has no fingerprint
    assert body["relations"]["edges"] and all(e["a"] != e["b"] for e in body["relations"]["edges"])
    page = (first.summaries / "s.html").read_text()
    assert page.count("<svg") == 1 and "<script" not in page
    assert (first.summaries / "s.md").read_text().count("\n- ") == 1  # the one family, listed
