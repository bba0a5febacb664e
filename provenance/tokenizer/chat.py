"""Chat templates: Jinja programs read from model files, rendered in a sandbox.

A template is untrusted code. The stock immutable sandbox stops attribute escapes and mutation of
its inputs; :class:`_TemplateSandbox` also refuses to build huge values, and the output is capped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.ext
import jinja2.sandbox

from provenance.errors import FormatError, one_line

MAX_TEMPLATE_OUTPUT = 1 << 20  # characters a chat template may render
MAX_TEMPLATE_VALUE = 1 << 20  # longest string/list a template may build with "+" or "*"

class _TemplateSandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The stock sandbox (no attribute escapes, no mutation of inputs, ``range`` capped) that also
    refuses to build huge strings or lists with ``+``/``*`` or huge numbers with ``**``."""

    intercepted_binops = frozenset({"+", "*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise jinja2.sandbox.SecurityError("exponent too large")
        if operator == "*":  # checked before computing: "x" * 10**12 must never be allocated
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_TEMPLATE_VALUE:
                    raise jinja2.sandbox.SecurityError("repetition too large")
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, (str, list, tuple)) and len(result) > MAX_TEMPLATE_VALUE:
            raise jinja2.sandbox.SecurityError("value too large")  # stops repeated doubling with "+"
        return result


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
            sort_keys: bool = False) -> str:
    # transformers' variant: unlike Jinja's own filter, it does not HTML-escape "<", ">", "&".
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


@lru_cache(maxsize=16)
def _compile_template(source: str, path: str | None) -> jinja2.Template:
    env = _TemplateSandbox(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    try:
        return env.from_string(source)
    except Exception as e:  # TemplateSyntaxError, or a RecursionError on absurd nesting
        raise FormatError(f"chat template does not compile: {type(e).__name__}: {one_line(e, 300)}", path) from None


def render_chat(source: str, context: Mapping[str, Any], path: str | Path | None = None) -> str:
    """Render the template ``source`` with ``context``; any failure is a :class:`FormatError` naming ``path``."""
    template = _compile_template(source, None if path is None else str(path))
    out: list[str] = []
    size = 0
    try:
        for chunk in template.generate(**context):
            size += len(chunk)
            if size > MAX_TEMPLATE_OUTPUT:
                raise FormatError(f"chat template renders more than {MAX_TEMPLATE_OUTPUT} characters", path)
            out.append(chunk)
    except FormatError:
        raise
    except Exception as e:  # the template is untrusted code: any failure is the file's fault
        raise FormatError(f"chat template failed: {type(e).__name__}: {one_line(e, 300)}", path) from None
    return "".join(out)
