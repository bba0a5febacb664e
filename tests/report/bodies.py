"""Report bodies from real runs for the report tests: :func:`provenance.audit.audit` and
:func:`provenance.compare.compare` on stories260K, real transforms of it (re-saved with a hostile
model card, a layer dropped) and a freshly initialised model of its shape."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from click.testing import CliRunner

from provenance.audit import audit
from provenance.checkpoint import open_checkpoint
from provenance.checkpoint.base import from_state_dict
from provenance.cli import cli
from provenance.evidence.weights.compare import compare
from tests.exporters import save_hf
from tests.zoo_transforms import select_layers

#: strings a hostile model card could carry: markup, links, mentions, escapes, bidi overrides
HOSTILE = {
    "model_name": "<script>alert(1)</script> | `rm -rf` [click](http://evil.example) @octocat \x1b[31mRED\x1b[0m "
                  "[bold red]rich[/bold red] www.evil.example $x^2$",
    "license": "<img src=x onerror=alert(2)>|apache-2.0",
    "base_model": ["meta-llama/Llama-2-7b-hf", "evil\u202egnp.exe](javascript:alert(3))"],
}


def hostile_model(stories: Path, out: Path) -> Path:
    """stories260K saved as a Hugging Face folder whose model card carries :data:`HOSTILE` strings."""
    with open_checkpoint(stories) as ckpt:
        save_hf(ckpt, ckpt.args, out, card=HOSTILE)
    return out


def card_line(folder: Path, key: str) -> int:
    """1-based line of ``key:`` in the folder's README.md front matter."""
    lines = (folder / "README.md").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(f"{key}:"))


def audit_body(model: Path, behaviour: bool = True) -> dict[str, Any]:
    """The real :func:`provenance.audit.audit` of ``model`` against the shipped registry."""
    return audit(model, behaviour=behaviour).to_dict()


def random_model(like: Path, out: Path, seed: int = 0) -> Path:
    """A freshly initialised model of ``like``'s architecture (std 0.02, unit norms): independent of
    everything, as a Hugging Face folder."""
    with open_checkpoint(like) as ckpt:
        shapes, args = {n: ckpt.info(n).shape for n in ckpt.names()}, ckpt.args
    gen = torch.Generator().manual_seed(seed)
    state = {n: torch.ones(s) if len(s) == 1 else torch.randn(*s, generator=gen) * 0.02 for n, s in shapes.items()}
    save_hf(from_state_dict(state, args), args, out)
    return out


def pruned_model(source: Path, out: Path, drop: int) -> Path:
    """``source`` with layer ``drop`` removed (a real depth-pruning transform), as a Hugging Face folder."""
    with open_checkpoint(source) as ckpt:
        state, args = dict(ckpt.items()), ckpt.args
    layers = [i for i in range(args.n_layers) if i != drop]
    state, args = select_layers(state, args, layers)
    save_hf(from_state_dict(state, args), args, out)
    return out


def compare_body(a: Path, b: Path) -> dict[str, Any]:
    """The real :func:`provenance.compare.compare` of ``a`` and ``b`` as a report body (the CLI adds
    ``kind`` the same way)."""
    body = compare(a, b).to_dict()
    return body if "kind" in body else {"kind": "compare", **body}


def perturbed_model(source: Path, out: Path, card: dict[str, Any], scale: float = 0.002, seed: int = 1) -> Path:
    """``source``'s weights plus small Gaussian noise (a stand-in for a short fine-tune: a real
    descendant), as a Hugging Face folder with model card ``card``."""
    with open_checkpoint(source) as ckpt:
        state, args = dict(ckpt.items()), ckpt.args
    gen = torch.Generator().manual_seed(seed)
    state = {n: t + scale * torch.randn(t.shape, generator=gen) if t.ndim > 1 else t for n, t in state.items()}
    save_hf(from_state_dict(state, args), args, out, card=card)
    return out


@dataclass(frozen=True)
class RegistryChange:
    """What :func:`registry_change` ran: the child model, the user registry, and three audits of the
    child (``--fail-on low``): ``before`` (JSON, no user registry), ``after`` (JSON, with the parent
    registered, ``--baseline before``), ``again`` (SARIF, ``--baseline after``), with exit codes."""

    child: Path
    registry: Path
    before: Path
    after: Path
    again: Path
    codes: tuple[int, int, int]


def cli_run(*args: str) -> int:
    """``provenance ARGS`` in this process (the CLI's own parsing and exit codes); errors show the output."""
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code in (0, 1), result.output
    return result.exit_code


def registry_change(like: Path, out: Path) -> RegistryChange:
    """Parent: a fresh model of ``like``'s shape; child: the parent perturbed, declaring apache-2.0.
    Registering the parent (as mit) moves the child from independent to derived."""
    parent = random_model(like, out / "parent", seed=7)
    child = perturbed_model(parent, out / "child", card={"license": "apache-2.0", "model_name": "child"})
    reg, before, after, again = out / "registry", out / "before.json", out / "after.json", out / "again.sarif"
    audit_args = ("-q", "audit", str(child), "--no-behaviour", "--fail-on", "low")
    codes = [cli_run(*audit_args, "--format", "json", "-o", str(before))]
    cli_run("-q", "registry", "add", str(parent), "--name", "parent", "--license", "mit", "--no-behaviour",
            "--registry-dir", str(reg))
    codes.append(cli_run(*audit_args, "--registry-dir", str(reg), "--baseline", str(before), "--format", "json",
                         "-o", str(after)))
    codes.append(cli_run(*audit_args, "--registry-dir", str(reg), "--baseline", str(after), "--format", "sarif",
                         "-o", str(again)))
    return RegistryChange(child, reg, before, after, again, (codes[0], codes[1], codes[2]))
