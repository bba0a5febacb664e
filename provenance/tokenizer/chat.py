"""Chat templates rendered as the untrusted programs they are: in a child process under hard limits.

A chat template is Jinja code from the audited file. Jinja's sandbox stops attribute escapes but not
cost: nested ``range`` loops run for minutes, and ``~``, ``|join``, ``|format`` or ``|sum`` double a
string inside one C call, where no tracing hook can interrupt it. So every render runs in a fresh
interpreter (:mod:`provenance.tokenizer.chat_child`, standard library and jinja2 only) with an address-space
cap, a CPU-time cap and a wall-clock deadline; all conversations of one call share one child, which
amortises its start-up (measured in ``benchmarks/chat_sandbox.py``). A template that goes past a limit,
fails or crashes is refused with :class:`TemplateRefused`, a one-line :class:`FormatError`.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from provenance.errors import FormatError, one_line

# Limits of one child (all conversations of one call together). SmolLM2's real template renders the
# 10 canary conversations in ~5 ms of CPU inside a child that starts in ~0.2 s of CPU
# (benchmarks/chat_sandbox.py); the caps leave 2 orders of magnitude of room above that.
CHAT_CPU_SECONDS = 2
CHAT_WALL_SECONDS = 60.0  # catches a blocked child; far above the CPU cap even on a machine loaded 10x
CHAT_MEMORY_BYTES = 256 << 20  # address space on top of the interpreter and jinja2
MAX_TEMPLATE_OUTPUT = 1 << 20  # characters one conversation may render
MAX_TEMPLATE_VALUE = 1 << 20  # longest string/list a template may build with "*" (refused before it is built)
_CHILD = Path(__file__).with_name("chat_child.py")


class TemplateRefused(FormatError):
    """A chat template failed, crashed or went past a limit; ``reason`` says which, without the path."""

    def __init__(self, reason: str, path: str | Path | None = None) -> None:
        self.reason = f"chat template refused: {reason}"
        super().__init__(self.reason, path)


def render_chats(
    template: str,
    conversations: Sequence[Sequence[Mapping[str, Any]]],
    variables: Mapping[str, Any],
    add_generation_prompt: bool = True,
    source: str | Path | None = None,
) -> list[str]:
    """Render each conversation (a list of ``{"role", "content"}`` messages) with ``template``.

    ``variables`` (``bos_token``, ``eos_token``, ...) must be JSON values. One child process renders
    them all; raises :class:`TemplateRefused` ("chat template refused: ...") when the template fails
    or exceeds :data:`CHAT_CPU_SECONDS`, :data:`CHAT_WALL_SECONDS`, :data:`CHAT_MEMORY_BYTES` or
    :data:`MAX_TEMPLATE_OUTPUT`.
    """
    request = json.dumps({
        "template": template, "conversations": [[dict(m) for m in c] for c in conversations],
        "variables": dict(variables), "add_generation_prompt": add_generation_prompt,
        "max_output": MAX_TEMPLATE_OUTPUT, "max_value": MAX_TEMPLATE_VALUE,
    }, sort_keys=True).encode()  # fmt: skip
    answer = _render(request)
    if isinstance(answer, str):
        raise TemplateRefused(answer, source)
    return list(answer)


@lru_cache(maxsize=64)
def _render(request: bytes) -> tuple[str, ...] | str:
    """The rendered texts, or why the template was refused (cached: a bomb costs its limits once)."""
    # -I: no user site, no PYTHON* variables, no current directory on sys.path (the child needs none)
    cmd = [sys.executable, "-I", str(_CHILD), str(CHAT_MEMORY_BYTES), str(CHAT_CPU_SECONDS)]
    try:
        p = subprocess.run(cmd, input=request, capture_output=True, timeout=CHAT_WALL_SECONDS, check=False)
    except subprocess.TimeoutExpired:  # subprocess.run has killed and reaped the child
        return f"still running after {CHAT_WALL_SECONDS:g} s"
    if p.returncode == -signal.SIGXCPU:
        return f"exceeded its CPU time limit of {CHAT_CPU_SECONDS} s"
    if p.returncode < 0:  # SIGKILL: past the hard CPU limit, or the kernel's OOM killer
        return f"the renderer was killed by signal {-p.returncode}"
    try:
        answer = json.loads(p.stdout)
    except ValueError:
        last = p.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        return f"the renderer exited with code {p.returncode} and no answer ({one_line(last[0], 200)})"
    rendered = answer.get("rendered") if isinstance(answer, dict) else None
    if not isinstance(rendered, list):
        return str(answer.get("error", "malformed answer")) if isinstance(answer, dict) else "malformed answer"
    return tuple(str(r) for r in rendered)
