"""Every failure through the CLI: one line on stderr naming the file and the problem, exit code 2, no
traceback (``--debug`` shows it), for every command that reads the file."""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.exporters import save_gguf, save_llama2c
from tests.hostile import corpus
from tests.hostile.conftest import run_cli, run_process


def _truncated(path: Path, keep: float) -> Path:
    path.write_bytes(path.read_bytes()[: int(path.stat().st_size * keep)])
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _hf_with(root: Path, edit: Callable[[Path], None]) -> Path:
    folder = corpus.stories_hf(root / "hf")
    edit(folder)
    return folder


# name -> (builder of the bad input, the file the message must name, a fragment of the problem)
BAD: dict[str, tuple[Callable[[Path], Path], str, str]] = {
    "missing": (lambda r: r / "nope.gguf", "nope.gguf", "no such file"),
    "empty": (lambda r: _write(r / "empty.bin", b""), "empty.bin", "unknown format"),
    "text": (lambda r: _write(r / "notes.txt", b"hello\n" * 50), "notes.txt", "unknown format"),
    "truncated safetensors": (
        lambda r: _hf_with(r, lambda f: _truncated(f / "model.safetensors", 0.5)), "model.safetensors", "outside"),
    "corrupt config": (
        lambda r: _hf_with(r, lambda f: (f / "config.json").write_text("{\"hidden_size\": ")), "config.json", "JSON"),
    "corrupt tokenizer": (
        lambda r: _hf_with(r, lambda f: (f / "tokenizer.json").write_text("{\"model\": 1}")), "tokenizer.json",
        "tokenizer.json"),
    "truncated gguf": (
        lambda r: _truncated(save_gguf(corpus.stories_state(), r / "m.gguf", "Q8_0", args=corpus.stories_args()), 0.6),
        "m.gguf", "outside"),
    "truncated llama2c v1": (
        lambda r: _truncated(save_llama2c(corpus.stories_state(), r / "v1.bin", 1, corpus.stories_args()), 0.9),
        "v1.bin", "header implies"),
    "gguf header lies": (
        lambda r: _write(r / "lie.gguf", b"GGUF" + struct.pack("<IQQ", 3, 1 << 62, 0) + b"\0" * 64), "lie.gguf",
        "count"),
}  # fmt: skip


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return corpus.stories_hf(tmp_path_factory.mktemp("ref") / "reference")


@pytest.mark.parametrize("case", sorted(BAD))
def test_every_command_fails_in_one_line(case: str, tmp_path: Path, reference: Path, registry: dict[str, str]) -> None:
    build, names, problem = BAD[case]
    bad = build(tmp_path)
    out = tmp_path / "out.fingerprint.safetensors"
    for args in (["inspect", str(bad)], ["inspect", str(bad), "--format", "json"],
                 ["audit", str(bad), "--format", "json"], ["audit", str(bad), "--format", "sarif"],
                 ["compare", str(reference), str(bad)], ["compare", str(bad), str(reference), "--format", "json"],
                 ["fingerprint", str(bad), "-o", str(out)]):  # fmt: skip
        r = run_cli(*args, env=registry)
        r.refused(names, problem)
        assert r.stdout == "", args  # nothing half-written on stdout
    assert not out.exists()


def test_bad_fingerprints_fail_in_one_line(tmp_path: Path, reference: Path, registry: dict[str, str]) -> None:
    fake = tmp_path / "fake.fingerprint.safetensors"
    fake.write_bytes(struct.pack("<Q", 2) + b"{}")
    run_cli("compare", str(fake), str(reference)).refused("fake.fingerprint.safetensors", "not a provenance fingerprint")
    run_cli("compare", str(reference), str(fake)).refused("fake.fingerprint.safetensors")
    fp = corpus.FINGERPRINT
    if fp.is_file():  # a real fingerprint with its document rewritten to claim another format version
        raw = fp.read_bytes()
        (n,) = struct.unpack_from("<Q", raw)
        header = json.loads(raw[8 : 8 + n])
        doc = json.loads(header["__metadata__"]["provenance.fingerprint"])
        header["__metadata__"]["provenance.fingerprint"] = json.dumps({**doc, "format_version": 99})
        text = json.dumps(header).encode()
        fake.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])
        run_cli("compare", str(fake), str(reference)).refused("fake.fingerprint.safetensors", "version 99")
    # a broken file in the user registry stops an audit with a line naming it
    user = Path(registry["PROVENANCE_REGISTRY"])
    shutil.copy(fake, user / "broken.fingerprint.safetensors")
    run_cli("audit", str(reference), "--format", "json", env=registry).refused("broken.fingerprint.safetensors")


