"""Weight-only fingerprints of zoo models for relation tests and studies, cached by content.

A fingerprint of a SmolLM2-sized model takes seconds to compute; the relation tests only need its
weight sketch. Each is cached under ``cache_dir()/relations/`` keyed by the model's content (the
zoo manifest's file hashes, or the base file's sha256) and by the source of the code that computes
sketches, so a changed model or a changed sketch recomputes it.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import provenance.evidence.weights as weights_pkg
from provenance.checkpoint import open_checkpoint
from provenance.fingerprint.format import Fingerprint
from tests.models import MODELS, cache_dir
from tests.zoo import BASES, zoo_manifest, zoo_model
from tests.zoo_data import SMOL

#: Modules whose code determines a weight sketch.
_SKETCH_CODE = ("sketch.py", "frame.py", "invariants.py", "alignment.py")


def _code_sha() -> str:
    root = Path(weights_pkg.__file__).parent
    h = hashlib.sha256()
    for name in _SKETCH_CODE:
        h.update((root / name).read_bytes())
    return h.hexdigest()[:16]


def _content_key(name: str, path: Path) -> str:
    if name == SMOL:
        content = MODELS[SMOL].sha256
    elif name in BASES:
        content = hashlib.sha256(path.read_bytes()).hexdigest()  # stories260K: 1 MB
    else:
        content = json.dumps(zoo_manifest(name)["files"], sort_keys=True)
    return hashlib.sha256(f"{name}\0{content}\0{_code_sha()}".encode()).hexdigest()[:24]


def zoo_fingerprint(name: str) -> Fingerprint:
    """A weight-only fingerprint (no behaviour) of zoo model or base ``name``, cached by content."""
    path = zoo_model(name)
    out = cache_dir() / "relations" / f"{name}-{_content_key(name, path)}.fingerprint.safetensors"
    if out.is_file():
        return Fingerprint.load(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    own = re.compile(re.escape(name) + r"-[0-9a-f]{24}\.fingerprint\.safetensors")
    for stale in out.parent.iterdir():  # this model's entries for an older model or older code
        if own.fullmatch(stale.name):
            stale.unlink(missing_ok=True)
    with open_checkpoint(path) as ckpt:
        fp = Fingerprint.from_checkpoint(ckpt, name=name, behaviour=False)
    fp.save(out)
    return fp
