"""Canary runs of real models for behaviour tests and the calibration study, cached.

References are the shipped fingerprints (what a user has); candidates are zoo models (tests/zoo.py) or
base models run live through our engine. Runs are cached under ``cache_dir()/behaviour/`` keyed by
the model's recipe, the reference's probes and the source of the code that computes them, so a
changed engine, tokenizer or canary set recomputes.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
from pathlib import Path

import numpy as np
import pytest

import provenance
from provenance.checkpoint import merge_lora, open_checkpoint
from provenance.checkpoint.base import Checkpoint
from provenance.evidence.behaviour.canaries import CANARY_VERSION
from provenance.evidence.behaviour.probes import ProbeResults, candidate_results, run_canaries
from provenance.fingerprint.format import SUFFIX, Fingerprint
from provenance.fingerprint.registry import shipped_dir
from tests.models import cache_dir, fetch, stories260k

SMOL_FP = "smollm2-135m-instruct"
STORIES_FP = "stories260k"
_CODE = ("evidence/behaviour/canaries.py", "engine/model.py", "tokenizer/vocab.py", "tokenizer/files.py",
         "tokenizer/rebuilt.py", "tokenizer/chat.py", "tokenizer/chat_child.py", "data/canaries-v1.json")


def reference(slug: str) -> Fingerprint:
    path = shipped_dir() / f"{slug}{SUFFIX}"
    if not path.exists():
        pytest.skip(f"shipped fingerprint {path.name} absent (run python fingerprints/rebuild.py)")
    return Fingerprint.load(path)


def _code_hash() -> str:
    """Hash of the code whose output a cached run is: canaries, engine, tokenizer and the running half
    of the behaviour code (not its statistics or calibration constants)."""
    from provenance.evidence.behaviour import probes as b

    root = Path(provenance.__file__).parent
    h = hashlib.sha256()
    for rel in _CODE:
        h.update((root / rel).read_bytes())
    for fn in (b.run_canaries, b.candidate_results, b._greedy_prompts, b._score, b._schedule, b._key_index,
               b._to_keys, b.ProbeResults):
        h.update(inspect.getsource(fn).encode())
    return h.hexdigest()


def _save(r: ProbeResults, path: Path) -> None:
    meta = json.dumps({"v": r.canary_version, "mode": r.mode, "positions": r.positions, "kinds": r.kinds})
    offsets = np.cumsum([0] + [len(k) for k in r.keys])
    tmp = path.with_suffix(".partial.npz")
    np.savez(tmp, meta=np.array(meta), keys=np.frombuffer(b"".join(r.keys), np.uint8), offsets=offsets,
             topk=r.topk, topk_lp=r.topk_logprobs, sample=r.sample, sample_lp=r.sample_logprobs,
             prompts=r.prompts, full=r.full)
    tmp.replace(path)


def _load(path: Path) -> ProbeResults:
    z = np.load(path)
    meta = json.loads(str(z["meta"]))
    raw, off = z["keys"].tobytes(), z["offsets"].tolist()
    keys = [raw[a:b] for a, b in itertools.pairwise(off)]
    return ProbeResults(meta["v"], meta["positions"], meta["kinds"], keys, z["topk"], z["topk_lp"], z["sample"],
                        z["sample_lp"], mode=meta["mode"], prompts=z["prompts"], full=z["full"])


def _open(name: str) -> Checkpoint:
    from tests.zoo import zoo_model

    if name == "stories260k":
        return open_checkpoint(stories260k() or pytest.skip("../shared absent"))
    if name == "smol-lora":  # an adapter: measured merged into its base, as an audit does
        return merge_lora(open_checkpoint(zoo_model("smol-hf")), open_checkpoint(zoo_model("smol-lora")))
    if name in ("qwen2.5-coder", "smollm2"):
        return open_checkpoint(fetch(name))
    return open_checkpoint(zoo_model(name))


def live(name: str, ref: ProbeResults | None = None) -> ProbeResults:
    """Canary results of zoo model ``name`` (or a base: smollm2, stories260k, qwen2.5-coder), measured
    the way ``ref`` was (``None``: the model's own way, as when it is fingerprinted), cached."""
    from tests.zoo import ENTRIES, recipe_sha

    identity = recipe_sha(name) if name in ENTRIES else name
    ckpt = None
    if ref is None:
        ckpt = _open(name)
        how: object = [CANARY_VERSION, "text"] if ckpt.tokenizer is not None else "own-ids"
    else:  # a text-mode run does not depend on the reference: one cache entry serves all
        how = [ref.canary_version, "text"] if ref.mode == "text" else [ref.canary_version, "ids", ref.prompts.tolist()]
    key = hashlib.sha256(json.dumps([identity, _code_hash(), how]).encode()).hexdigest()[:24]
    path = cache_dir() / "behaviour" / f"{name}-{key}.npz"
    if path.exists():
        return _load(path)
    ckpt = ckpt or _open(name)
    result = run_canaries(ckpt) if ref is None else candidate_results(ckpt, ref)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(result, path)
    return result
