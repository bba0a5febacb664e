"""What bounding a chat template's cost costs: four mechanisms measured on SmolLM2's real template.

    PYTHONPATH=. nice python3 benchmarks/chat_sandbox.py [--reps 200]

Subject: the chat template inside SmolLM2-135M-Instruct's GGUF (``tests/models.py smollm2``), rendering
the canary set's chat conversations (what an audit renders). Mechanisms:

* ``in-process``: jinja2's sandbox alone (no bound on time or memory; the yardstick);
* ``settrace budget``: an operation budget, a ``sys.settrace`` hook counting line events;
* ``setprofile deadline``: a wall-clock deadline checked on every call and C call;
* ``child process``: :func:`provenance.tokenizer.chat.render_chats`, a fresh interpreter under RLIMIT_AS and
  RLIMIT_CPU plus a wall timeout, all conversations in one call (what the project uses).

Then bombs that run inside ONE C call (``'x'.center(n)``, ``|sort`` of a long list): a tracing
hook never sees them, so each is run in a subprocess with a 1 GiB address-space cap to show what
the in-process mechanisms let through. Prints one table; the numbers go into the report, not CI.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from provenance.checkpoint import open_checkpoint
from provenance.evidence.behaviour.canaries import load_canaries
from provenance.tokenizer import chat, chat_child
from tests.models import fetch

BUDGET_EVENTS = 10_000_000
DEADLINE_S = 2.0


def _request(template: str, conversations: list[list[dict[str, str]]]) -> dict[str, Any]:
    return {"template": template, "conversations": conversations, "variables": {"bos_token": "", "eos_token": ""},
            "add_generation_prompt": True, "max_output": chat.MAX_TEMPLATE_OUTPUT, "max_value": chat.MAX_TEMPLATE_VALUE}


def _with_trace(fn: Callable[[], Any]) -> Any:
    count = 0

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        count += 1
        if count > BUDGET_EVENTS:
            raise RuntimeError("operation budget exhausted")
        return tracer

    sys.settrace(tracer)
    try:
        return fn()
    finally:
        sys.settrace(None)


def _with_deadline(fn: Callable[[], Any]) -> Any:
    end = time.monotonic() + DEADLINE_S

    def profiler(frame: Any, event: str, arg: Any) -> None:
        if time.monotonic() > end:
            raise RuntimeError("deadline passed")

    sys.setprofile(profiler)
    try:
        return fn()
    finally:
        sys.setprofile(None)


def _per_call(fn: Callable[[], Any], reps: int) -> float:
    fn()  # warm: compiled template, imports
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / reps


def _child_cost(template: str, conversations: list[list[dict[str, str]]], reps: int) -> tuple[float, float]:
    """Wall and child-CPU seconds of one render_chats call (uncached: each call starts a child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    for i in range(reps):
        chat._render.cache_clear()
        chat.render_chats(template, conversations, {"bos_token": "", "eos_token": "", "rep": i})
    wall = (time.perf_counter() - start) / reps
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / reps


ONE_CALL_BOMBS = {
    "'x'.center(2**31) (one allocation)": "{{ 'x'.center(2147483647)|length }}",
    "|sort of 2^20 items, 40 times (one C call each)":
        "{% set l = range(100000)|list * 10 %}{% for i in range(40) %}{{ (l|sort)[0] }}{% endfor %}",
}
_PROBE = """
import json, resource, sys, time
sys.path[:0] = [{root!r}]
from benchmarks.chat_sandbox import _with_trace, _with_deadline
from provenance.tokenizer import chat_child
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
req = json.loads(sys.stdin.read())
wrap = {{"trace": _with_trace, "deadline": _with_deadline}}[sys.argv[1]]
start = time.monotonic()
try:
    wrap(lambda: chat_child.render(req)); out = "rendered"
except MemoryError:
    out = "MemoryError (only the RLIMIT_AS cap stopped it)"
except RuntimeError as e:
    out = str(e)
print(f"{{out}} after {{time.monotonic() - start:.1f}} s")
"""


def _bomb(mechanism: str, template: str) -> str:
    req = json.dumps(_request(template, [[{"role": "user", "content": "hi"}]]))
    code = _PROBE.format(root=str(ROOT))
    if mechanism == "child":
        start = time.monotonic()
        try:
            chat.render_chats(template, [[{"role": "user", "content": "hi"}]], {})
            return "rendered"
        except chat.TemplateRefused as e:
            return f"{e.reason} after {time.monotonic() - start:.1f} s"
    p = subprocess.run([sys.executable, "-c", code, mechanism], input=req, capture_output=True, text=True,
                       timeout=300, check=False)
    return (p.stdout.strip() or p.stderr.strip().splitlines()[-1])[:120]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=200)
    args = ap.parse_args()
    with open_checkpoint(fetch("smollm2")) as ckpt:
        tok = ckpt.tokenizer
        assert tok is not None and tok.chat_template
        template = tok.chat_template
    conversations = [[{"role": "user", "content": p.text}] for p in load_canaries().probes if p.kind == "chat"]
    req = _request(template, conversations)
    base = _per_call(lambda: chat_child.render(req), args.reps)
    rows = [("in-process (no bound)", base)]
    rows.append(("settrace budget", _per_call(lambda: _with_trace(lambda: chat_child.render(req)), args.reps)))
    rows.append(("setprofile deadline", _per_call(lambda: _with_deadline(lambda: chat_child.render(req)), args.reps)))
    wall, cpu = _child_cost(template, conversations, max(3, args.reps // 20))
    print(f"SmolLM2 chat template, {len(conversations)} canary conversations per call\n")
    print(f"{'mechanism':<24} {'ms per call':>12} {'x in-process':>13}")
    for name, t in rows:
        print(f"{name:<24} {t * 1e3:>12.2f} {t / base:>13.1f}")
    print(f"{'child process (wall)':<24} {wall * 1e3:>12.2f} {wall / base:>13.1f}")
    print(f"{'child process (CPU)':<24} {cpu * 1e3:>12.2f} {cpu / base:>13.1f}")
    print("\nbombs inside one C call (in-process mechanisms run under a 1 GiB RLIMIT_AS):")
    for name, template_text in ONE_CALL_BOMBS.items():
        for mechanism in ("trace", "deadline", "child"):
            print(f"  {name:<48} {mechanism:<9} {_bomb(mechanism, template_text)}")


if __name__ == "__main__":
    main()
