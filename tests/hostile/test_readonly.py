"""Read-only: no command modifies, creates or deletes anything in the audited model folders, and the
readers cannot: they open files read-only (checked statically, module by module)."""

from __future__ import annotations

import ast
import hashlib
import os
from pathlib import Path

import pytest

from tests.exporters import save_gguf
from tests.hostile import corpus
from tests.hostile.conftest import REPO, run_cli

MIT = "MIT License\n\nCopyright (c) 2023 Andrej Karpathy\n\nPermission is hereby granted, free of charge...\n"


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: kind, size, sha256 (files), link target (links), mode and mtime."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = os.lstat(p)
        if p.is_symlink():
            detail: object = os.readlink(p)
        elif p.is_file():
            detail = hashlib.sha256(p.read_bytes()).hexdigest()
        else:
            detail = "dir"
        out[str(p.relative_to(root))] = (detail, st.st_size, st.st_mode, st.st_mtime_ns, st.st_ctime_ns)
    return out


@pytest.mark.slow
def test_no_command_modifies_the_audited_files(tmp_path: Path, registry: dict[str, str]) -> None:
    models = tmp_path / "models"
    hf = corpus.stories_hf(models / "hf")
    (hf / "LICENSE").write_text(MIT)
    l2c = corpus.stories_llama2c(models / "l2c")
    (models / "gguf").mkdir()
    gguf = save_gguf(corpus.stories_state(), models / "gguf" / "stories.Q8_0.gguf", "Q8_0", args=corpus.stories_args())
    meta = corpus.stories_meta(models / "meta")
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(models)
    assert len(before) >= 14
    runs = [
        ("inspect", str(hf)), ("inspect", str(l2c)), ("inspect", str(gguf), "--format", "json"), ("inspect", str(meta)),
        ("audit", str(hf), "--format", "sarif", "-o", str(out / "a.sarif")),
        ("fingerprint", str(hf), "-o", str(out / "hf.fingerprint.safetensors")),
        ("registry", "add", str(l2c), "--name", "stories-l2c", "--registry-dir", str(out / "registry")),
        ("compare", str(hf), str(l2c), "--format", "json"), ("compare", str(meta), str(gguf), "--no-behaviour"),
        ("compare", str(out / "hf.fingerprint.safetensors"), str(gguf), "--no-behaviour"),
    ]  # fmt: skip
    failed = []
    for args in runs:
        r = run_cli(*args, env=registry)
        if r.code not in (0, 1):
            failed.append((args, r.stderr[-300:]))
    assert snapshot(models) == before
    assert failed == []


READERS = [
    *(p for d in ("checkpoint", "evidence", "tokenizer") for p in sorted((REPO / "provenance" / d).rglob("*.py"))),
    *(REPO / "provenance" / f for f in ("describe.py", "audit.py", "compare.py", "knowledge/license_text.py",
                                        "fileio.py", "cli/__init__.py")),
]  # fmt: skip
#: the one writer of outputs (provenance.fileio.write_output: never over an input, see test_output.py)
WRITERS = ("output_stream", "write_output")  # fileio's one writer: the only code allowed to write
MUTATORS = {"write_text", "write_bytes", "unlink", "rename", "touch", "chmod", "rmdir", "mkdir", "symlink_to",
            "hardlink_to", "truncate", "os.remove", "os.unlink", "os.rename", "os.replace", "os.chmod", "os.utime",
            "shutil.move", "shutil.rmtree", "shutil.copy", "shutil.copyfile", "os.truncate"}  # fmt: skip


def _const(node: ast.AST | None) -> object:
    return node.value if isinstance(node, ast.Constant) else node


def _offenders(source: str, where: str) -> list[str]:
    """Calls in ``source`` that could write to a file: write modes, writable maps, file mutations."""
    found = []
    for node in ast.walk(ast.parse(source, where)):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        kw = {k.arg: k.value for k in node.keywords}
        here = f"{where}:{node.lineno}: {ast.unparse(node)[:80]}"
        if name == "open" or name.endswith(".open"):  # builtins.open / Path.open / io.open
            pos = 1 if name == "open" else 0
            mode = _const(kw.get("mode", node.args[pos] if len(node.args) > pos else None))
            if mode is not None and (not isinstance(mode, str) or set(mode) & set("wax+")):
                found.append(here)
        elif name.endswith("mmap.mmap"):
            access = kw.get("access")
            if access is None or not ast.unparse(access).endswith("ACCESS_READ"):
                found.append(here)
        elif name.endswith("memmap"):
            if _const(kw.get("mode")) != "r":
                found.append(here)
        elif name in MUTATORS or name.rsplit(".", 1)[-1] in MUTATORS:
            found.append(here)
    return found


def test_the_scan_finds_writes() -> None:
    bad = """
open(p, "r+b"); open(p, mode="w"); Path(p).open("ab"); mmap.mmap(f.fileno(), 0)
np.memmap(p, mode="r+"); p.write_bytes(b""); os.remove(p); open(p, m)
open(p, "rb"); Path(p).open(); mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ); np.memmap(p, mode="r")
"""
    assert len(_offenders(bad, "bad.py")) == 8


def _without_the_writer(source: str) -> str:
    tree = ast.parse(source)
    tree.body = [n for n in tree.body if not (isinstance(n, ast.FunctionDef) and n.name in WRITERS)]
    return ast.unparse(tree)


def test_readers_open_files_read_only() -> None:
    assert all(p.exists() for p in READERS), [p for p in READERS if not p.exists()]
    offenders = []
    for path in READERS:
        offenders += _offenders(_without_the_writer(path.read_text()), str(path.relative_to(REPO)))
    assert offenders == []
    # the writer is there, and it is the one that writes
    assert _offenders((REPO / "provenance" / "fileio.py").read_text(), "fileio.py")
