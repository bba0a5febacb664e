"""The per-model function every engine runs: audit one model and fingerprint its weights.

A worker process (a pool worker, a Ray worker, or the scan's own process for ``--jobs 1``) imports
torch and loads the registry once (:func:`init_worker`); :func:`run_task` then audits one model with
exactly the code of ``provenance audit`` and saves the model's weight fingerprint beside the result
cache, so the relations inside the registry need no second pass over the weights.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from provenance.audit import audit
from provenance.checkpoint import open_checkpoint
from provenance.checkpoint.base import Checkpoint
from provenance.errors import ProvenanceError, one_line
from provenance.fingerprint.format import Fingerprint
from provenance.fingerprint.registry import Entry, load_references
from provenance.knowledge.releases import load_knowledge


class EventSink(Protocol):
    """Where a worker reports ``(model path, stage)`` as it goes (a multiprocessing queue)."""

    def put(self, item: tuple[str, str]) -> None: ...


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker needs to know once: the registry to load, behaviour on or off, device, threads."""

    registry_dir: str | None
    behaviour: bool
    device: str
    threads: int


@dataclass(frozen=True)
class Task:
    """One model to audit: its path, its cache key and where its fingerprint goes."""

    path: str
    key: str
    fingerprint: str


@dataclass
class _State:
    config: WorkerConfig
    references: list[tuple[Entry, Fingerprint]]
    events: EventSink | None


_STATE: _State | None = None


def init_worker(config: WorkerConfig, events: EventSink | None = None) -> None:
    """Load torch, the release knowledge and the registry into this process (once per process)."""
    global _STATE
    import scipy.linalg  # noqa: F401 (loaded now, so that the thread limit below reaches its BLAS too)
    import torch
    from threadpoolctl import threadpool_limits

    # torch's threads and numpy's and scipy's BLAS threads: float sums depend on how many there are
    torch.set_num_threads(max(1, config.threads))
    threadpool_limits(limits=max(1, config.threads))
    load_knowledge()
    _STATE = _State(config, load_references(config.registry_dir), events)


def run_task(task: Task, config: WorkerConfig | None = None) -> dict[str, Any]:
    """Audit ``task`` in this worker. ``config``, when given, (re)initialises a worker that holds
    none or another (a Ray worker process is reused across tasks, so it loads the registry once)."""
    if config is not None and (_STATE is None or _STATE.config != config):
        init_worker(config)
    if _STATE is None:
        raise RuntimeError("scan worker used before init_worker")
    state = _STATE

    def progress(stage: str, done: int, total: int) -> None:
        if state.events is not None:
            state.events.put((task.path, stage))

    return audit_model(task, state.references, state.config, progress)


def audit_model(task: Task, references: list[tuple[Entry, Fingerprint]], config: WorkerConfig,
                progress: Any = None) -> dict[str, Any]:
    """The cache row of one model: ``status`` ``ok`` with the audit body, or ``error`` with one line.

    A :class:`ProvenanceError` (malformed or hostile input) is the input's fault and ``cacheable``;
    any other exception is a bug or an accident, reported but retried by the next scan."""
    start = time.perf_counter()
    row: dict[str, Any] = {"key": task.key, "path": task.path}
    try:
        with open_checkpoint(task.path) as ckpt:
            result = audit(ckpt, behaviour=config.behaviour, progress=progress, device=config.device,
                           references=references)
            row.update(status="ok", audit=result.to_dict(), fingerprint=_fingerprint(ckpt, task, progress))
    except ProvenanceError as e:
        row.update(status="error", error=one_line(e), cacheable=True)
    except Exception as e:  # one model's bug must not stop the scan: an uncached error row
        row.update(status="error", error=f"{type(e).__name__}: {one_line(e)}", cacheable=False)
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row


def _fingerprint(ckpt: Checkpoint, task: Task, progress: Any) -> bool:
    """Save the model's weight fingerprint for the relations; False when it has none (an adapter, an
    architecture the sketch does not cover): the audit stands, the model just joins no family."""
    # weights only: relations compare fingerprints by weights; the name is content-derived so the
    # same key always gives the same fingerprint bytes
    try:
        fp = Fingerprint.from_checkpoint(ckpt, name=f"sha256:{task.key[:16]}", behaviour=False, progress=progress)
    except ProvenanceError:
        return False
    if fp.weights is None:
        return False
    _save(fp, Path(task.fingerprint))
    return True


def _save(fp: Fingerprint, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # a per-process partial name: two workers auditing copies of one model never share a temp file
    tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")
    tmp.write_bytes(fp.to_bytes())
    tmp.replace(path)
