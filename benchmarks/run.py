"""Every benchmark in one command: prints a table and writes JSON (see benchmarks/README.md).

    python3 benchmarks/run.py [--quick] [--device cpu|cuda] [--json FILE] [--only STAGE ...]

Stages: engine, compare, fingerprint, audit, scaling. Each stage measures its subject and its
yardstick side by side in the same run (transformers for the engine, the page-cache read floor for
compare), so the ratios hold even on a busy machine; absolute seconds do not. ``--quick`` runs
smoke-sized models (stories260K, tiny generated checkpoints) in well under a minute.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli_stages import STAGES as CLI_STAGES
from engine_stage import stage_engine
from measure import ROOT, Context, cli_has_device, machine

STAGES = {"engine": stage_engine, **CLI_STAGES}
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "latest.json"


def table(rows: list[tuple[str, str, str, str]]) -> str:
    """Plain-text table: stage | what | result | target."""
    head = ("stage", "what", "result", "target")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]

    def line(r: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()

    return "\n".join([line(head), line(tuple("-" * w for w in widths)), *map(line, rows)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke-sized models (seconds, for tests)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the engine stage, and the CLI's probes)")
    ap.add_argument("--json", type=Path, default=DEFAULT_JSON, help=f"where to write results ({DEFAULT_JSON})")
    ap.add_argument("--only", nargs="+", choices=list(STAGES), help="run only these stages")
    a = ap.parse_args(argv)
    ctx = Context(quick=a.quick, device=a.device)
    result: dict = {"machine": machine(a.device), "quick": a.quick, "device": a.device,
                    "cli_has_device": cli_has_device(), "stages": {}}
    failed = False
    for name in a.only or list(STAGES):
        start = time.perf_counter()
        print(f"[{name}] ...", file=sys.stderr, flush=True)
        try:
            out = STAGES[name](ctx)
        except Exception as e:
            failed = True
            out = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc().splitlines()[-8:]}
            ctx.row(name, "ERROR", f"{type(e).__name__}: {str(e)[:150]}")
        out["stage_seconds"] = round(time.perf_counter() - start, 1)
        result["stages"][name] = out
        print(f"[{name}] {out['stage_seconds']} s", file=sys.stderr, flush=True)
    m = result["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} ({m['torch_threads']} threads)"
          + (f", {m['gpu']}" if "gpu" in m else "") + f", load {m['load_average']}")
    print(table(ctx.rows))
    result["table"] = [list(r) for r in ctx.rows]
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(result, indent=1, sort_keys=True, default=str) + "\n")
    print(f"wrote {a.json}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
