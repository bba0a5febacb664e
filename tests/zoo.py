"""The test zoo: real descendants of, and real independents from, SmolLM2-135M-Instruct and stories260K.

Every entry is made with real optimizer steps or real weight transforms, built once and cached under
``cache_dir()/zoo/<name>/`` with a ``zoo.json`` manifest saying exactly how (parents, recipe, data
hash, measured outcome) and a ``build.json`` with the build time. A changed recipe rebuilds the entry
and everything built from it. Lineage tests use::

    from tests.zoo import ZOO_DERIVED, ZOO_INDEPENDENT, zoo_model, zoo_manifest
    path = zoo_model("smol-rotated")  # builds on first use (slow) or skips when its source is absent

``zoo_model`` returns what ``open_checkpoint`` takes: the folder, or the ``.gguf`` file of GGUF
entries; for the bases ``smollm2`` / ``stories260k`` and the opt-in families it returns the original
file. Build everything ahead of the tests with ``python -m tests.zoo build --all`` (8 min on two idle
cores; ``PROVENANCE_ZOO_THREADS=1`` is faster on a busy shared machine). Weights and manifests are
byte-identical between builds with the same thread count; stories260K entries always use one thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import torch

from provenance.modelargs import ModelArgs
from tests import zoo_recipes
from tests.exporters import save_hf
from tests.models import MODELS, stories260k
from tests.zoo_data import (
    OPTIN,
    SMOL,
    STORIES,
    State,
    ZooUnavailable,
    base_path,
    hf_tokenizer,
    load,
    zoo_dir,
)

ZOO_VERSION = 2  # bump when a recipe's code changes in a way its parameters do not show


@dataclass(frozen=True)
class Entry:
    """One zoo model: how it relates to its reference and the recipe that makes it."""

    name: str
    relation: str  # "derived" from ``reference``, or "independent" of it
    reference: str  # SMOL or STORIES
    parents: tuple[str, ...]  # bases or zoo entries whose weights it starts from (empty: random init)
    how: str  # one line for humans
    make: Callable[[Build], None]
    params: dict[str, Any] = field(default_factory=dict)
    file: str | None = None  # the file to open instead of the folder (GGUF entries)

    @property
    def function_preserving(self) -> bool:
        return bool(self.params.get("function_preserving"))


@dataclass
class Build:
    """What a recipe gets: its entry, a scratch folder to write, and a result dict to fill."""

    entry: Entry
    dir: Path
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def p(self) -> dict[str, Any]:
        return self.entry.params

    def parent(self, i: int = 0) -> tuple[State, ModelArgs]:
        return load(self.entry.parents[i])

    def save(self, state: State, args: ModelArgs, tokenizer: Any = None) -> None:
        """Write an HF folder: config.json, model.safetensors and, for SmolLM2's family, the tokenizer
        files (``tokenizer``, or SmolLM2's own). stories260K ships no tokenizer file to copy."""
        save_hf(state, args, self.dir)
        if tokenizer is None and self.entry.reference == SMOL:
            tokenizer = hf_tokenizer()
        if tokenizer is not None:
            tokenizer.save_pretrained(self.dir)


# -- cache, manifests, locking --------------------------------------------------------------------

@cache
def _base_sha(name: str) -> str:
    if name == SMOL:
        return MODELS[SMOL].sha256
    path = stories260k()
    return hashlib.sha256(path.read_bytes()).hexdigest() if path else "absent"


def recipe_sha(name: str) -> str:
    """Hash of everything that determines an entry: zoo version, recipe and its parents' hashes."""
    e = ENTRIES[name]
    spec = {
        "zoo_version": ZOO_VERSION,
        "name": name,
        "relation": e.relation,
        "reference": e.reference,
        "params": e.params,
        "parents": [recipe_sha(p) if p in ENTRIES else _base_sha(p) for p in e.parents],
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _rounded(x: Any) -> Any:
    if isinstance(x, float):
        return float(f"{x:.6g}")
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_rounded(v) for v in x]
    return x


def _file_hashes(d: Path) -> dict[str, str]:
    out = {}
    for f in sorted(d.iterdir()):
        if f.is_file() and f.name not in ("zoo.json", "build.json"):
            h = hashlib.sha256()
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 22), b""):
                    h.update(chunk)
            out[f.name] = h.hexdigest()
    return out


