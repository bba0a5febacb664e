"""Relations inside a registry: separation of the fingerprint-to-fingerprint tests, and their cost.

Run from the repository root::

    python benchmarks/study_relations.py separation [names...]   # every pair of the zoo models given
    python benchmarks/study_relations.py cost 10 50 200            # find_relations on generated registries

``separation`` computes a weight-only fingerprint of each model (cached by content, see
tests/scan/sketches.py), then for every pair the sign test's ``t`` and p-value bound, the token-frame
score ``T`` and the pre-filter's signature cosine, and prints the smallest related and largest
unrelated value of each: the measurements behind the ``RELATION_*`` constants of
:mod:`provenance.calibration`. Two models are related when they descend from one base (zoo
``derived`` entries and the bases themselves); every ``independent`` entry is its own lineage.

``cost`` makes registries of N tiny generated models (width 64, 4 layers, 512-token vocabulary;
families of 1-5: a random base plus fine-tune-like noisy copies, rotated and permuted copies), then
times ``find_relations`` and counts the pair tests it ran, against the N(N-1)/2 pairs, and fits the
growth exponent (time ∝ N^k) between the smallest and largest N. ``--lookalike`` gives every model's
token rows a shared structure (as models trained on one corpus have), so the pre-filter lets unrelated
pairs through and the search pays one test per family: the worst case of the 1-vs-K pruning.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provenance.checkpoint.base import from_state_dict
from provenance.evidence.weights import pairwise as pw
from provenance.fingerprint.format import Fingerprint
from provenance.modelargs import ModelArgs
from provenance.scan.relations import find_relations
from tests.zoo import ENTRIES

DEFAULT = ["smollm2", "smol-hf", "smol-ft-light", "smol-ft-heavy", "smol-pruned", "smol-permuted",
           "smol-rotated", "smol-random", "smol-scratch", "stories260k", "stories-hf", "stories-ft",
           "stories-permuted", "stories-rotated", "stories-indep-a", "stories-indep-b", "stories-student"]


def lineage(name: str) -> str:
    """The base a model descends from, or its own name for an independent model."""
    e = ENTRIES.get(name)
    if e is None:
        return name  # a base
    return e.reference if e.relation == "derived" else name


def separation(names: list[str]) -> None:
    from tests.scan.sketches import zoo_fingerprint

    views = {n: pw.View(zoo_fingerprint(n).weights) for n in names}
    rows: dict[str, dict[str, list[float]]] = {"related": {}, "unrelated": {}}
    print(f"{'a':18} {'b':18} {'relation':9} {'t':>7} {'p':>9} {'T':>7} {'sig':>7}")
    for a, b in itertools.combinations(names, 2):
        rel = "related" if lineage(a) == lineage(b) else "unrelated"
        st, score, sig = pw.sign_test(views[a], views[b]), pw.frame_score(views[a], views[b]), \
            pw.signature_cosine(views[a], views[b])
        if st is None and score is None:
            continue  # different widths and vocabularies: never compared
        for key, v in (("t", st.t if st else None), ("p", st.p_value if st else None), ("T", score), ("sig", sig)):
            if v is not None:
                rows[rel].setdefault(key, []).append(v)
        t = f"{st.t:7.2f} {st.p_value:9.2g}" if st else f"{'-':>7} {'-':>9}"
        print(f"{a:18} {b:18} {rel:9} {t} {score if score is not None else float('nan'):7.3f} "
              f"{sig if sig is not None else float('nan'):7.3f}")
    for rel, values in rows.items():
        print(rel + ": " + "; ".join(f"{k} in [{min(v):.3g}, {max(v):.3g}] (n={len(v)})" for k, v in values.items()))


# -- cost on generated registries -----------------------------------------------------------------

ARGS = ModelArgs(arch="llama", dim=64, n_layers=4, n_heads=4, n_kv_heads=4, vocab_size=512, hidden_dim=128,
                 head_dim=16, tie_embeddings=True)


def _random_state(gen: torch.Generator, common: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """A random model; with ``common`` (tokens' shared structure [V, V] mixing), its token rows are
    correlated the way models trained on one corpus are, which the pre-filter cannot tell apart."""
    d, f, v = ARGS.dim, ARGS.hidden_dim, ARGS.vocab_size
    embed = torch.randn(v, d, generator=gen)
    if common is not None:
        embed = common @ embed
    state = {"model.embed_tokens.weight": embed, "model.norm.weight": torch.ones(d)}
    for i in range(ARGS.n_layers):
        p = f"model.layers.{i}."
        for name, shape in (("self_attn.q_proj", (d, d)), ("self_attn.k_proj", (d, d)), ("self_attn.v_proj", (d, d)),
                            ("self_attn.o_proj", (d, d)), ("mlp.gate_proj", (f, d)), ("mlp.up_proj", (f, d)),
                            ("mlp.down_proj", (d, f))):
            state[p + name + ".weight"] = torch.randn(*shape, generator=gen) / math.sqrt(shape[1])
        state[p + "input_layernorm.weight"] = torch.ones(d)
        state[p + "post_attention_layernorm.weight"] = torch.ones(d)
    return state


def _variant(state: dict[str, torch.Tensor], kind: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """A descendant: noisy copy (fine-tune-like), residual rotation, or residual permutation."""
    if kind == 0:
        return {k: v + 0.1 * v.std() * torch.randn(v.shape, generator=gen) if v.ndim == 2 else v for k, v in state.items()}
    d = ARGS.dim
    r = torch.linalg.qr(torch.randn(d, d, generator=gen))[0] if kind == 1 else torch.eye(d)[torch.randperm(d, generator=gen)]
    out = {}
    for k, v in state.items():  # residual-reading weights: W -> W R; writing: R^T W; embedding rows: E R
        if k.endswith(("o_proj.weight", "down_proj.weight")):
            out[k] = r.T @ v
        elif v.ndim == 2:
            out[k] = v @ r
        else:
            out[k] = v
    return out


def registry(n: int, lookalike: bool, seed: int = 0) -> list[tuple[str, Fingerprint]]:
    """``n`` weight-only fingerprints in families of 1-5 models (deterministic)."""
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    v = ARGS.vocab_size
    common = torch.eye(v) + 2 * torch.randn(v, 8, generator=gen) @ torch.randn(8, v, generator=gen) / v ** 0.5 \
        if lookalike else None
    items: list[tuple[str, Fingerprint]] = []
    fam = 0
    while len(items) < n:
        base = _random_state(gen, common)
        size = min(int(rng.integers(1, 6)), n - len(items))
        for k in range(size):
            state = base if k == 0 else _variant(base, int(rng.integers(0, 3)), gen)
            name = f"f{fam:03d}-m{k}"
            ckpt = from_state_dict(state, ARGS, path=name)
            items.append((name, Fingerprint.from_checkpoint(ckpt, name=name, behaviour=False)))
        fam += 1
    return items


def cost(sizes: list[int], lookalike: bool, repeat: int = 3) -> None:
    torch.set_num_threads(1)
    times, tests = [], []
    for n in sizes:
        items = registry(n, lookalike)
        took = []
        for _ in range(repeat):  # the best of a few runs: the machine is shared
            start = time.perf_counter()
            rel = find_relations(items)
            took.append(time.perf_counter() - start)
        times.append(min(took))
        tests.append(rel.pairs_tested)
        truth = len({name.split("-")[0] for name, _ in items})
        print(f"N={n:4d}: {times[-1]:7.2f}s ({1000 * times[-1] / n:.1f} ms/model)  pair tests {rel.pairs_tested:6d} "
              f"of {rel.pairs_total:6d} ({rel.pairs_tested / max(rel.pairs_total, 1):.1%}), families "
              f"{len(rel.families)} (true {truth}), edges {len(rel.edges)}", flush=True)
    for lo, hi in ((0, len(sizes) - 1), (len(sizes) - 2, len(sizes) - 1)):
        if 0 <= lo < hi:
            span = math.log(sizes[hi] / sizes[lo])
            print(f"growth exponent N={sizes[lo]}..{sizes[hi]}: time ∝ N^{math.log(times[hi] / times[lo]) / span:.2f}, "
                  f"pair tests ∝ N^{math.log(tests[hi] / tests[lo]) / span:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    s = sub.add_parser("separation")
    s.add_argument("names", nargs="*", default=DEFAULT)
    c = sub.add_parser("cost")
    c.add_argument("sizes", nargs="*", type=int, default=[10, 50, 200])
    c.add_argument("--lookalike", action="store_true", help="unrelated models the pre-filter cannot tell apart")
    a = ap.parse_args()
    if a.what == "separation":
        separation(a.names)
    else:
        cost(a.sizes, a.lookalike)


if __name__ == "__main__":
    main()
