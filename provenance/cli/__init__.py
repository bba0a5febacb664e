"""Command-line interface: the only module that parses options, prints, exits or draws progress.

Exit codes: 0 success (no finding at or above ``--fail-on``), 1 a finding at or above ``--fail-on``,
2 an error (bad input, unreadable or hostile file), always reported as one line on stderr.
"""

from __future__ import annotations

import io
import json
import os
import sys
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console
from rich.progress import TaskID

from provenance import __version__
from provenance.errors import ProvenanceError, is_native_panic, one_line
from provenance.fileio import Inputs, check_output, output_stream, write_output

from . import scan as scan_cli
from . import terminal


def _stdout_console() -> Console:
    return Console(file=sys.stdout, highlight=False, soft_wrap=False)


def _stderr_console() -> Console:
    return Console(file=sys.stderr, highlight=False)


def _dump_json(data: Any) -> str:
    from provenance.report.json_ import dumps

    return dumps(data)


def _emit(text: str, output: str | None, inputs: Inputs | None = None) -> None:
    """``text`` to stdout, or to ``output`` through the one writer that refuses to touch ``inputs``."""
    if output:
        write_output(output, text, inputs)
    else:
        sys.stdout.write(text)


def _text(draw: Callable[[Console, Any], None], body: Any) -> str:
    """What ``draw`` renders for ``body`` as plain text (no colour), for ``-o FILE``."""
    buffer = io.StringIO()
    draw(Console(file=buffer, width=120, color_system=None), body)
    return buffer.getvalue()


def _guard(output: str | None, inputs: Inputs) -> Inputs:
    """Refuse ``output`` now, before any work, when it would touch what the command reads."""
    if output:
        check_output(output, inputs)
    return inputs


def _run(ctx: click.Context, fn: Callable[[], int | None]) -> None:
    """Run a command body: ProvenanceError and any other failure become one line + exit 2."""
    debug = ctx.find_root().params.get("debug", False)
    try:
        code = fn() or 0
    except ProvenanceError as e:
        if debug:
            traceback.print_exc()
        click.echo(f"provenance: error: {one_line(e)}", err=True)
        sys.exit(2)
    except (KeyboardInterrupt, click.exceptions.Exit):
        raise
    except BaseException as e:  # a bug or an input we failed to anticipate: still one line, exit 2
        if not isinstance(e, Exception) and not is_native_panic(e):  # SystemExit, GeneratorExit...
            raise
        if debug:
            traceback.print_exc()
        click.echo(f"provenance: error: {type(e).__name__}: {one_line(e)} (rerun with --debug)", err=True)
        sys.exit(2)
    sys.exit(code)


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
@click.option("-o", "--output", type=click.Path(), help="Write to FILE instead of stdout.")
@click.option("--no-hash", is_flag=True, help="Skip sha256 of the source files.")
@click.pass_context
def inspect(ctx: click.Context, model: str, fmt: str, output: str | None, no_hash: bool) -> None:
    """Describe MODEL: format, architecture, sizes, quantization, tokenizer, declared metadata."""

    def body() -> None:
        from provenance.checkpoint import inputs_of, open_checkpoint
        from provenance.describe import describe_checkpoint

        with open_checkpoint(model) as ckpt:
            inputs = _guard(output, inputs_of(ckpt))
            info = describe_checkpoint(ckpt, hashes=not no_hash)
        if fmt == "json":
            _emit(_dump_json(info), output, inputs)
        elif output:
            _emit(_text(terminal.render_inspect, info), output, inputs)
        else:
            terminal.render_inspect(_stdout_console(), info)

    _run(ctx, body)


FAIL_LEVELS = ("none", "low", "medium", "high", "critical")


class _ProgressBar:
    """A rich progress bar on stderr, drawn only when stderr is a terminal and ``--quiet`` is off.

    Callable as the core's ``progress(stage, done, total)`` callback.
    """

    def __init__(self, ctx: click.Context) -> None:
        self._bar = None
        self._task: TaskID | None = None
        quiet = ctx.find_root().params.get("quiet", False)
        if not quiet and sys.stderr.isatty():
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                 TimeElapsedColumn(), console=_stderr_console(), transient=True)

    def __enter__(self) -> _ProgressBar:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task("starting", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, description=stage[:60], completed=done, total=max(total, 1))


