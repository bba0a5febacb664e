"""The fuzz contract: a mutated real file gives success or a one-line ProvenanceError, in bounded
time and memory. Anything else (another exception, a hang, a giant allocation) fails the example.

Bounds: every example runs with the address space capped at its current size plus
``MEMORY_BUDGET`` (``RLIMIT_AS``, restored afterwards) and an alarm after ``TIME_LIMIT`` seconds; a
faulthandler watchdog kills the process (with tracebacks) if an example is stuck in native code.

Example counts: ``PROVENANCE_FUZZ_EXAMPLES`` (the long run) replaces every target's short count;
the short run is derandomized so CI sees the same cases every time (see tests/fuzz/README.md).
"""

from __future__ import annotations

import faulthandler
import os
import re
import resource
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import HealthCheck, event, settings

from provenance.errors import ProvenanceError

MEMORY_BUDGET = 1536 << 20  # far above what any of these small inputs legitimately needs
TIME_LIMIT = 30.0  # seconds per example; typical examples take 1-300 ms (on a loaded 2-core machine)
LONG = int(os.environ.get("PROVENANCE_FUZZ_EXAMPLES", "0") or 0)
VERBOSE = bool(os.environ.get("PROVENANCE_FUZZ_VERBOSE"))  # whole messages in the statistics

settings.register_profile(
    "provenance-fuzz",
    deadline=None,
    derandomize=not LONG,  # the short run is the same every time; the long run explores
    database=None if not LONG else settings.default.database,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)


def fuzz_settings(short: int) -> settings:
    """Hypothesis settings for one target: ``short`` examples in the normal suite, the long count otherwise."""
    return settings(settings.get_profile("provenance-fuzz"), max_examples=LONG or short)


class Hang(BaseException):
    """Raised by the alarm; a BaseException so that no ``except Exception`` in the code swallows it."""


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


@contextmanager
def bounded(seconds: float = TIME_LIMIT, memory: int = MEMORY_BUDGET) -> Iterator[None]:
    """Cap the address space at its current size + ``memory`` and raise Hang after ``seconds``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _vm_bytes() + memory
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)

    def alarm(signum: int, frame: Any) -> None:
        raise Hang()

    previous = signal.signal(signal.SIGALRM, alarm)
    faulthandler.dump_traceback_later(seconds * 4, exit=True)  # stuck in native code: die loudly
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        faulthandler.cancel_dump_traceback_later()
        signal.signal(signal.SIGALRM, previous)


def survives(fn: Callable[[], Any], *, needs_path: bool = True) -> ProvenanceError | None:
    """Run ``fn`` under the bounds; return the ProvenanceError it raised (None on success).

    Fails (AssertionError) on a hang, a memory blow-up, a multi-line message or a message that does
    not name a file; any other exception propagates for hypothesis to report and shrink.
    """
    start = time.monotonic()
    try:
        with bounded():
            fn()
    except ProvenanceError as e:
        msg = str(e)
        assert msg.strip() and "\n" not in msg and "\r" not in msg, f"not one line: {msg!r}"
        if needs_path:
            assert e.path, f"error does not name the file: {msg!r}"
        event(_outcome(e))
        return e
    except Hang:
        raise AssertionError(f"took longer than {TIME_LIMIT} s") from None
    except MemoryError:
        raise AssertionError(f"tried to allocate beyond {MEMORY_BUDGET >> 20} MiB") from None
    finally:
        if LONG and time.monotonic() - start > TIME_LIMIT / 3:
            print(f"slow example: {time.monotonic() - start:.1f} s", file=sys.stderr)
    event("success")
    return None


def _outcome(e: ProvenanceError) -> str:
    """The kind of refusal, for ``--hypothesis-show-statistics`` (which parts of the parser were reached)."""
    text = str(e)[len(e.path) + 2 :] if e.path and str(e).startswith(e.path) else str(e)
    if VERBOSE:
        return f"{type(e).__name__}: {text[:150]}"
    return f"{type(e).__name__}: " + re.sub(r"'[^']*'|\d+|\(.*", "_", text)[:60]
