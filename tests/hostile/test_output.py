"""``-o`` can never touch an input (issue 13, item 1).

Every command that writes (inspect, audit, compare, fingerprint, registry add), pointed at every kind
of file it reads (weights, shards, index, config, tokenizer, card, license, adapter, compare sides, a
fingerprint, the registry), directly, through a symlink, a symlinked folder, a hard link or a hub-cache
blob: exit 2, one line, no traceback, refused before any work, and every input byte- and
mtime-identical afterwards. Outputs that are allowed go through an exclusive temporary file, so a link
planted where the old writer put its ``.partial`` file is never followed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from provenance.fileio import Inputs, OutputError, write_output
from provenance.fingerprint.format import Fingerprint
from tests.exporters import save_gguf
from tests.hostile import corpus
from tests.hostile.conftest import run_cli

MIT = "MIT License\n\nCopyright (c) 2023 Andrej Karpathy\n"


def tree(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``root``: links by target, files by sha256, size and mtime (ns)."""
    out: dict[str, tuple[object, ...]] = {}
    for p in sorted(root.rglob("*")):
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            out[str(p.relative_to(root))] = ("link", os.readlink(p))
        elif stat.S_ISREG(st.st_mode):
            out[str(p.relative_to(root))] = (hashlib.sha256(p.read_bytes()).hexdigest(), st.st_size, st.st_mtime_ns)
        else:
            out[str(p.relative_to(root))] = ("dir",)
    return out


def _hub(src: Path, root: Path) -> tuple[Path, Path]:
    """``src`` laid out like the Hugging Face cache: snapshot links into ``blobs``. Returns
    (snapshot folder, the blob holding the weights)."""
    blobs, snap = root / "blobs", root / "snapshots" / "0123abc"
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    weights = None
    for f in sorted(src.iterdir()):
        blob = blobs / hashlib.sha256(f.read_bytes()).hexdigest()
        shutil.copyfile(f, blob)
        (snap / f.name).symlink_to(os.path.relpath(blob, snap))
        if f.name == "model.safetensors":
            weights = blob
    assert weights is not None
    return snap, weights