def _format_option(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    from provenance.report import Format

    return click.option("--format", "fmt", type=click.Choice([f.value for f in Format if kind in f.kinds]), default="text",
                        show_default=True, help="Report format (machine-readable ones go to stdout or -o FILE).")


def _output_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    # the path is checked by provenance.fileio (one-line refusals), not by click (a usage screen)
    return click.option("-o", "--output", type=click.Path(), help="Write the report to FILE.")


def _check_device(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from provenance.engine.device import resolve_device
    from provenance.errors import ProvenanceError

    try:
        return str(resolve_device(value))
    except ProvenanceError as e:
        raise click.BadParameter(str(e)) from None


def _device_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--device", default="cpu", show_default=True, callback=_check_device, envvar="PROVENANCE_DEVICE",
                        help="Where the behavioural probes run: cpu, cuda or cuda:N (also PROVENANCE_DEVICE).")


def _emit_report(body: dict[str, Any], fmt: str, output: str | None, model_root: str | None,
                 inputs: Inputs) -> None:
    """Render ``body`` in ``fmt`` to stdout or ``output``; text goes through rich, others through report.render."""
    from provenance.report import make_report, render

    if fmt == "text":
        draw = terminal.render_audit if body["kind"] == "audit" else terminal.render_compare
        if output:
            _emit(_text(draw, body), output, inputs)
        else:
            draw(_stdout_console(), body)
        return
    report = make_report(body, command=["provenance", *sys.argv[1:]], model_root=model_root)
    _emit(render(report, fmt), output, inputs)


def _exit_code(findings: list[dict[str, Any]], fail_on: str) -> int:
    """1 when a finding is at or above ``fail_on`` (``none`` never fails), else 0."""
    if fail_on == "none":
        return 0
    threshold = FAIL_LEVELS.index(fail_on)
    return 1 if any(FAIL_LEVELS.index(f["severity"]) >= threshold for f in findings) else 0


@cli.command()
@click.argument("model", type=click.Path(exists=False))
@_format_option("audit")
@_output_option()
@click.option("--fail-on", type=click.Choice(FAIL_LEVELS), default="high", show_default=True,
              help="Exit 1 when a finding is at or above this severity (changes only the exit code).")
@click.option("--registry-dir", type=click.Path(file_okay=False), help="User registry folder (also PROVENANCE_REGISTRY).")
@click.option("--behaviour/--no-behaviour", default=True, show_default=True,
              help="Run the canary probes (forward passes) for behavioural evidence.")
@click.option("--baseline", "baseline_path", type=click.Path(),
              help="A previous --format json report of this model: report new / fixed / unchanged findings and "
                   "the verdicts that moved; --fail-on then counts only new findings.")
@_device_option()
@click.option("--signature", type=click.Path(dir_okay=False, path_type=Path),
              help="OpenSSF model-signing signature of MODEL (default: model.sig in the model folder).")
@click.option("--verify-key", type=click.Path(dir_okay=False, path_type=Path),
              help="Public key (PEM) to verify the model signature with, offline.")
@click.option("--verify-cert", type=click.Path(dir_okay=False, path_type=Path), multiple=True,
              help="Certificate chain (PEM) to verify a certificate-signed model with, offline; repeatable.")
@click.pass_context
def audit(ctx: click.Context, model: str, fmt: str, output: str | None, fail_on: str,
          registry_dir: str | None, behaviour: bool, baseline_path: str | None, device: str, signature: Path | None,
          verify_key: Path | None, verify_cert: tuple[Path, ...]) -> None:
    """Audit MODEL: lineage verdict, concluded license, obligations and risk findings.

    A model-signing signature is verified when a key or certificate is given (integrity, not lineage)."""

    def body() -> int:
        from provenance.audit import audit as run_audit
        from provenance.checkpoint import inputs_of, open_checkpoint
        from provenance.evidence.integrity import SigningCheck
        from provenance.fingerprint.registry import registry_inputs
        from provenance.report import baseline

        previous = baseline.load(baseline_path) if baseline_path else None  # a bad file fails before the audit
        signing = SigningCheck(signature, verify_key, tuple(verify_cert))
        # the signature, key, certificates and baseline are read too
        signed = Inputs(files=[Path(p) for p in (signature, verify_key, *verify_cert, baseline_path) if p is not None])
        with open_checkpoint(model) as ckpt:
            inputs = _guard(output, inputs_of(ckpt) + registry_inputs(registry_dir) + signed)
            with _ProgressBar(ctx) as bar:
                result = run_audit(ckpt, registry_dir=registry_dir, behaviour=behaviour, progress=bar, device=device,
                                   signing=signing)
        data = result.to_dict()
        failing = data["findings"]
        if previous is not None and baseline_path:
            diff = baseline.diff(previous, data, baseline_path)
            data["baseline"] = diff.to_dict()
            failing = list(diff.new)
        _emit_report(data, fmt, output, model, inputs)
        return _exit_code(failing, fail_on)

    _run(ctx, body)


@cli.command()
@click.argument("a", type=click.Path(exists=False))
@click.argument("b", type=click.Path(exists=False))
@_format_option("compare")
@_output_option()
@click.option("--behaviour/--no-behaviour", default=True, show_default=True,
              help="Also compare behaviour on the canary prompts (forward passes).")
@click.option("--neurons/--no-neurons", default=True, show_default=True,
              help="Add the MLP neuron-matching test (full checkpoints only).")
@_device_option()
@click.pass_context
def compare(ctx: click.Context, a: str, b: str, fmt: str, output: str | None, behaviour: bool, neurons: bool,
            device: str) -> None:
    """Do checkpoints A and B share lineage? Either side may be a fingerprint file (then it is the reference)."""

    def body() -> int:
        from provenance.compare import compare_models, side_inputs

        inputs = _guard(output, side_inputs(a) + side_inputs(b))
        with _ProgressBar(ctx) as bar:
            result = compare_models(a, b, behaviour=behaviour, neurons=neurons, progress=bar, device=device)
        _emit_report(result, fmt, output, b, inputs)
        return 0

    _run(ctx, body)


@cli.command()
@click.argument("model", type=click.Path(exists=False))
@click.option("-o", "--output", type=click.Path(), required=True, help="Fingerprint file to write.")
@click.option("--name", help="Reference name (default: the model's declared name).")
@click.option("--family", help="Family id, e.g. llama-2 or smollm2.")
@click.option("--license", "license_", help="License id of the reference, e.g. llama2 or apache-2.0.")
@click.option("--source", help="Where the reference came from (URL or repo id).")
@click.option("--no-behaviour", is_flag=True, help="Skip the canary probes.")
@_device_option()
@click.pass_context
def fingerprint(ctx: click.Context, model: str, output: str, name: str | None, family: str | None,
                license_: str | None, source: str | None, no_behaviour: bool, device: str) -> None:
    """Write a compact fingerprint of MODEL (no weights) that audits and compares can use as a reference."""

    def body() -> None:
        from provenance.checkpoint import inputs_of, open_checkpoint
        from provenance.fingerprint.format import Fingerprint

        with open_checkpoint(model) as ckpt:
            inputs = _guard(output, inputs_of(ckpt))
            with _ProgressBar(ctx) as bar:
                fp = Fingerprint.from_checkpoint(ckpt, name=name, family=family, license=license_, source=source,
                                                 progress=bar, behaviour=not no_behaviour, device=device)
        path = fp.save(output, inputs)
        click.echo(f"wrote {path} ({path.stat().st_size:,} bytes)", err=True)

    _run(ctx, body)


@cli.group()
def registry() -> None:
    """The reference fingerprints an audit compares against (shipped, then the user's)."""


def _registry_dir_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--registry-dir", type=click.Path(file_okay=False),
                        help="User registry folder (also PROVENANCE_REGISTRY).")