def test_a_real_process_prints_one_line_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    bad = BAD["gguf header lies"][0](tmp_path)
    run_process("inspect", str(bad)).refused("lie.gguf", "count")
    debug = run_process("--debug", "inspect", str(bad))
    assert debug.code == 2 and "Traceback" in debug.stderr and debug.stderr.rstrip().endswith(
        "GGUF tensor count 4611686018427387904 is outside 0..500000")


def _bad_dtype_tensor(path: Path, name: str) -> Path:
    header = json.dumps({name: {"dtype": "Q9", "shape": [1], "data_offsets": [0, 4]}}).encode()
    return _write(path, struct.pack("<Q", len(header)) + header + b"\0" * 4)


@pytest.mark.parametrize("case", ["file name", "tensor name"])
def test_hostile_names_cannot_drive_the_terminal(case: str, tmp_path: Path, hf_folder: Path) -> None:
    """A file or tensor name is chosen by whoever made the model: on a real terminal (where click
    passes ANSI codes through) the error is still one line, with the escapes shown as text."""
    evil = "evil\x1b[31m\nred\x9b2J\u202e"
    if case == "file name":
        bad = _write(tmp_path / f"{evil}.gguf", b"not a model" * 10)
    else:
        bad = _bad_dtype_tensor(hf_folder / "model.safetensors", evil)
    r = run_process("inspect", str(bad), tty=True)
    line = r.refused("no known dtype" if case == "tensor name" else "unknown format")
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in line), repr(line)
    assert "\\x1b[31m" in line and "\\x9b2J" in line and "\\u202e" in line and "red" in line


@pytest.mark.parametrize("command", ["audit", "compare", "fingerprint"])
def test_an_unusable_device_is_refused_before_any_file_is_read(command: str, tmp_path: Path) -> None:
    args = {"audit": ["nope.gguf"], "compare": ["a.gguf", "b.gguf"], "fingerprint": ["nope.gguf", "-o", str(tmp_path / "x")]}
    r = run_cli(command, *args[command], "--device", "tpu")
    assert r.code == 2
    assert "Invalid value for '--device': unknown device 'tpu'" in r.stderr and "Traceback" not in r.stderr
    r = run_cli(command, *args[command], env={"PROVENANCE_DEVICE": "cuda:x"})
    assert r.code == 2 and "unknown device 'cuda:x'" in r.stderr


def test_a_newline_in_a_file_name_stays_on_one_line(hf_folder: Path, tmp_path: Path, registry: dict[str, str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Text reports write a path's control characters escaped: a newline in a model's folder name no
    longer splits its path over two lines (issue 13, item 7)."""
    hf_folder.rename(tmp_path / "sto\nries\x1b[2J")
    monkeypatch.chdir(tmp_path)  # a short relative path: the table does not cut it
    for args in (["inspect", "sto\nries\x1b[2J"], ["audit", "sto\nries\x1b[2J", "--no-behaviour", "--fail-on", "none"]):
        r = run_cli(*args, env=registry)
        assert r.code == 0, r.stderr
        paths = [ln for ln in r.stdout.splitlines() if ln.startswith(("path", "file"))]
        assert paths and all("sto\\nries\\x1b[2J" in ln for ln in paths), paths
        assert not any(ln.lstrip().startswith("ries") for ln in r.stdout.splitlines()) and "\x1b" not in r.stdout
