"""A real local Ray cluster runs the same scan as the process pool and gives the same bytes.

Opt-in (starting Ray and two workers that each load torch and the registry takes about a minute on two
busy cores, more than this suite's budget allows). Run by hand::

    pip install 'provenance[ray]' && PROVENANCE_OPTIN=1 python3 -m pytest tests/scan/test_ray.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provenance.scan.cache import ResultCache
from provenance.scan.discover import discover
from provenance.scan.runner import ScanOptions, scan
from tests.scan.conftest import REPO, make_registry


def _bytes(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=True, separators=(",", ":")) + "\n" for r in rows)


@pytest.mark.optin("starts a local Ray cluster with 2 workers, about 1 min")
def test_ray_gives_the_pool_bytes(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    root = make_registry(tmp_path / "reg", ("stories-ft", "stories-indep-a", "stories/stories260K.bin"))
    candidates = discover([root])
    pool = scan(candidates, ScanOptions(jobs=2), ResultCache(tmp_path / "pool"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})  # workers import this checkout
    try:
        on_ray = scan(candidates, ScanOptions(ray="local"), ResultCache(tmp_path / "ray"))
    finally:
        ray.shutdown()
    assert pool.audited == on_ray.audited == 4  # the broken GGUF is tried too
    assert _bytes(on_ray.rows) == _bytes(pool.rows)
    assert [r["status"] for r in on_ray.rows] == ["error", "ok", "ok", "ok"]  # the broken GGUF, then the models
    # the caches hold the same results (line order follows completion, so compare as sets)
    lines = [set((tmp_path / d / "results.jsonl").read_text().splitlines()) for d in ("pool", "ray")]
    assert lines[0] == lines[1]
