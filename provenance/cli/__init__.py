"""Command-line interface: the only module that parses options, prints, exits or draws progress.

Exit codes: 0 success (no finding at or above ``--fail-on``), 1 a finding at or above ``--fail-on``,
2 an error (bad input, unreadable or hostile file), always reported as one line on stderr.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from provenance import __version__
from provenance.errors import ProvenanceError

from . import terminal


def _stdout_console() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def _stderr_console() -> Console:
    return Console(file=sys.stderr, highlight=False)


def _dump_json(data: Any) -> str:
    """Deterministic JSON: stable key order as built, two-space indent, ASCII-only (no raw control bytes)."""
    return json.dumps(data, indent=2, ensure_ascii=True, allow_nan=False) + "\n"


def _emit(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _run(ctx: click.Context, fn: Callable[[], int | None]) -> None:
    """Run a command body: ProvenanceError and any other failure become one line + exit 2."""
    debug = ctx.find_root().params.get("debug", False)
    try:
        code = fn() or 0
    except ProvenanceError as e:
        if debug:
            traceback.print_exc()
        click.echo(f"provenance: error: {_one_line(str(e))}", err=True)
        sys.exit(2)
    except (KeyboardInterrupt, click.exceptions.Exit):
        raise
    except Exception as e:  # a bug or an input we failed to anticipate: still one line, exit 2
        if debug:
            traceback.print_exc()
        click.echo(f"provenance: error: {type(e).__name__}: {_one_line(str(e))} (rerun with --debug)", err=True)
        sys.exit(2)
    sys.exit(code)


def _one_line(s: str) -> str:
    return " ".join(s.split())[:500]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": "PROVENANCE"})
@click.version_option(__version__, prog_name="provenance")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output on stderr.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool) -> None:
    """Tell whether a language-model checkpoint descends from LLaMA (or any reference model)."""
    ctx.ensure_object(dict)


@cli.command()
@click.argument("model", type=click.Path(exists=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="Write to FILE instead of stdout.")
@click.option("--no-hash", is_flag=True, help="Skip sha256 of the source files.")
@click.pass_context
def inspect(ctx: click.Context, model: str, fmt: str, output: str | None, no_hash: bool) -> None:
    """Describe MODEL: format, architecture, sizes, quantization, tokenizer, declared metadata."""

    def body() -> None:
        from provenance.checkpoint import open_checkpoint
        from provenance.inspect import describe_checkpoint

        with open_checkpoint(model) as ckpt:
            info = describe_checkpoint(ckpt, hashes=not no_hash)
        if fmt == "json":
            _emit(_dump_json(info), output)
        elif output:
            with open(output, "w", encoding="utf-8") as f:
                terminal.render_inspect(Console(file=f, width=120, color_system=None), info)
        else:
            terminal.render_inspect(_stdout_console(), info)

    _run(ctx, body)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="provenance")
