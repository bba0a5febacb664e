"""Microsoft's SARIF multitool validates every kind of SARIF log we produce, rendered by the current
code from real runs: the example reports' bodies (SmolLM2), audits and comparisons of stories260K and
its transforms, a hostile model card, and an audit with a baseline. Zero errors, zero warnings, and
none of the notes issue #17 named (rule friendly name, helpUri, a run without rules). One multitool
run checks them all (its start-up costs seconds); a control file without ``informationUri`` and rule
names proves the check sees what it looks for."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from provenance.report import make_report, render
from tests.report.bodies import RegistryChange
from tests.report.multitool import install, validate
from tests.report.test_examples import NAMES, REGEN

# notes we accept: message strings instead of ids (2002), no version control info (2003: GitHub's
# upload-sarif adds it), the schema URI unreachable offline (2006), ids not shaped like "CS2001" (2009:
# ours are stable public ids), no code snippets (2010, 2011: a model card line is not code), absolute
# file URIs where the command line named the model by an absolute path (2016: the tests' tmp folders)
ACCEPTED_NOTES = {"SARIF2002", "SARIF2003", "SARIF2006", "SARIF2009", "SARIF2010", "SARIF2011", "SARIF2016"}


def test_every_sarif_we_produce_is_clean(tmp_path: Path, stories_audit: dict[str, Any], hostile_audit: dict[str, Any],
                                         hostile_folder: Path, independent_audit: dict[str, Any],
                                         compare_same_depth: dict[str, Any], compare_other_depth: dict[str, Any],
                                         registry_change: RegistryChange) -> None:
    exe = install()
    logs: dict[str, str] = {f"example-{n}.sarif": text for n in NAMES if (REGEN.EXAMPLES / f"{n}.json").is_file()
                            for f, text in REGEN.outputs(n, REGEN.stored_body(n)).items() if f.endswith(".sarif")}
    for name, body, root in (("stories", stories_audit, None), ("hostile", hostile_audit, hostile_folder),
                             ("independent", independent_audit, None), ("compare-same", compare_same_depth, None),
                             ("compare-pruned", compare_other_depth, None)):
        logs[f"{name}.sarif"] = render(make_report(body, ["provenance", body["kind"], "m"], model_root=root), "sarif")
    logs["baseline.sarif"] = registry_change.again.read_text(encoding="utf-8")
    control = json.loads(logs["hostile.sarif"])
    del control["runs"][0]["tool"]["driver"]["informationUri"]
    for rule in control["runs"][0]["tool"]["driver"]["rules"]:
        del rule["name"], rule["helpUri"]
    logs["control.sarif"] = json.dumps(control)
    files = []
    for name, text in logs.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        files.append(tmp_path / name)
    started = time.monotonic()
    problems = validate(exe, files, tmp_path / "validation.sarif")
    print(f"multitool validate: {len(files)} files in {time.monotonic() - started:.1f} s")

    ours = [p for p in problems if p.file != "control.sarif"]
    assert [p for p in ours if p.level != "note"] == []
    assert sorted({p.rule for p in ours} - ACCEPTED_NOTES) == [], [p for p in ours if p.rule not in ACCEPTED_NOTES]
    control_rules = {(p.level, p.rule) for p in problems if p.file == "control.sarif"}
    assert {("warning", "SARIF2005"), ("note", "SARIF2012")} <= control_rules  # informationUri; name, helpUri
    checked = {p.file for p in problems}
    assert checked >= set(logs), set(logs) - checked  # every file was read (each gets the 2006 note at least)
