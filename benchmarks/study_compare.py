"""Separation study for weight-space lineage: every zoo pair, both ways, sketch and full comparison.

Run from the repository root (builds missing zoo entries first, which is slow)::

    python benchmarks/study_compare.py            # every pair; --full adds the full comparison
    python benchmarks/study_compare.py --only stories --full
    python benchmarks/study_compare.py --cost 7b     # time and memory of a 7B-shaped comparison

Prints one line per (pair, direction, mode) and a summary: the smallest score of a derived pair, the
largest of an independent pair, and the independent pairs' p-values. These numbers are the
measurements behind :mod:`provenance.calibration`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provenance.checkpoint import merge_lora, open_checkpoint
from provenance.evidence.weights import sketch as weights
from provenance.evidence.weights.compare import compare
from tests.zoo import BASES, ZOO_DERIVED, ZOO_INDEPENDENT, ZooUnavailable, build
from tests.zoo import _target as target

#: Independent pairs beyond the zoo's table (which pairs each entry with its own reference):
#: the same architecture trained on the same data from two seeds, the hardest null we have.
HARD_NULL = [("stories-indep-b", "stories-indep-a")]


def pairs(only: str | None) -> list[tuple[str, str, str]]:
    """(candidate, reference, relation) for every zoo entry, filtered by substring ``only``."""
    out = [(n, ref, "derived") for n, ref in ZOO_DERIVED.items()]
    out += [(n, ref, "independent") for n, ref in ZOO_INDEPENDENT.items()]
    out += [(cand, ref, "independent") for cand, ref in HARD_NULL]
    return [p for p in out if only is None or only in p[0] or only in p[1]]


_SKETCHES: dict[Path, weights.WeightSketch] = {}


def run_one(ref_path: Path, cand_path: Path, full: bool) -> dict[str, object]:
    start = time.perf_counter()
    if full:
        r = compare(ref_path, cand_path)
        d = r.to_dict()
        ev = {e["name"]: e for e in d["evidence"]}
        neuron = ev.get("weights.neuron_match")
        row = {"verdict": r.verdict, "score": r.score, "p": r.p_value,
               "heldout": d["alignment"].get("heldout_cosine"), "basis": d["alignment"]["basis"],
               "neuron_frac": neuron["value"] if neuron else None,
               "neuron_p": neuron["details"]["p_value"] if neuron else None}
    else:
        a, b = open_checkpoint(ref_path), open_checkpoint(cand_path)
        if a.adapter is not None:  # an adapter is compared merged into the other side
            sk = weights.sketch(merge_lora(b, a))
        else:
            sk = _SKETCHES.get(ref_path) or _SKETCHES.setdefault(ref_path, weights.sketch(a))
            b = merge_lora(a, b) if b.adapter is not None else b
        w = weights.compare_to_sketch(b, sk)
        row = {"verdict": w.verdict, "score": w.score, "p": w.p_value,
               "heldout": w.alignment.heldout_cosine if w.alignment else None, "basis": w.basis}
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


def cost(shape: str) -> None:
    """Time sketch + compare on a synthetic Llama-2-7B-shaped pair (weights drawn on demand, so this
    measures our compute, not disk or dequantization), and the sketch size."""
    import resource

    import torch

    from provenance.checkpoint.base import Checkpoint, LazyTensor
    from provenance.modelargs import ModelArgs

    args = {"7b": ModelArgs(), "1b": ModelArgs(dim=2048, n_layers=16, n_heads=32, n_kv_heads=8, hidden_dim=8192,
                                                head_dim=64, vocab_size=128256, tie_embeddings=True)}[shape]
    shapes = {"model.embed_tokens.weight": (args.vocab_size, args.dim), "model.norm.weight": (args.dim,)}
    if not args.tie_embeddings:
        shapes["lm_head.weight"] = (args.vocab_size, args.dim)
    q, kv = args.n_heads * args.head_dim, args.n_kv_heads * args.head_dim
    for i in range(args.n_layers):
        p = f"model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": (args.dim,), p + "post_attention_layernorm.weight": (args.dim,),
                       p + "self_attn.q_proj.weight": (q, args.dim), p + "self_attn.k_proj.weight": (kv, args.dim),
                       p + "self_attn.v_proj.weight": (kv, args.dim), p + "self_attn.o_proj.weight": (args.dim, q),
                       p + "mlp.gate_proj.weight": (args.hidden_dim, args.dim),
                       p + "mlp.up_proj.weight": (args.hidden_dim, args.dim),
                       p + "mlp.down_proj.weight": (args.dim, args.hidden_dim)})

    def model(seed: int) -> Checkpoint:
        def draw(name: str, shp: tuple[int, ...]) -> torch.Tensor:
            g = torch.Generator().manual_seed(seed * 100003 + hash(name) % 100003)
            return torch.ones(shp) if len(shp) == 1 else torch.randn(shp, generator=g) * 0.02
        tensors = {n: LazyTensor(n, s, "F16", (lambda n=n, s=s: draw(n, s))) for n, s in shapes.items()}
        return Checkpoint(f"<synthetic-{shape}-{seed}>", "memory", args, tensors)

    start = time.perf_counter()
    sk = weights.sketch(model(1))
    mid = time.perf_counter()
    r = weights.compare_to_sketch(model(2), sk)
    end = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    print(f"{shape}: sketch {mid - start:.0f}s ({sk.nbytes / 1e6:.1f} MB), compare {end - mid:.0f}s, "
          f"peak RSS {peak:.1f} GB, score {r.score:.4f} ({r.verdict})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="substring of the entry or reference names to keep")
    ap.add_argument("--full", action="store_true", help="also run the full two-checkpoint comparison")
    ap.add_argument("--json", type=Path, help="write all rows here")
    ap.add_argument("--built", action="store_true", help="use the zoo builds on disk, skip missing ones (no training)")
    ap.add_argument("--cost", choices=["7b", "1b"], help="only time a synthetic pair of this shape")
    opts = ap.parse_args()
    if opts.cost:
        cost(opts.cost)
        return 0
    rows = []
    for cand, ref, relation in pairs(opts.only):
        if opts.built and not all(n in BASES or target(n).exists() for n in (cand, ref)):
            print(f"{cand:20} skipped: not built", flush=True)
            continue
        try:
            # --built takes whatever build is on disk, even one from an older recipe
            paths = {n: target(n) if opts.built and n not in BASES else build(n) for n in (cand, ref)}
        except ZooUnavailable as e:
            print(f"{cand:20} skipped: {e}", flush=True)
            continue
        for direction, (x, y) in (("ref->cand", (ref, cand)), ("cand->ref", (cand, ref))):
            for mode in ("sketch", "full") if opts.full else ("sketch",):
                row = {"candidate": cand, "reference": ref, "relation": relation, "direction": direction,
                       "mode": mode, **run_one(paths[x], paths[y], mode == "full")}
                rows.append(row)
                ok = "ok " if row["verdict"] == relation else "BAD"
                extra = f" neuron {row['neuron_frac']} p={row['neuron_p']}" if mode == "full" else ""
                print(f"{ok} {cand:20} {relation:11} {direction:9} {mode:6} T={row['score']:.4f} "
                      f"p={row['p']:.3g} {row['verdict']:12} held={row['heldout']} basis={row['basis']}"
                      f"{extra} {row['seconds']}s", flush=True)
    derived = [r["score"] for r in rows if r["relation"] == "derived"]
    indep = [r for r in rows if r["relation"] == "independent"]
    if derived and indep:
        print(f"smallest derived score {min(derived):.4f}; largest independent score "
              f"{max(r['score'] for r in indep):.4f}; independent p-values "
              f"{sorted(round(r['p'], 4) for r in indep)}")
    print(f"wrong verdicts: {sum(r['verdict'] != r['relation'] for r in rows)} of {len(rows)}")
    if opts.json:
        opts.json.write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
