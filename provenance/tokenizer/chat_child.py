"""The chat-template renderer that :mod:`provenance.tokenizer.chat` runs as a child process under hard limits.

Imports only the standard library and jinja2, so it starts fast and runs the same whatever is
installed beside it. It sets its own limits (address space, CPU time, no files, no core dumps) before
it reads the template, renders every conversation it is given, and answers one JSON object on
stdout: ``{"rendered": [...]}`` or ``{"error": "..."}``. Whatever the template does past the limits
(a C loop in ``|sum``, string doubling with ``~``) ends in MemoryError or SIGXCPU/SIGKILL, which the
parent reports as a refusal.
"""

from __future__ import annotations

import json
import resource
import sys
from typing import Any

import jinja2
import jinja2.ext
import jinja2.sandbox


class _Sandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The stock sandbox (no attribute escapes, no mutation of inputs, ``range`` capped) that also
    refuses cheaply the commonest bombs: huge repetitions with ``*`` and huge powers with ``**``.
    Everything else is bounded by the process limits."""

    intercepted_binops = frozenset({"*", "**"})

    def __init__(self, max_value: int) -> None:
        super().__init__(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
        self.max_value = max_value

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise jinja2.sandbox.SecurityError("exponent too large")
        if operator == "*":  # checked before computing: "x" * 10**12 must never be allocated
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > self.max_value:
                    raise jinja2.sandbox.SecurityError("repetition too large")
        return super().call_binop(context, operator, left, right)


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
            sort_keys: bool = False) -> str:
    # transformers' variant: unlike Jinja's own filter, it does not HTML-escape "<", ">", "&".
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


class _Refused(Exception):
    """A limit of our own that the template went past (its message is the reason)."""


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:300]


def render(request: dict[str, Any]) -> list[str]:
    """Render ``request["conversations"]`` with ``request["template"]`` (raises on any failure)."""
    env = _Sandbox(request["max_value"])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    try:
        template = env.from_string(request["template"])
    except Exception as e:
        raise _Refused(f"does not compile: {type(e).__name__}: {_one_line(e)}") from None
    out = []
    for messages in request["conversations"]:
        context = {**request["variables"], "messages": messages,
                   "add_generation_prompt": request["add_generation_prompt"]}
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(**context):
            size += len(chunk)
            if size > request["max_output"]:
                raise _Refused(f"renders more than {request['max_output']} characters")
            chunks.append(chunk)
        out.append("".join(chunks))
    return out


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))


def _lower(which: int, soft: int, hard: int) -> None:
    """Set a limit, never above one the parent already imposed (raising a hard limit is refused)."""
    old_soft, old_hard = resource.getrlimit(which)

    def cap(new: int, old: int) -> int:
        return new if old == resource.RLIM_INFINITY else min(new, old)

    resource.setrlimit(which, (cap(soft, old_soft), cap(hard, old_hard)))


def main() -> None:
    memory, cpu_seconds = int(sys.argv[1]), int(sys.argv[2])
    # The address-space cap sits on top of what the interpreter and jinja2 already take.
    _lower(resource.RLIMIT_AS, _vm_bytes() + memory, _vm_bytes() + memory)
    _lower(resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1)  # SIGXCPU, then SIGKILL
    _lower(resource.RLIMIT_FSIZE, 0, 0)
    _lower(resource.RLIMIT_CORE, 0, 0)
    request = json.loads(sys.stdin.buffer.read())
    try:
        answer: dict[str, Any] = {"rendered": render(request)}
    except MemoryError:
        answer = {"error": f"exceeded its memory limit of {memory >> 20} MiB"}
    except RecursionError:
        answer = {"error": "recursed too deeply"}
    except _Refused as e:
        answer = {"error": str(e)}
    except Exception as e:
        answer = {"error": f"failed: {type(e).__name__}: {_one_line(e)}"}
    sys.stdout.write(json.dumps(answer))  # ASCII: a lone surrogate in the output cannot break the encoding


if __name__ == "__main__":
    main()
