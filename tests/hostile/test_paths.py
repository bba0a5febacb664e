"""No path escapes: index files cannot name files outside the model folder; symlink loops, FIFOs and
devices are refused instead of followed for ever or blocked on."""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from provenance.checkpoint import open_checkpoint
from provenance.errors import FormatError
from provenance.fingerprint.format import Fingerprint
from provenance.tokenizer.files import load_tokenizer
from tests.hostile import corpus
from tests.hostile.conftest import run_cli


@contextmanager
def no_hang(seconds: int = 20) -> Iterator[None]:
    def alarm(signum, frame):
        raise TimeoutError("blocked")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def sharded(hf_folder: Path) -> Path:
    """The HF folder re-laid as two shards behind a real index file."""
    corpus.shard_hf(hf_folder)
    assert open_checkpoint(hf_folder).format == "hf-safetensors"
    return hf_folder


def _point(folder: Path, shard: str) -> Path:
    """Rewrite the index so that one tensor lives in ``shard``."""
    index = folder / "model.safetensors.index.json"
    doc = json.loads(index.read_text())
    first = sorted(doc["weight_map"])[0]
    doc["weight_map"][first] = shard
    index.write_text(json.dumps(doc))
    return index


@pytest.mark.parametrize(
    ("shard", "message"),
    [
        ("../outside.safetensors", "escapes"),
        ("sub/../../outside.safetensors", "escapes"),
        ("/etc/passwd", "escapes"),
        ("//etc/passwd", "escapes"),
        ("\\\\server\\share\\x.safetensors", "escapes"),
        ("a\x00b.safetensors", "invalid file name"),
        ("", "invalid file name"),
        ("subdir", "not a regular file"),
        ("missing.safetensors", "missing"),
    ],
)
def test_index_names_are_confined(shard: str, message: str, sharded: Path) -> None:
    (sharded.parent / "outside.safetensors").write_bytes((sharded / "model-00001-of-00002.safetensors").read_bytes())
    (sharded / "subdir").mkdir()
    index = _point(sharded, shard)
    with pytest.raises(FormatError, match=message) as err:
        open_checkpoint(sharded)
    assert err.value.path == str(index)
    run_cli("inspect", str(sharded), "--no-hash").refused(index.name, message)


def test_non_string_shard_names(sharded: Path) -> None:
    for bad in (7, None, ["a"], {"a": 1}):
        index = _point(sharded, bad)  # type: ignore[arg-type]
        with pytest.raises(FormatError, match="invalid file name|missing") as err:
            open_checkpoint(sharded)
        assert err.value.path == str(index)


def test_symlinks_out_of_the_folder_and_loops(sharded: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.safetensors"
    shutil.copy(sharded / "model-00001-of-00002.safetensors", secret)
    (sharded / "link.safetensors").symlink_to(secret)
    _point(sharded, "link.safetensors")
    with pytest.raises(FormatError, match="outside the model folder"):
        open_checkpoint(sharded)
    (sharded / "a.safetensors").symlink_to(sharded / "b.safetensors")
    (sharded / "b.safetensors").symlink_to(sharded / "a.safetensors")
    _point(sharded, "a.safetensors")
    with pytest.raises(FormatError, match="cannot resolve|missing"):
        open_checkpoint(sharded)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    run_cli("inspect", str(loop)).refused(str(loop))
    (tmp_path / "loop-dir").symlink_to(tmp_path / "loop-dir")
    with pytest.raises(FormatError):
        open_checkpoint(tmp_path / "loop-dir")


def test_symlinks_inside_the_folder_are_followed(sharded: Path) -> None:
    os.rename(sharded / "model-00002-of-00002.safetensors", sharded / "real.safetensors")
    (sharded / "model-00002-of-00002.safetensors").symlink_to("real.safetensors")
    assert len(open_checkpoint(sharded).names()) == 47


def test_hugging_face_cache_layout_is_accepted(sharded: Path, tmp_path: Path) -> None:
    """The hub cache keeps snapshot files as relative links into ``../../blobs``: that is not an escape."""
    repo = tmp_path / "models--karpathy--stories260K"
    snapshot = repo / "snapshots" / "0123abcd"
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for f in sorted(sharded.iterdir()):
        if f.is_file():
            blob = repo / "blobs" / f"blob-{f.name}"
            shutil.copy(f, blob)
            (snapshot / f.name).symlink_to(Path("../../blobs") / blob.name)
    assert len(open_checkpoint(snapshot).names()) == 47
    other = tmp_path / "elsewhere.safetensors"
    shutil.copy(sharded / "model-00001-of-00002.safetensors", other)
    (snapshot / "stray.safetensors").symlink_to(other)  # outside blobs/: still an escape
    index = snapshot / "model.safetensors.index.json"
    doc = json.loads(index.read_text())
    doc["weight_map"][sorted(doc["weight_map"])[0]] = "stray.safetensors"
    index.unlink()
    index.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match="outside the model folder"):
        open_checkpoint(snapshot)


def test_fifos_and_devices_do_not_block(hf_folder: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.safetensors"
    os.mkfifo(fifo)
    with no_hang():
        for target in (fifo, Path("/dev/zero"), Path("/dev/urandom")):
            with pytest.raises(FormatError, match="not a regular file"):
                open_checkpoint(target)
        with pytest.raises(FormatError, match="not a regular file"):
            load_tokenizer(fifo)
        with pytest.raises(FormatError, match="not a regular file"):
            Fingerprint.load(fifo)
        (hf_folder / "tokenizer.json").unlink()
        os.mkfifo(hf_folder / "tokenizer.json")  # a FIFO in the folder is not a tokenizer file
        assert open_checkpoint(hf_folder).tokenizer is None
        run_cli("inspect", "/dev/zero").refused("/dev/zero", "not a regular file")


@pytest.mark.parametrize("kind", ["hf-folder", "hf-file", "lora", "meta"])
def test_lone_weight_links_follow_the_index_rule(kind: str, hf_folder: Path, tmp_path: Path) -> None:
    """A ``model.safetensors`` (or adapter, or Meta shard) that links out of its folder is refused like
    the same link named by an index: one rule, whoever names the file (issue 13, item 7)."""
    folder = {"hf-folder": hf_folder, "hf-file": hf_folder, "lora": corpus.stories_lora(tmp_path / "lora"),
              "meta": corpus.stories_meta(tmp_path / "meta")}[kind]  # fmt: skip
    name = {"lora": "adapter_model.safetensors", "meta": "consolidated.00.pth"}.get(kind, "model.safetensors")
    outside = tmp_path / f"outside-{name}"
    os.rename(folder / name, outside)
    (folder / name).symlink_to(outside)
    target = folder / name if kind == "hf-file" else folder
    with pytest.raises(FormatError, match="resolves outside the model folder") as err:
        open_checkpoint(target)
    assert err.value.path == str(folder / name)
    run_cli("inspect", str(target)).refused(name, "resolves outside the model folder")
    os.unlink(folder / name)
    (folder / name).symlink_to(os.path.relpath(outside, folder))  # a relative link: same answer
    with pytest.raises(FormatError, match="resolves outside the model folder"):
        open_checkpoint(target)
    os.unlink(folder / name)
    os.rename(outside, folder / "real")
    (folder / name).symlink_to("real")  # a link inside the folder is fine
    assert open_checkpoint(target).names()