@pytest.fixture(scope="module")
def m(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One of every input kind under ``models/``, plus links to them from ``elsewhere/``."""
    root = tmp_path_factory.mktemp("output")
    models = root / "models"
    hf = corpus.stories_hf(models / "hf")
    (hf / "LICENSE").write_text(MIT)
    sharded = corpus.shard_hf(Path(shutil.copytree(hf, models / "sharded")))
    (models / "gguf").mkdir()
    gguf = save_gguf(corpus.stories_state(), models / "gguf" / "stories.Q8_0.gguf", "Q8_0", args=corpus.stories_args())
    (models / "gguf" / "LICENSE").write_text(MIT)
    (models / "gguf" / "README.md").write_text(corpus.CARD)
    snap, blob = _hub(hf, models / "hub" / "models--karpathy--stories")
    nan = Path(shutil.copytree(hf, models / "nan"))
    state = load_file(str(nan / "model.safetensors"))
    state["model.layers.0.self_attn.q_proj.weight"][0, 0] = float("nan")
    save_file(state, str(nan / "model.safetensors"))
    (models / "fp").mkdir()
    fp = Path(shutil.copyfile(corpus.fingerprint_path(), models / "fp" / "stories260K.fingerprint.safetensors"))
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "hf-link").symlink_to(hf, target_is_directory=True)
    (elsewhere / "config-link.json").symlink_to(hf / "config.json")
    (elsewhere / "dangling-into-hf.json").symlink_to(hf / "not-yet-there.json")
    os.link(gguf, elsewhere / "hardlink.gguf")
    (elsewhere / "a-folder").mkdir()
    (elsewhere / "model.sig").write_bytes(b'{"mediaType": "application/vnd.dev.sigstore.bundle"}')
    os.mkfifo(elsewhere / "fifo")
    return {"root": root, "models": models, "hf": hf, "sharded": sharded, "gguf": gguf, "l2c": corpus.stories_llama2c(
        models / "l2c"), "meta": corpus.stories_meta(models / "meta"), "lora": corpus.stories_lora(models / "lora"),
        "snap": snap, "blob": blob, "nan": nan, "fp": fp, "elsewhere": elsewhere}  # fmt: skip


# (command, its arguments, the -o path), as strings with {name} fields filled from ``m``
REFUSED = [
    ("inspect", "{hf}", "{hf}/config.json"),
    ("inspect", "{hf}", "{hf}/model.safetensors"),
    ("inspect", "{hf}", "{hf}/tokenizer.json"),
    ("inspect", "{hf}", "{hf}/LICENSE"),
    ("inspect", "{hf}", "{hf}/new-report.txt"),  # a new file inside a model folder changes the next audit
    ("inspect", "{hf}/model.safetensors", "{hf}/README.md"),  # a lone file of a folder format
    ("inspect", "{sharded}", "{sharded}/model-00002-of-00002.safetensors"),
    ("inspect", "{sharded}", "{sharded}/model.safetensors.index.json"),
    ("inspect --format json", "{gguf}", "{gguf}"),
    ("inspect", "{gguf}", "{models}/gguf/LICENSE"),
    ("inspect", "{gguf}", "{models}/gguf/README.md"),
    ("inspect", "{gguf}", "{models}/gguf/NOTICE.txt"),  # not there yet, but audit would read it next time
    ("inspect", "{l2c}", "{models}/l2c/tokenizer.bin"),
    ("inspect", "{meta}", "{meta}/params.json"),
    ("inspect", "{meta}", "{meta}/consolidated.00.pth"),
    ("inspect", "{lora}", "{lora}/adapter_config.json"),
    ("inspect", "{snap}", "{blob}"),  # the hub cache: the snapshot's link resolves into blobs/
    ("inspect", "{elsewhere}/hf-link", "{hf}/config.json"),  # the model named through a link
    ("inspect", "{hf}", "{elsewhere}/config-link.json"),  # the output is a link to an input
    ("inspect", "{hf}", "{elsewhere}/hf-link/config.json"),  # through a symlinked folder
    ("inspect", "{hf}", "{elsewhere}/dangling-into-hf.json"),  # a dangling link into the model folder
    ("inspect", "{gguf}", "{elsewhere}/hardlink.gguf"),  # another name for the same inode
    ("inspect", "{hf}", "{hf}/../hf/config.json"),
    ("audit --no-behaviour", "{hf}", "{hf}/model.safetensors"),
    ("audit --no-behaviour --format sarif", "{gguf}", "{gguf}"),
    ("audit --no-behaviour --format json", "{sharded}", "{sharded}/model-00001-of-00002.safetensors"),
    ("audit --no-behaviour", "{hf}", "{registry}/report.json"),  # the registry audit reads
    ("audit --no-behaviour --signature {elsewhere}/model.sig", "{gguf}", "{elsewhere}/model.sig"),
    ("compare --no-behaviour", "{hf} {gguf}", "{gguf}"),
    ("compare --no-behaviour --format md", "{hf} {gguf}", "{hf}/config.json"),
    ("compare --no-behaviour", "{fp} {gguf}", "{fp}"),  # a fingerprint side
    ("fingerprint", "{gguf}", "{gguf}"),
    ("fingerprint", "{hf}", "{hf}/stories.fingerprint.safetensors"),
    ("fingerprint", "{lora}", "{lora}/adapter_model.safetensors"),
    ("fingerprint", "{gguf}", "{elsewhere}/a-folder"),  # not a regular file
    ("fingerprint", "{gguf}", "{elsewhere}/fifo"),  # would block, or be replaced by a file
]


def _argv(spec: tuple[str, str, str], m: dict[str, Path], registry: Path) -> list[str]:
    command, args, output = (s.format(**m, registry=registry) for s in spec)
    return [*command.split(), *args.split(), "-o", output]


@pytest.mark.parametrize("spec", REFUSED, ids=[f"{c.split()[0]}:{o.split('}')[-1] or o}" for c, _, o in REFUSED])
def test_output_over_an_input_is_refused(spec: tuple[str, str, str], m: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "registry").mkdir()
    before = tree(m["root"])
    r = run_cli(*_argv(spec, m, tmp_path / "registry"), env={"PROVENANCE_REGISTRY": str(tmp_path / "registry")})
    line = r.refused("refused")
    assert r.stdout == ""
    assert tree(m["root"]) == before, line  # nothing written, replaced, touched or left behind
    assert os.listdir(tmp_path / "registry") == []


def test_registry_add_into_the_model_folder_is_refused(m: dict[str, Path]) -> None:
    before = tree(m["root"])
    run_cli("registry", "add", str(m["hf"]), "--name", "into-itself", "--registry-dir", str(m["hf"])).refused(
        "refused", "inside")
    run_cli("registry", "add", str(m["hf"]), "--name", "via-link", "--registry-dir",
            str(m["elsewhere"] / "hf-link")).refused("refused")  # the model folder named through a link
    assert tree(m["root"]) == before


@pytest.mark.parametrize("command", ["audit", "fingerprint", "inspect"])
def test_a_bad_output_folder_is_found_before_any_work(command: str, m: dict[str, Path], tmp_path: Path) -> None:
    """The NaN weights would fail the work; the missing folder is reported first, so nothing was computed."""
    extra = ["--no-behaviour"] if command != "inspect" else []
    (tmp_path / "registry").mkdir()
    r = run_cli(command, str(m["nan"]), *extra, "-o", str(tmp_path / "missing" / "out.json"),
                env={"PROVENANCE_REGISTRY": str(tmp_path / "registry")})
    line = r.refused("does not exist")
    assert "NaN" not in line
    assert not (tmp_path / "missing").exists()


def test_a_link_planted_at_the_temporary_name_is_never_followed(m: dict[str, Path], tmp_path: Path) -> None:
    """The old writer wrote ``OUT.partial`` then renamed it: a link planted there overwrote its target."""
    out = tmp_path / "out.fingerprint.safetensors"
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"keep me")
    (tmp_path / "out.fingerprint.safetensors.partial").symlink_to(victim)
    (tmp_path / ".out.fingerprint.safetensors.partial").symlink_to(m["hf"] / "model.safetensors")
    before = tree(m["root"])
    r = run_cli("fingerprint", str(m["gguf"]), "--no-behaviour", "-o", str(out))
    assert r.code == 0, r.stderr
    assert victim.read_bytes() == b"keep me" and tree(m["root"]) == before
    assert stat.S_ISREG(os.lstat(out).st_mode) and Fingerprint.load(out).name
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~mask  # as shareable as a shell redirection
    # nothing else appeared: the temporary file was renamed, the planted links are left alone
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".out.fingerprint.safetensors.partial", "out.fingerprint.safetensors", "out.fingerprint.safetensors.partial",
         "victim.bin"])


def test_an_output_link_is_replaced_never_written_through(m: dict[str, Path], tmp_path: Path) -> None:
    """A link at the output naming a file the command does not read is replaced by the report: the
    writer changes one directory entry, the output's, never what a link points at."""
    target = tmp_path / "other-model.gguf"
    target.write_bytes(b"someone else's weights")
    link = tmp_path / "latest.json"
    link.symlink_to(target)
    r = run_cli("inspect", str(m["gguf"]), "--format", "json", "-o", str(link))
    assert r.code == 0, r.stderr
    assert not link.is_symlink() and json.loads(link.read_text())["format"] == "gguf"
    assert target.read_bytes() == b"someone else's weights"
    assert sorted(os.listdir(tmp_path)) == ["latest.json", "other-model.gguf"]


def test_the_writer_checks_again_at_write_time(m: dict[str, Path], tmp_path: Path) -> None:
    """A link swapped in after the first check (while the work ran) is refused when writing, too."""
    out = tmp_path / "report.json"
    inputs = Inputs(files=[m["gguf"]])
    write_output(out, "{}", inputs)
    out.unlink()
    out.symlink_to(m["gguf"])
    before = tree(m["root"])
    with pytest.raises(OutputError, match="overwrite a file this command reads"):
        write_output(out, b"\0" * 16, inputs)
    assert tree(m["root"]) == before and out.is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["report.json"]


def test_allowed_outputs_still_work(m: dict[str, Path], tmp_path: Path) -> None:
    """Beside a lone GGUF (not a model folder) and anywhere outside the inputs, reports are written."""
    beside = m["models"] / "gguf" / "stories.report.json"
    try:
        r = run_cli("inspect", str(m["gguf"]), "--format", "json", "-o", str(beside))
        assert r.code == 0, r.stderr
        assert json.loads(beside.read_text())["format"] == "gguf"
    finally:
        beside.unlink(missing_ok=True)
    r = run_cli("inspect", str(m["hf"]), "-o", str(tmp_path / "inspect.txt"))
    assert r.code == 0 and "hf-safetensors" in (tmp_path / "inspect.txt").read_text()
