"""``provenance scan`` throughput: models per hour, ``--jobs 1`` vs ``--jobs 2``, Ray vs the pool, a cache hit.

    nice python3 benchmarks/bench_scan.py                 # SmolLM2-sized models from the test zoo (~10 min on 2 cores)
    nice python3 benchmarks/bench_scan.py --quick         # stories260K-sized, a smoke run
    nice python3 benchmarks/bench_scan.py --no-ray        # without Ray (pip install 'provenance[ray]' for it)

Every engine scans the same distinct models (SmolLM2-135M's GGUF and the zoo's smol-hf, smol-ft-light,
smol-ft-heavy: 135M parameters each, with behaviour) into its own fresh cache, in a fresh process
(imports, registry loading and worker start-up included, as a user sees them). Then the ``--jobs 1``
scan is rerun on its warm cache: every model a cache hit, which costs hashing its files. Ray runs
``--ray local`` (a local cluster on this machine's cores, one task per model, ``num_cpus=1``), and
its JSON Lines must equal the pool's byte for byte. Results: a table, and JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.measure import machine, run_cli
from provenance.scan.cache import sha256_file
from provenance.scan.discover import discover
from tests.models import fetch, stories260k
from tests.zoo import zoo_model

SMOL_MODELS = ("smol-hf", "smol-ft-light", "smol-ft-heavy")
QUICK_MODELS = ("stories-hf", "stories-ft", "stories-permuted", "stories-indep-a")


def models(quick: bool) -> list[Path]:
    """Distinct models of one size (no two share a cache key)."""
    if quick:
        base = stories260k()
        if base is None:
            raise SystemExit("stories260K (../shared) is absent")
        return [base, *(zoo_model(n) for n in QUICK_MODELS)]
    return [fetch("smollm2"), *(zoo_model(n) for n in SMOL_MODELS)]


def scan_once(paths: list[Path], cache: Path, out: Path, engine: list[str]) -> dict[str, Any]:
    run = run_cli(["scan", *map(str, paths), "--cache-dir", str(cache), "-o", str(out), *engine]).check("scan")
    return {"seconds": round(run.seconds, 2), "peak_rss_mb": round(run.peak_rss_mb), "models": len(paths),
            "models_per_hour": round(len(paths) / run.seconds * 3600, 1), "stderr": run.stderr.strip()[-300:]}


def hash_cost(paths: list[Path]) -> dict[str, Any]:
    """What a cache hit costs beyond start-up: hashing the model's files (their bytes, from the page cache)."""
    files = [f for c in discover(paths) for f in c.files]
    size = sum(f.stat().st_size for f in files)
    start = time.perf_counter()
    for f in files:
        sha256_file(f)
    took = time.perf_counter() - start
    return {"bytes": size, "seconds": round(took, 3), "mb_per_s": round(size / took / 1e6), "per_model_s": round(took / len(paths), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="stories260K-sized models (smoke run)")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray engine")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    paths = models(args.quick)
    engines = {"jobs 1": ["--jobs", "1"], "jobs 2": ["--jobs", "2"]}
    if not args.no_ray:
        engines["ray 2 workers"] = ["--ray", "local"]
    res: dict[str, Any] = {"machine": machine("cpu"), "models": [str(p) for p in paths], "engines": {}}
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        t = Path(tmp)
        for name, flags in engines.items():
            slug = name.replace(" ", "-")
            res["engines"][name] = scan_once(paths, t / slug, t / f"{slug}.jsonl", flags)
            print(f"{name:14} {res['engines'][name]['seconds']:8.1f} s  "
                  f"{res['engines'][name]['models_per_hour']:8.1f} models/h", flush=True)
        res["cache_hit"] = {"rescan": scan_once(paths, t / "jobs-1", t / "again.jsonl", ["--jobs", "1"]),
                            "hashing": hash_cost(paths)}
        outputs = {n: (t / f"{n.replace(' ', '-')}.jsonl").read_bytes() for n in engines}
        res["same_bytes"] = {n: outputs[n] == outputs["jobs 2"] for n in outputs} | {
            "cache rescan": (t / "again.jsonl").read_bytes() == outputs["jobs 1"]}
    hit = res["cache_hit"]
    print(f"cache hit: rescan of {len(paths)} cached models {hit['rescan']['seconds']:.1f} s in all (start-up "
          f"included); hashing {hit['hashing']['per_model_s']:.2f} s per model at {hit['hashing']['mb_per_s']} MB/s")
    print(f"same bytes as --jobs 2: {res['same_bytes']}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return 0 if all(res["same_bytes"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