@registry.command("list")
@_registry_dir_option()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def registry_list(ctx: click.Context, registry_dir: str | None, fmt: str) -> None:
    """List the registered references."""

    def body() -> None:
        from provenance.fingerprint import registry as reg

        entries = reg.list_entries(registry_dir)
        if fmt == "json":
            _emit(_dump_json([e.to_dict() for e in entries]), None)
        else:
            terminal.render_registry(_stdout_console(), [e.to_dict() for e in entries])

    _run(ctx, body)


@registry.command("show")
@click.argument("name")
@_registry_dir_option()
@click.pass_context
def registry_show(ctx: click.Context, name: str, registry_dir: str | None) -> None:
    """Show one reference's fingerprint header as JSON."""

    def body() -> None:
        from provenance.fingerprint import registry as reg
        from provenance.fingerprint.format import read_header

        entry = reg.find(name, registry_dir)
        _emit(_dump_json({"entry": entry.to_dict(), "header": read_header(entry.path)}), None)

    _run(ctx, body)


@registry.command("add")
@click.argument("model", type=click.Path(exists=False))
@click.option("--name", required=True, help="Reference name, e.g. llama-2-7b.")
@click.option("--family", help="Family id, e.g. llama-2.")
@click.option("--license", "license_", help="License id, e.g. llama2.")
@click.option("--source", help="Where your copy came from.")
@click.option("--overwrite", is_flag=True, help="Replace a user entry of the same name.")
@click.option("--no-behaviour", is_flag=True, help="Skip the canary probes (weight verdicts only).")
@_registry_dir_option()
@_device_option()
@click.pass_context
def registry_add(ctx: click.Context, model: str, name: str, family: str | None, license_: str | None,
                 source: str | None, overwrite: bool, no_behaviour: bool, registry_dir: str | None, device: str) -> None:
    """Fingerprint your own copy of a reference model (e.g. Llama-2-7b-hf) into the user registry."""

    def body() -> None:
        from provenance.fingerprint import registry as reg

        with _ProgressBar(ctx) as bar:
            entry = reg.add(model, name, family=family, license=license_, source=source,
                            registry_dir=registry_dir, overwrite=overwrite, progress=bar, device=device,
                            behaviour=not no_behaviour)
        click.echo(f"added {entry.name} -> {entry.path} ({entry.size:,} bytes)", err=True)

    _run(ctx, body)


