"""Discovery rules (provenance.scan.discover) and the cache's line discipline, on files made here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from provenance.scan.cache import ResultCache, model_key
from provenance.scan.discover import discover, read_manifest
from tests.models import stories260k


def _touch(path: Path, data: bytes = b"{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    src = stories260k()
    if src is None:
        pytest.skip("stories260K needs ../shared (absent)")
    root = tmp_path / "root"
    _touch(root / "hf" / "config.json")
    _touch(root / "hf" / "model.safetensors")
    _touch(root / "hf" / "quant.gguf", b"GGUF")  # a quantization beside the weights: a model of its own
    _touch(root / "hf" / "checkpoint-5" / "config.json")
    _touch(root / "hf" / "checkpoint-5" / "model-00001-of-00002.safetensors")
    _touch(root / "tokenizer-only" / "config.json")  # no weights: not a model
    _touch(root / "no-config" / "model.safetensors")  # weights without config.json: a model whose audit fails
    _touch(root / "adapter" / "adapter_config.json")
    _touch(root / "adapter" / "adapter_model.safetensors")
    _touch(root / "meta" / "params.json")
    _touch(root / "meta" / "consolidated.00.pth")
    _touch(root / ".cache" / "hidden.gguf", b"GGUF")
    (root / "llama2c").mkdir()
    shutil.copyfile(src, root / "llama2c" / "tiny.bin")
    _touch(root / "llama2c" / "README.md", b"---\nlicense: mit\n---\n")
    _touch(root / "llama2c" / "noise.bin", os.urandom(1000))  # a .bin that is not llama2.c
    outside = _touch(tmp_path / "outside" / "secret.gguf", b"GGUF")
    (root / "escape.gguf").symlink_to(outside)  # a file symlink out of the root: never read
    (root / "linked-dir").symlink_to(outside.parent, target_is_directory=True)  # folder symlinks: never followed
    (root / "inside.gguf").symlink_to(root / "hf" / "quant.gguf")  # a file symlink inside the root: used
    return root


def test_discovery_rules(tree: Path) -> None:
    found = {c.path.relative_to(tree).as_posix(): c for c in discover([tree])}
    assert list(found) == sorted(found)
    assert set(found) == {"adapter", "hf", "hf/checkpoint-5", "hf/quant.gguf", "inside.gguf", "llama2c/tiny.bin",
                          "meta", "no-config"}
    assert [f.name for f in found["hf"].files] == ["config.json", "model.safetensors"]  # not its GGUF, not subfolders
    assert [f.name for f in found["llama2c/tiny.bin"].files] == ["tiny.bin", "README.md", "noise.bin"]  # model, context


def test_a_root_that_is_a_model_and_a_manifest(tree: Path, tmp_path: Path) -> None:
    manifest = _touch(tmp_path / "list.txt", b"# models to scan\n\nroot/hf\n" + str(tree / "llama2c" / "tiny.bin").encode())
    found = discover(read_manifest(manifest))
    assert [c.path.name for c in found] == ["hf", "checkpoint-5", "quant.gguf", "tiny.bin"]
    assert discover([tree / "hf", tree / "hf" / "quant.gguf"]) == discover([tree / "hf"])  # each model once


def test_torn_last_line_is_ignored_then_cut(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path)
    cache.append({"key": "a", "status": "ok"})
    with open(cache.results, "ab") as f:
        f.write(b'{"key": "b", "sta')  # killed mid-write
    assert set(cache.load()) == {"a"}
    cache.append({"key": "c", "status": "ok"})
    assert cache.results.read_bytes().splitlines() == [b'{"key":"a","status":"ok"}', b'{"key":"c","status":"ok"}']
    assert set(cache.load()) == {"a", "c"}


def test_key_is_content_not_name() -> None:
    env = {"tool": "x"}
    assert model_key([("<model>", "00"), ("README.md", "11")], env) == model_key([("README.md", "11"), ("<model>", "00")], env)
    assert model_key([("<model>", "00")], env) != model_key([("<model>", "01")], env)
    assert model_key([("<model>", "00")], env) != model_key([("<model>", "00")], {"tool": "y"})
