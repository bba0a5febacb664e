"""``provenance scan``'s engine: hash, look up the cache, audit what is missing, emit rows in order.

Engines run the same per-model function (:func:`provenance.scan.worker.run_task`):

* ``jobs == 1``: in the scan's own process;
* ``jobs > 1``: a :class:`concurrent.futures.ProcessPoolExecutor` (``spawn``), each worker loading
  torch and the registry once; at most ``jobs`` models in
  flight, so a worker killed by the system (out of memory) implicates only those, which get
  uncached error rows (the next scan retries them) while the pool is rebuilt for the rest;
* ``ray``: Ray tasks (``num_cpus=1``, ``num_gpus`` as asked, worker processes reused so each loads
  the registry once); Ray schedules them over the cluster. Ray is the optional extra
  ``provenance[ray]``.

Every worker runs torch and the BLAS under numpy and scipy on one thread (parallelism is across
models), so that a result's bytes do not depend on the engine. Whatever the engine, rows are
appended to the cache as they finish and emitted in path order (row *i* as soon as rows 0..*i* are
done), so the output bytes do not depend on the engine, the number of workers or the order models
finished.
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import queue
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provenance.errors import ProvenanceError, one_line
from provenance.fingerprint.registry import list_entries, load_references
from provenance.knowledge.releases import data_path
from provenance.scan.cache import ResultCache, environment_version, model_key, sha256_file
from provenance.scan.discover import Candidate
from provenance.scan.worker import Task, WorkerConfig, init_worker, run_task

Row = dict[str, Any]
_POLL_S = 0.2


@dataclass(frozen=True)
class ScanOptions:
    """How to scan: registry, behaviour, device, parallelism (``jobs``; ``ray`` address or ``None``)."""

    registry_dir: str | None = None
    behaviour: bool = True
    device: str = "cpu"
    jobs: int = 1
    ray: str | None = None  # "auto" (a running cluster), "local" (start one here) or an address
    ray_gpus: float = 0.0


@dataclass
class ScanStatus:
    """What a progress display shows: models done of total, cache hits, errors, what runs now."""

    total: int
    done: int = 0
    cached: int = 0
    errors: int = 0
    stage: str = "hashing"
    running: dict[str, str] = field(default_factory=dict)  # model path -> its current stage


StatusCallback = Callable[[ScanStatus], None]


@dataclass
class ScanRun:
    """A finished scan: rows in path order, the counts, and where the weight fingerprints are."""

    rows: list[Row]
    audited: int
    cached: int
    fingerprints: list[tuple[str, Path]]  # (model path, its weight fingerprint) for the relations

    @property
    def errors(self) -> int:
        return sum(r["status"] == "error" for r in self.rows)


def scan(candidates: list[Candidate], options: ScanOptions, cache: ResultCache,
         emit: Callable[[Row], None] | None = None, status: StatusCallback | None = None) -> ScanRun:
    """Audit every candidate not already in ``cache``; ``emit`` each output row in path order."""
    st = ScanStatus(total=len(candidates))
    notify = status or (lambda s: None)
    env = environment_version(list_entries(options.registry_dir), data_path(), options.behaviour)
    keys = list(_keys(candidates, env, st, notify))
    done: dict[str, Row] = cache.load()
    failed: dict[str, Row] = {}  # uncached errors of this run, by key (every copy shares its copy's error)
    copies = Counter(k for k in keys if isinstance(k, str))
    todo: dict[str, Task] = {}
    for c, k in zip(candidates, keys):
        if isinstance(k, str) and k not in done and k not in todo:  # copies inside one scan: audited once
            todo[k] = Task(c.path.as_posix(), k, str(cache.fingerprint_path(k)))
    emitter = _OrderedEmitter(candidates, keys, done, failed, emit)
    st.stage = "auditing"
    st.cached = sum(isinstance(k, str) and k in done for k in keys)
    emitter.flush()
    st.done = len(candidates) - sum(copies[k] for k in todo)  # cached, or unreadable
    notify(st)

    def finished(row: Row) -> None:
        st.running.pop(row["path"], None)
        if row["status"] == "ok" or row.get("cacheable"):
            row = {k: v for k, v in row.items() if k not in ("cacheable", "seconds")}
            cache.append(row)
            done[row["key"]] = row
        else:
            failed[row["key"]] = row
        st.done += copies[row["key"]]
        emitter.flush()
        st.errors = emitter.errors
        notify(st)

    def running(path: str, stage: str) -> None:
        st.running[path] = stage
        notify(st)

    tasks = list(todo.values())
    if tasks:
        # one thread per worker (torch and the BLAS under numpy and scipy), whatever the engine: float
        # sums depend on the thread count in their last bits (a p-value of 3.627e-80 with 2 BLAS threads
        # is 3.62698e-80 with one), and the output bytes must not depend on how the scan was run
        config = WorkerConfig(options.registry_dir, options.behaviour, options.device, threads=1)
        if options.ray is not None or options.jobs > 1:
            load_references(options.registry_dir)  # a malformed registry fails here, once, not in every worker
        if options.ray is not None:
            _run_ray(tasks, config, options, finished)
        elif options.jobs <= 1:
            _run_here(tasks, config, finished, running)
        else:
            _run_pool(tasks, config, options.jobs, finished, running)
    if len(emitter.rows) != len(candidates):  # every model has a row, or the scan says why not
        raise RuntimeError(f"scan ended with {len(candidates) - len(emitter.rows)} models without a result")
    st.stage = "done"
    notify(st)
    weights = [(r["path"], cache.fingerprint_path(r["key"])) for r in emitter.rows
               if r["status"] == "ok" and done[r["key"]].get("fingerprint")]
    return ScanRun(emitter.rows, audited=len(tasks), cached=st.cached, fingerprints=weights)


def _keys(candidates: list[Candidate], env: dict[str, Any], st: ScanStatus,
          notify: StatusCallback) -> Iterator[str | Row]:
    """Each candidate's cache key, or an error row when its files cannot be read."""
    memo: dict[Path, str] = {}  # one hash per file per scan (context files are shared by siblings)
    for c in candidates:
        st.running = {c.path.as_posix(): "hashing"}
        notify(st)
        try:
            files = [(_role(c, f), memo[f] if f in memo else memo.setdefault(f, sha256_file(f))) for f in c.files]
        except OSError as e:
            yield {"path": c.path.as_posix(), "key": None, "status": "error",
                   "error": f"{c.path}: unreadable: {e.strerror or e}"}
            continue
        yield model_key(files, env)
    st.running = {}


