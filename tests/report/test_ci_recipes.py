"""The README's CI integration section: the workflow it shows is reports/github-actions-audit.yml, the
YAML parses, and every ``provenance`` command line in it parses with the real CLI (no option that
does not exist)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from provenance.cli import cli

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "reports" / "github-actions-audit.yml"


def _section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("## CI integration", 1)[1].split("\n## ", 1)[0]


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", _section(), flags=re.DOTALL)


def _commands() -> list[list[str]]:
    """Each ``provenance ...`` invocation in the section's code, as arguments (shell quoting and the
    ``bash -c '...'`` wrapper removed; a command xargs completes gets a model path)."""
    out = []
    for block in _blocks("yaml") + _blocks("bash"):
        for line in block.splitlines():
            at = line.find("provenance -q ")
            if at < 0:
                continue
            args = shlex.split(line[at:].split("'")[0])[1:]
            out.append([a.replace("$MODEL", "models/my-model") for a in args] + (["m"] if "xargs" in line else []))
    return out


def test_the_readme_shows_the_shipped_workflow() -> None:
    blocks = _blocks("yaml")
    assert blocks and blocks[0] == WORKFLOW.read_text(encoding="utf-8")
    steps = yaml.safe_load(blocks[0])["jobs"]["audit"]["steps"]
    uses = {s.get("uses", "").split("@")[0]: s for s in steps}
    for action in ("github/codeql-action/upload-sarif", "actions/upload-artifact"):
        assert uses[action]["if"] == "always()", action  # reports survive a failing audit
    hooks = yaml.safe_load(blocks[1])["repos"][0]["hooks"]
    assert hooks[0]["language"] == "system" and re.search(hooks[0]["files"], "models/x/config.json")


def _parse(args: list[str]) -> tuple[str, dict]:
    """The subcommand and its parameters, as the real CLI parses ``provenance ARGS`` (nothing runs)."""
    at = next(i for i, a in enumerate(args) if not a.startswith("-"))  # the group's options are flags
    name = args[at]
    parent = cli.make_context("provenance", args[:at] + [name])
    with cli.commands[name].make_context(name, args[at + 1 :], parent=parent) as sub:  # UsageError if unknown
        return name, sub.params


@pytest.mark.parametrize("args", _commands(), ids=" ".join)
def test_every_command_shown_parses(args: list[str]) -> None:
    name, params = _parse(args)
    assert name == "audit" and params["model"] and params["fail_on"] in ("high", "none")


def test_a_misspelt_option_is_caught() -> None:
    with pytest.raises(click.UsageError, match="--fail-on-severity"):
        _parse(["-q", "audit", "m", "--fail-on-severity", "high"])
