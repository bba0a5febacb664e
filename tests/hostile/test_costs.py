"""Cost bombs (issue 13, items 2, 4 and 5): files within, or just past, the declared limits that would
make a reader spend far more time or memory than their size. Each is refused, in one line, under a
hard memory cap and a time limit (tests/hostile/capped.py): a torch zip whose data.pkl inflates to
3 GiB, storage records that claim 256 GiB or 1 GiB (which fits RAM but not the file), a GGUF with
2^21 control tokens, a tokenizer.json that pads every encoding to 2^31 tokens (or truncates with a
stride that panics the library: both are turned off, as transformers does), and chat templates that
loop for minutes or double strings inside one C call.
A refused chat template is evidence, not a failed audit: the audit goes on with plain-text chat
canaries and says so in a note.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from provenance.tokenizer.chat import CHAT_CPU_SECONDS, CHAT_MEMORY_BYTES, render_chats
from tests.hostile import corpus, costs
from tests.hostile.conftest import REPO, run_process

BUDGET_MB = 512  # the reader's address space above its imports; each bomb asks for 2x to 500x this
TIME_LIMIT = 30.0  # wall seconds per case on a loaded 2-core machine (each takes under 5 of CPU)

NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
DOUBLING = "{{% set ns = namespace(s={start}) %}}{{% for i in range(64) %}}{{% set ns.s = {step} %}}{{% endfor %}}"
BOMBS = {  # chat templates: (template, what the refusal says)
    "nested range loops": (NESTED_LOOPS, f"exceeded its CPU time limit of {CHAT_CPU_SECONDS} s"),
    "~ doubling": (DOUBLING.format(start="'xx'", step="ns.s ~ ns.s") + "{{ ns.s|length }}", "exceeded its memory limit"),
    "|join doubling": (DOUBLING.format(start="['xx']", step="[ns.s|join, ns.s|join]"), "exceeded its memory limit"),
    "|format doubling": (DOUBLING.format(start="'xx'", step="'%s%s'|format(ns.s, ns.s)"), "exceeded its memory limit"),
    "|sum of lists doubling": (DOUBLING.format(start="[[1]]", step="[ns.s|sum(start=[]) + ns.s|sum(start=[])]"),
                               "exceeded its memory limit"),
    "one 2 GiB allocation": ("{{ 'x'.center(2147483647)|length }}", "exceeded its memory limit"),
    "unbounded recursion": ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursed too deeply"),
}


def _hf_folder(root: Path, hf: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir()
    shutil.copy(hf / "config.json", folder)
    return folder


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, str, Path, str]]:
    """(name, capped.py kind, path, expected message; "" where the input must simply load) for every bomb."""
    root = tmp_path_factory.mktemp("costs")
    hf = corpus.stories_hf(root / "hf")
    out = [
        ("torch zip whose data.pkl inflates to 3 GiB", "open",
         costs.torch_zip_bomb(_hf_folder(root, hf, "zip-bomb") / "pytorch_model.bin").parent, "is compressed"),
        ("legacy storage claiming 2^36 floats", "open",
         costs.torch_claim(_hf_folder(root, hf, "legacy-36") / "pytorch_model.bin", 1 << 36, zipped=False).parent,
         "storages claim 274877906952 bytes"),
        ("legacy storage claiming 1 GiB (fits RAM, not the file)", "open",
         costs.torch_claim(_hf_folder(root, hf, "legacy-30") / "pytorch_model.bin", 1 << 28, zipped=False).parent,
         "storages claim 1073741832 bytes"),
        ("zip storage claiming 1 GiB, its member 280 KB", "open",
         costs.torch_claim(_hf_folder(root, hf, "zip-30") / "pytorch_model.bin", 1 << 28, zipped=True).parent,
         "claims 1073741824 bytes, its member holds 280004"),
        ("GGUF with 2^21 control tokens", "gguf_tokenizer", costs.gguf_control_tokens(root / "ctl.gguf", 1 << 21),
         "2096896 control and user-defined tokens, more than 65536"),
    ]  # fmt: skip
    # refused by the configuration check before the library holds them (provenance.tokenizer.spec): one line
    for name, section, expect in (("padding to 2^31 - 1", {"padding": {"strategy": {"Fixed": 2**31 - 1}, "direction": "Right",
                                                               "pad_to_multiple_of": None, "pad_id": 0, "pad_type_id": 0,
                                                               "pad_token": "<unk>"}}, "padding.strategy.Fixed"),
                          ("truncation stride >= max_length", {"truncation": {"max_length": 2, "stride": 2,
                                                                              "strategy": "LongestFirst", "direction": "Right"}},
                           "truncation.stride 2 is not below max_length 2")):
        folder = Path(shutil.copytree(hf, root / name.split()[0]))
        spec = json.loads((folder / "tokenizer.json").read_text())
        (folder / "tokenizer.json").write_text(json.dumps({**spec, **section}))
        out.append((f"tokenizer.json {name}", "tokenizer", folder, expect))
    for i, (name, (template, expect)) in enumerate(BOMBS.items()):
        (root / f"template-{i}.jinja").write_text(template)
        out.append((f"chat template: {name}", "chat", root / f"template-{i}.jinja", f"chat template refused: {expect}"))
    return out


@pytest.fixture(scope="module")
def results(cases: list[tuple[str, str, Path, str]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    spec = tmp_path_factory.mktemp("costs-spec") / "cases.json"
    control = ("control: allocate 2x the budget", "allocate", spec.parent / str(2 * BUDGET_MB << 20), "")
    spec.write_text(json.dumps([{"name": n, "kind": k, "path": str(p)} for n, k, p, _ in [*cases, control]]))
    proc = subprocess.run([sys.executable, "-m", "tests.hostile.capped", str(spec), str(BUDGET_MB)], cwd=REPO,
                          capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and len(lines) == len(cases) + 1, proc.stderr[-3000:]
    return {r["name"]: r for r in lines}


def test_the_memory_cap_is_real(results: dict[str, dict]) -> None:
    assert results["control: allocate 2x the budget"]["outcome"] == "MemoryError"


def test_cost_bombs_are_refused_in_one_line_under_the_caps(cases: list, results: dict[str, dict]) -> None:
    failures = []
    for name, _, _, expect in cases:
        r = results[name]
        outcome = r["outcome"] == "ok" if not expect else r["outcome"] in ("FormatError", "TemplateRefused")
        if not (outcome and expect in r["message"] and "\n" not in r["message"] and r["seconds"] < TIME_LIMIT):
            failures.append(f"{name}: {r}")
    assert failures == [], "\n".join(failures)


def test_the_chat_sandbox_cap_is_below_the_budget() -> None:
    """The child's own cap is what stopped the memory bombs, not the test's (the parent never grew)."""
    assert CHAT_MEMORY_BYTES < BUDGET_MB << 20


def test_a_refused_chat_template_is_a_note_not_a_failed_audit(tmp_path: Path) -> None:
    folder = corpus.stories_hf(tmp_path / "model")
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": NESTED_LOOPS}))
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()}
    run = run_process("-q", "audit", str(folder), "--format", "json", "--fail-on", "none", timeout=300)
    assert run.code == 0 and "Traceback" not in run.stderr, run.stderr[-2000:]
    notes = json.loads(run.stdout)["notes"]
    assert f"chat template refused: exceeded its CPU time limit of {CHAT_CPU_SECONDS} s" in notes, notes
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()} == before


def test_a_lone_surrogate_survives_the_child() -> None:
    """Regression (fuzzing): output holding a lone surrogate ended the child without an answer."""
    assert render_chats("{{ messages[0].content }}!", [[{"role": "user", "content": "\udcff"}]], {}) == ["\udcff!"]