def manifest_bytes(b: Build) -> bytes:
    """The ``zoo.json`` of a finished build: deterministic given the same weights."""
    e = b.entry
    doc = {
        "name": e.name,
        "zoo_version": ZOO_VERSION,
        "relation": e.relation,
        "reference": e.reference,
        "parents": list(e.parents),
        "how": e.how,
        "recipe": e.params,
        "recipe_sha256": recipe_sha(e.name),
        "result": _rounded(b.result),
        "files": _file_hashes(b.dir),
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()


@contextlib.contextmanager
def _lock(name: str) -> Iterator[None]:
    """One builder per entry at a time (parallel pytest workers, a CLI build beside the tests)."""
    with open(zoo_dir() / f".lock-{name}", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _current(name: str) -> bool:
    m = zoo_dir() / name / "zoo.json"
    return m.is_file() and json.loads(m.read_text()).get("recipe_sha256") == recipe_sha(name)


def _target(name: str) -> Path:
    e = ENTRIES[name]
    d = zoo_dir() / name
    return d / e.file if e.file else d


def build(name: str, force: bool = False) -> Path:
    """Build ``name`` (and missing parents) unless a current build is cached; return its path."""
    if name in BASES:
        return base_path(name)
    if not force and _current(name):
        return _target(name)
    e = ENTRIES[name]
    for p in e.parents:
        build(p)
    with _lock(name):
        if force or not _current(name):
            _make(e)
    return _target(name)


def _make(e: Entry) -> None:
    """Run the recipe in a scratch folder, write the manifests, then move it into place."""
    for stale in zoo_dir().glob(f".tmp-{e.name}-*"):  # left by a killed build (we hold the entry's lock)
        shutil.rmtree(stale, ignore_errors=True)
    tmp = zoo_dir() / f".tmp-{e.name}-{os.getpid()}"
    tmp.mkdir()
    b = Build(e, tmp)
    default = torch.get_num_threads()
    # Tiny models use 1 thread (faster, same bytes anywhere); PROVENANCE_ZOO_THREADS caps the others,
    # e.g. 1 on a shared machine, where idle OpenMP threads spin and cost up to 6x (measured).
    threads = e.params.get("threads", int(os.environ.get("PROVENANCE_ZOO_THREADS", default)))
    torch.set_num_threads(threads)
    start, cpu = time.perf_counter(), time.process_time()
    try:
        e.make(b)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        torch.set_num_threads(default)
    timing = {"seconds": round(time.perf_counter() - start, 1), "cpu_seconds": round(time.process_time() - cpu, 1),
              "threads": threads}
    (tmp / "zoo.json").write_bytes(manifest_bytes(b))
    (tmp / "build.json").write_text(json.dumps(timing) + "\n")
    final = zoo_dir() / e.name
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)


# -- public API ---------------------------------------------------------------------------------

def zoo_model(name: str) -> Path:
    """Path of zoo model ``name`` for ``open_checkpoint``; builds it on first use. Inside pytest, an
    unavailable source skips the test with the reason."""
    try:
        return build(name)
    except ZooUnavailable as exc:
        if "pytest" in sys.modules:
            import pytest

            pytest.skip(str(exc))
        raise


def zoo_manifest(name: str) -> dict[str, Any]:
    """The ``zoo.json`` of a built entry (builds it first)."""
    zoo_model(name)
    return json.loads((zoo_dir() / name / "zoo.json").read_text())


ENTRIES: dict[str, Entry] = {e.name: e for e in zoo_recipes.recipes(Entry)}
BASES = (SMOL, STORIES, *OPTIN)
#: derived entry -> the base it descends from
ZOO_DERIVED: dict[str, str] = {n: e.reference for n, e in ENTRIES.items() if e.relation == "derived"}
#: independent entry (or base) -> the base it does NOT descend from
ZOO_INDEPENDENT: dict[str, str] = {
    **{n: e.reference for n, e in ENTRIES.items() if e.relation == "independent"},
    STORIES: SMOL,
    **dict.fromkeys(OPTIN, SMOL),
}
#: entries whose logits equal their parent's (checked at build time against FUNCTION_TOL)
FUNCTION_PRESERVING: tuple[str, ...] = tuple(n for n, e in ENTRIES.items() if e.function_preserving)


def main(argv: list[str]) -> int:
    """``python -m tests.zoo build [--all | --force] [names]`` / ``python -m tests.zoo list``."""
    if not argv or argv[0] not in ("build", "list"):
        print(main.__doc__)
        return 2
    if argv[0] == "list":
        for n, e in ENTRIES.items():
            print(f"{n:22} {e.relation:11} {e.reference:11} {'built' if _current(n) else '-':6} {e.how}")
        return 0
    force = "--force" in argv
    names = [a for a in argv[1:] if not a.startswith("--")] or list(ENTRIES)
    total = 0.0
    for n in names:
        start = time.perf_counter()
        try:
            build(n, force=force)
        except ZooUnavailable as exc:
            print(f"{n:22} skipped: {exc}", flush=True)
            continue
        took = time.perf_counter() - start
        total += took
        timing = json.loads((zoo_dir() / n / "build.json").read_text())
        result = json.loads((zoo_dir() / n / "zoo.json").read_text())["result"]
        print(f"{n:22} {took:7.1f}s now (built in {timing['seconds']}s wall, {timing.get('cpu_seconds', '?')}s CPU)  "
              f"{json.dumps(result, sort_keys=True)}", flush=True)
    print(f"total {total:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
