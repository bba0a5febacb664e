"""Malformed, truncated and hostile files: always a one-line FormatError naming the file."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.checkpoint import Checkpoint, detect_format, open_checkpoint
from provenance.errors import FormatError, ProvenanceError
from tests.exporters import save_gguf, save_hf, save_llama2c


def _fails(path: Path, match: str | None = None) -> FormatError:
    with pytest.raises(FormatError, match=match) as err:
        c = open_checkpoint(path)
        for _ in c.items():  # a lazy read must fail cleanly too
            pass
    msg = str(err.value)
    assert "\n" not in msg and err.value.path is not None and Path(err.value.path).name in msg
    return err.value


@pytest.fixture(scope="module")
def small_files(stories: Checkpoint, tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("small")
    torch.save(dict(stories.items()), d / "pytorch_model.bin")
    return {
        "gguf": save_gguf(stories, d / "m.gguf", "Q8_0"),
        "hf": save_hf(stories, None, d / "hf") / "model.safetensors",
        "llama2c": save_llama2c(stories, d / "v2.bin", version=2),
        "bin": d / "pytorch_model.bin",
    }


def test_unknown_and_missing(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello, this is not a model\n" * 10)
    _fails(tmp_path / "notes.txt", "unknown format")
    (tmp_path / "empty.bin").write_bytes(b"")
    _fails(tmp_path / "empty.bin", "unknown format")
    _fails(tmp_path / "nope.gguf", "no such file")
    _fails(tmp_path, "unknown format")


def test_missing_config(small_files: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(small_files["hf"].read_bytes())
    assert "config.json" in str(_fails(tmp_path, "missing config.json"))
    _fails(tmp_path / "model.safetensors", "without config.json")


@pytest.mark.parametrize("kind", ["gguf", "hf", "llama2c", "bin"])
@pytest.mark.parametrize("keep", [0.002, 0.5, 0.999])
def test_truncated(kind: str, keep: float, small_files: dict[str, Path], tmp_path: Path) -> None:
    src = small_files[kind]
    data = src.read_bytes()
    folder = tmp_path / "m"
    folder.mkdir()
    if kind in ("hf", "bin"):
        (folder / "config.json").write_text((small_files["hf"].parent / "config.json").read_text())
    target = folder / src.name
    target.write_bytes(data[: int(len(data) * keep)])
    _fails(target)


def test_corrupt_safetensors_headers(small_files: dict[str, Path], tmp_path: Path) -> None:
    good = small_files["hf"].read_bytes()
    (n,) = struct.unpack("<Q", good[:8])
    header = json.loads(good[8 : 8 + n])
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text((small_files["hf"].parent / "config.json").read_text())
    target = folder / "model.safetensors"

    def write(h: dict | bytes, tail: bytes = good[8 + n :]) -> None:
        raw = h if isinstance(h, bytes) else json.dumps(h).encode()
        target.write_bytes(struct.pack("<Q", len(raw)) + raw + tail)

    write(b"{not json" + b" " * 20)
    _fails(target, "corrupt safetensors header")
    target.write_bytes(struct.pack("<Q", 1 << 60) + b"{" + b" " * 100)
    start = time.monotonic()
    _fails(target, "header claims")  # refused before any allocation
    assert time.monotonic() - start < 1
    names = [k for k in header if k != "__metadata__"]
    a, b = names[0], names[1]
    write({**header, b: {**header[b], "data_offsets": header[a]["data_offsets"]}})
    _fails(target, "overlap|cannot hold")
    write({**header, a: {**header[a], "data_offsets": [0, 10**12]}})
    _fails(target, "cannot hold|outside")
    write({**header, a: {**header[a], "shape": [1 << 40, 1 << 40]}})
    _fails(target, "elements")


def test_index_cannot_escape_the_folder(small_files: dict[str, Path], tmp_path: Path) -> None:
    outside = tmp_path / "secret.safetensors"
    outside.write_bytes(small_files["hf"].read_bytes())
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text((small_files["hf"].parent / "config.json").read_text())
    index = folder / "model.safetensors.index.json"
    for shard, match in [
        ("../secret.safetensors", "escapes"),
        (str(outside), "escapes"),
        ("missing.safetensors", "missing"),
    ]:
        index.write_text(json.dumps({"weight_map": {"model.norm.weight": shard}}))
        _fails(folder, match)
    (folder / "link.safetensors").symlink_to(outside)
    index.write_text(json.dumps({"weight_map": {"model.norm.weight": "link.safetensors"}}))
    _fails(folder, "outside")
    (folder / "loop.safetensors").symlink_to(folder / "loop.safetensors")
    index.write_text(json.dumps({"weight_map": {"model.norm.weight": "loop.safetensors"}}))
    _fails(folder, "resolve|missing")


def _gguf_header(n_tensors: int, kvs: bytes, n_kv: int) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", 3, n_tensors, n_kv) + kvs


def _key(k: str) -> bytes:
    return struct.pack("<Q", len(k)) + k.encode()


def test_gguf_hostile_counts(tmp_path: Path) -> None:
    target = tmp_path / "evil.gguf"
    # an array claiming 2^60 uint32 elements: gguf.GGUFReader would spin here
    target.write_bytes(_gguf_header(0, _key("general.x") + struct.pack("<IIQ", 9, 4, 1 << 60), 1) + b"\0" * 64)
    start = time.monotonic()
    _fails(target, "overruns")
    assert time.monotonic() - start < 1
    target.write_bytes(_gguf_header(1 << 62, b"", 0) + b"\0" * 64)
    _fails(target, "count")
    target.write_bytes(_gguf_header(0, _key("k") + struct.pack("<I", 77), 1) + b"\0" * 64)
    _fails(target, "value type")
    # a tensor whose data lies beyond the end of the file
    info = _key("token_embd.weight") + struct.pack("<IQQIQ", 2, 64, 512, 0, 1 << 40)
    target.write_bytes(
        _gguf_header(1, _key("general.architecture") + struct.pack("<I", 8) + _key("llama"), 1) + info + b"\0" * 64
    )
    _fails(target, "outside")


def test_gguf_array_over_the_element_limit(tmp_path: Path) -> None:
    n = 5 << 20  # 5M uint8 elements: would become 5M Python ints
    target = tmp_path / "big.gguf"
    target.write_bytes(_gguf_header(0, _key("general.x") + struct.pack("<IIQ", 9, 0, n) + b"\0" * n, 1))
    _fails(target, "over the limit")


def test_config_claiming_absurd_layer_count(small_files: dict[str, Path], tmp_path: Path) -> None:
    # found by fuzzing: a per-layer table for 10^9 layers was built before any tensor was checked
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(small_files["hf"].read_bytes())
    cfg = json.loads((small_files["hf"].parent / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "num_hidden_layers": 10**9}))
    _fails(folder, "claims 1000000000 layers")


def test_detection_by_content_not_extension(small_files: dict[str, Path], tmp_path: Path) -> None:
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(small_files["gguf"].read_bytes())
    assert detect_format(renamed) == "gguf"
    assert detect_format(small_files["llama2c"]) == "llama2c"
    assert detect_format(small_files["hf"].parent) == "hf"


@pytest.mark.parametrize("kind", ["gguf", "hf", "llama2c"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_corruption_never_escapes(kind: str, data, small_files: dict[str, Path], tmp_path_factory) -> None:
    raw = bytearray(small_files[kind].read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, min(len(raw), 4096) - 1))  # headers live at the front
        raw[pos] = data.draw(st.integers(0, 255))
    folder = tmp_path_factory.mktemp("fuzz")
    if kind == "hf":
        (folder / "config.json").write_text((small_files["hf"].parent / "config.json").read_text())
    target = folder / small_files[kind].name
    target.write_bytes(bytes(raw))
    try:
        c = open_checkpoint(target)
        for _ in c.items():
            pass
    except ProvenanceError as e:
        assert "\n" not in str(e)


@pytest.mark.parametrize(("version", "message"), [
    (struct.pack("<I", 0), "unsupported GGUF version 0"),
    (struct.pack("<I", 1), "unsupported GGUF version 1"),
    (struct.pack("<I", 4), "unsupported GGUF version 4"),
    (struct.pack(">I", 3), "big-endian GGUF files are not supported"),
    (struct.pack(">I", 2), "big-endian GGUF files are not supported"),
])  # fmt: skip
def test_gguf_version_is_reported_as_what_it_is(version: bytes, message: str, small_files: dict[str, Path],
                                                tmp_path: Path) -> None:
    """Version 0 used to be called big-endian (issue 13, item 7); a real big-endian file still is."""
    raw = bytearray(small_files["gguf"].read_bytes())
    raw[4:8] = version
    target = tmp_path / "m.gguf"
    target.write_bytes(bytes(raw))
    with pytest.raises(ProvenanceError, match=message) as err:
        open_checkpoint(target)
    assert "\n" not in str(err.value) and err.value.path == str(target)