@cli.command("scan")
@click.argument("roots", nargs=-1, type=click.Path(exists=False))
@click.option("--manifest", type=click.Path(dir_okay=False), help="File listing roots, one per line (# comments).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the JSON Lines rows to FILE (default stdout).")
@click.option("--summary", "summaries", multiple=True, callback=scan_cli.summary_files, metavar="FILE",
              help="Write the summary to FILE; its suffix picks the format (.txt .json .md .html .sarif .cdx.json). "
                   "Repeatable.")
@click.option("--fail-on", type=click.Choice(FAIL_LEVELS), default="high", show_default=True,
              help="Exit 1 when any model has a finding at or above this severity (2 when any audit failed).")
@_registry_dir_option()
@click.option("--behaviour/--no-behaviour", default=True, show_default=True, help="Run the canary probes.")
@_device_option()
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=lambda: os.cpu_count() or 1,
              show_default="the number of CPUs",
              help="Models audited at once, one torch thread each; 1 audits in this process, more start worker "
                   "processes that load torch and the registry once. Ignored with --ray.")
@click.option("--ray", "ray_address", metavar="auto|local|ADDRESS",
              help="Run on Ray: 'auto' joins the running cluster, 'local' starts one here "
                   "(pip install 'provenance[ray]').")
@click.option("--ray-gpus", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="GPUs per model on Ray (probes then run on cuda).")
@click.option("--cache-dir", type=click.Path(file_okay=False), help="Result cache (default $PROVENANCE_CACHE/scan).")
@click.option("--fdr", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True,
              help="False-discovery rate controlled across the relations inside the registry.")
@click.pass_context
def scan(ctx: click.Context, roots: tuple[str, ...], manifest: str | None, output: str | None,
         summaries: list[tuple[str, str]], fail_on: str, registry_dir: str | None, behaviour: bool, device: str,
         jobs: int, ray_address: str | None, ray_gpus: float, cache_dir: str | None, fdr: float) -> None:
    """Audit every model under ROOTs (HF, GGUF, Meta, llama2.c, PEFT adapters; rules: provenance.scan.discover).

    One JSON object per model (JSON Lines) in path order; results are cached by content, so a rescan
    audits only what changed and an interrupted scan resumes. Exit codes as audit, and 2 when any
    model could not be audited (its row says why)."""

    def body() -> int:
        from provenance.fingerprint.registry import registry_inputs
        from provenance.scan.cache import ResultCache, default_dir
        from provenance.scan.discover import discover, read_manifest
        from provenance.scan.runner import ScanOptions
        from provenance.scan.runner import scan as run_scan
        from provenance.scan.summary import all_findings, registry_relations, scan_body

        all_roots = [Path(r) for r in roots] + (read_manifest(manifest) if manifest else [])
        if not all_roots:
            raise ProvenanceError("name at least one ROOT or --manifest FILE")
        # nothing the scan reads may be written: the roots, the manifest, the registry, the cache
        cache = Path(cache_dir) if cache_dir else default_dir()
        reads = Inputs(files=[Path(manifest)] if manifest else [], folders=[*all_roots, cache]) + registry_inputs(registry_dir)
        for target in [output, *(path for path, _ in summaries)]:
            if target:
                check_output(target, reads)
        candidates = discover(all_roots)
        options = ScanOptions(registry_dir, behaviour, device, jobs, ray_address, ray_gpus)
        with ExitStack() as stack:
            sink: IO[bytes] = stack.enter_context(output_stream(output, reads)) if output else sys.stdout.buffer

            def emit(row: dict[str, Any]) -> None:
                sink.write((json.dumps(row, ensure_ascii=True, allow_nan=False, separators=(",", ":")) + "\n").encode())
                sink.flush()

            with scan_cli.ScanDisplay(ctx) as display:
                run = run_scan(candidates, options, ResultCache(cache), emit=emit, status=display)
        relations, figure = registry_relations(run, fdr) if summaries else (None, None)
        summary = scan_body(run.rows, [r.as_posix() for r in all_roots], relations)
        for path, fmt in summaries:
            scan_cli.write_summary(summary, path, fmt, figure, reads)
        click.echo(f"scanned {len(run.rows)} models: {run.audited} audited, {run.cached} from the cache, "
                   f"{run.errors} failed", err=True)
        return 2 if run.errors else _exit_code(all_findings(summary), fail_on)

    _run(ctx, body)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="provenance")
