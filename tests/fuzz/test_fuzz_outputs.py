"""Fuzz the output writer (:func:`provenance.fileio.write_output`) with hostile output paths.

Each example lays out a sandbox: a real HF model folder and a real GGUF with its card and license,
then plants links (to input files, to the model folder, dangling, looping), folders, FIFOs and files
where the output may land, and draws an output path from names that matter (the inputs' own names,
``..``, ``.``, links, newlines, over-long names). The contract: the writer either refuses with one
line, or writes the bytes at the output path (its folder resolved, a link there replaced); either way
every other entry, inputs first, is byte- and mtime-identical, nothing is written outside the sandbox
and no temporary file is left behind. A share of the examples
go through the CLI (``inspect -o``) instead of the library.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance.checkpoint import inputs_of, open_checkpoint
from provenance.fileio import Inputs, check_output, write_output
from tests.exporters import save_gguf
from tests.fuzz.conftest import seed
from tests.fuzz.harness import fuzz_settings, survives
from tests.hostile import corpus
from tests.hostile.conftest import run_cli

pytestmark = pytest.mark.fuzz

NAMES = ["hf", "gguf", "out", "config.json", "model.safetensors", "tokenizer.json", "README.md", "LICENSE",
         "readme.MD", "notice", "stories.gguf", "report.json", "x.fingerprint.safetensors", "link", "loop",
         "dangling", "fifo", "dir", "..", ".", "", "new\nline.json", "\x1b[2J.txt", "é.json", "a" * 255,
         "b" * 300, ".partial", "report.json.partial", " "]  # fmt: skip
PLANTS = ["link-to-file", "link-to-folder", "dangling-into-model", "loop", "folder", "fifo", "file", "hardlink"]


def _gguf_seed(path: Path) -> None:
    path.mkdir(parents=True)
    save_gguf(corpus.stories_state(), path / "stories.gguf", "Q8_0", args=corpus.stories_args())
    (path / "LICENSE").write_text("MIT License\n")
    (path / "README.md").write_text(corpus.CARD)


@pytest.fixture(scope="module")
def model_seeds(seeds: Path) -> tuple[Path, Path]:
    return seed(seeds, "hf", corpus.stories_hf), seed(seeds, "gguf-with-sidecars", _gguf_seed)


def snapshot(root: Path) -> dict[str, tuple[object, ...]]:
    out: dict[str, tuple[object, ...]] = {}
    for p in sorted(root.rglob("*")):
        st_ = os.lstat(p)
        if stat.S_ISREG(st_.st_mode):
            out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), st_.st_mtime_ns)
        else:
            out[str(p)] = (stat.S_IFMT(st_.st_mode), os.readlink(p) if stat.S_ISLNK(st_.st_mode) else None)
    return out


def plant(where: Path, kind: str, models: Path) -> None:
    """Put something hostile at ``where`` (if its folder exists and the name is free)."""
    if not where.parent.is_dir() or os.path.lexists(where) or where.name in ("", ".", ".."):
        return
    victim = models / "hf" / "model.safetensors"
    try:
        if kind == "link-to-file":
            where.symlink_to(victim)
        elif kind == "link-to-folder":
            where.symlink_to(models / "hf", target_is_directory=True)
        elif kind == "dangling-into-model":
            where.symlink_to(models / "hf" / "next-time.json")
        elif kind == "loop":
            where.symlink_to(where)
        elif kind == "folder":
            where.mkdir()
        elif kind == "fifo":
            os.mkfifo(where)
        elif kind == "file":
            where.write_bytes(b"an old report")
        else:
            os.link(victim, where)
    except OSError:  # a name too long for the file system: nothing planted
        pass


@fuzz_settings(60)
@given(data=st.data())
def test_output_paths(data: st.DataObject, model_seeds: tuple[Path, Path], tmp_path_factory) -> None:
    box = tmp_path_factory.getbasetemp() / "fuzz-outputs"
    if box.exists():
        shutil.rmtree(box)
    models, out = box / "models", box / "out"
    shutil.copytree(model_seeds[0], models / "hf")
    shutil.copytree(model_seeds[1], models / "gguf")
    out.mkdir()
    bases = {"out": out, "models": models, "hf": models / "hf", "gguf": models / "gguf"}
    for _ in range(data.draw(st.integers(0, 4), label="plants")):
        where = bases[data.draw(st.sampled_from(sorted(bases)), label="plant in")]
        plant(where / data.draw(st.sampled_from(NAMES), label="plant name"),
              data.draw(st.sampled_from(PLANTS), label="plant"), models)
    start = bases[data.draw(st.sampled_from(sorted(bases)), label="output under")]
    parts = data.draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4), label="output path")
    target = Path(os.path.join(start, *parts))
    model = models / "hf" if data.draw(st.booleans(), label="model") else models / "gguf" / "stories.gguf"
    before = snapshot(box)
    with open_checkpoint(model) as ckpt:
        inputs: Inputs = inputs_of(ckpt)
    payload = b"report bytes"

    def write() -> None:
        resolved = check_output(target, inputs)
        if not resolved.is_relative_to(box):  # ".." climbed out: check only, never write there
            return
        if data.draw(st.booleans(), label="through the CLI"):
            r = run_cli("inspect", str(model), "--format", "json", "-o", str(target))
            assert r.code == 0 and r.stdout == "" and b'"format"' in resolved.read_bytes(), r.stderr
        else:
            write_output(target, payload, inputs)
            assert resolved.read_bytes() == payload

    error = survives(write, needs_path=False)
    after = snapshot(box)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    # at most one directory entry changes, the output's own, and only when it was written
    assert not changed or (error is None and changed == [str(target.parent.resolve() / target.name)]), changed
    leftovers = [p for p in box.rglob(".*.partial") if p.name not in NAMES]  # the writer's temporary files
    assert not leftovers, leftovers