def _role(c: Candidate, f: Path) -> str:
    """A file's name in the key: its name inside a folder model; ``<model>`` for a model file itself
    (so a renamed copy keeps its key)."""
    return "<model>" if f == c.path else f.name


class _OrderedEmitter:
    """Emits row *i* once rows 0..*i* are known, relocating cached rows to the path they are found at."""

    def __init__(self, candidates: list[Candidate], keys: list[str | Row], done: dict[str, Row],
                 failed: dict[str, Row], emit: Callable[[Row], None] | None) -> None:
        self._paths = [c.path.as_posix() for c in candidates]
        self._keys, self._done, self._failed, self._emit = keys, done, failed, emit
        self.rows: list[Row] = []
        self.errors = 0

    def flush(self) -> None:
        """Emit every row that is now known, in order."""
        while len(self.rows) < len(self._paths):
            i = len(self.rows)
            path, key = self._paths[i], self._keys[i]
            if not isinstance(key, str):
                row: Row | None = key
            elif key in self._done:
                row = output_row(self._done[key], path)
            else:
                row = self._failed.get(key)
                row = None if row is None else output_row(row, path)
            if row is None:
                break
            self.errors += row["status"] == "error"
            self.rows.append(row)
            if self._emit is not None:
                self._emit(row)


def output_row(cached: Row, path: str) -> Row:
    """The JSON Lines row of a model found at ``path`` from its cache row (which may name a copy)."""
    old = cached.get("path") or path
    out: Row = {"path": path, "key": cached.get("key"), "status": cached["status"]}
    if cached["status"] == "ok":
        body = json.loads(json.dumps(cached["audit"]))
        model = body.get("model") or {}
        if old != path:  # a copy: the paths, and a model file's own name in finding anchors, are its own
            model["path"] = path
            for f in model.get("files") or []:
                if isinstance(f.get("path"), str) and f["path"].startswith(old):
                    f["path"] = path + f["path"][len(old):]
            for f in body.get("findings") or []:
                anchor = f.get("anchor") or {}
                if anchor.get("path") == Path(old).name:
                    anchor["path"] = Path(path).name
        out["audit"] = body
    else:
        out["error"] = str(cached.get("error", "")).replace(old, path)
    return out


# -- engines ------------------------------------------------------------------------------------------

def _run_here(tasks: list[Task], config: WorkerConfig, finished: Callable[[Row], None],
              running: Callable[[str, str], None]) -> None:
    class _Direct:
        def put(self, item: tuple[str, str]) -> None:
            running(*item)

    init_worker(config, _Direct())
    for t in tasks:
        running(t.path, "starting")
        finished(run_task(t))


def _run_pool(tasks: list[Task], config: WorkerConfig, jobs: int, finished: Callable[[Row], None],
              running: Callable[[str, str], None]) -> None:
    ctx = multiprocessing.get_context("spawn")  # fork after torch has started threads can deadlock
    events: Any = ctx.Queue()
    pending = iter(tasks)
    while True:
        with ProcessPoolExecutor(jobs, mp_context=ctx, initializer=init_worker, initargs=(config, events)) as ex:
            if _drive(ex, pending, jobs, finished, running, events):
                return


def _drive(ex: ProcessPoolExecutor, pending: Iterator[Task], jobs: int, finished: Callable[[Row], None],
           running: Callable[[str, str], None], events: Any) -> bool:
    """Keep ``jobs`` models in flight until done (True), or until the pool breaks (False)."""
    inflight: dict[Future[Row], Task] = {}
    for t in _take(pending, jobs):
        inflight[ex.submit(run_task, t)] = t
    while inflight:
        ready, _ = wait(inflight, timeout=_POLL_S, return_when=FIRST_COMPLETED)
        _drain(events, running)
        for fut in ready:
            t = inflight.pop(fut)
            try:
                finished(fut.result())
            except BrokenProcessPool:
                inflight[fut] = t
                for lost in inflight.values():  # the culprit is one of these; none is cached
                    finished({"path": lost.path, "key": lost.key, "status": "error", "cacheable": False,
                              "error": "the worker process died while auditing (killed, or out of memory)"})
                return False
            for nxt in _take(pending, 1):
                inflight[ex.submit(run_task, nxt)] = nxt
    return True


def _take(it: Iterator[Task], n: int) -> list[Task]:
    out = []
    for t in it:
        out.append(t)
        if len(out) == n:
            break
    return out


def _drain(events: Any, running: Callable[[str, str], None]) -> None:
    while True:
        try:
            path, stage = events.get_nowait()
        except queue.Empty:
            return
        running(path, stage)


def _run_ray(tasks: list[Task], config: WorkerConfig, options: ScanOptions,
             finished: Callable[[Row], None]) -> None:
    if importlib.util.find_spec("ray") is None:  # the optional extra: say how to get it
        raise ProvenanceError("--ray needs Ray: pip install 'provenance[ray]'")
    import ray
    started = not ray.is_initialized()
    if started:
        ray.init(address=None if options.ray == "local" else options.ray, log_to_driver=False,
                 include_dashboard=False)
    try:
        remote = ray.remote(num_cpus=1, num_gpus=options.ray_gpus, max_calls=0)(run_task)
        ray_config = WorkerConfig(config.registry_dir, config.behaviour,
                                  "cuda" if options.ray_gpus > 0 else config.device, config.threads)
        refs = {remote.remote(t, ray_config): t for t in tasks}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1)
            t = refs.pop(ready[0])
            try:
                finished(ray.get(ready[0]))
            except ray.exceptions.RayError as e:
                finished({"path": t.path, "key": t.key, "status": "error", "cacheable": False,
                          "error": f"Ray task failed: {one_line(e, 300)}"})
    finally:
        if started:
            ray.shutdown()
