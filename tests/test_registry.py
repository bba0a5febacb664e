"""The fingerprint registry: shipped entries, a user folder searched after them, add/find/remove."""

from __future__ import annotations

from pathlib import Path

import pytest

from provenance.errors import FormatError, ProvenanceError
from provenance.fingerprint import registry
from provenance.fingerprint.format import SUFFIX
from tests.models import stories260k

SHIPPED_NAMES = {"SmolLM2-135M-Instruct", "stories260K", "Qwen2.5-Coder-0.5B-Instruct", "gemma-3-270m"}


@pytest.fixture
def user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "user-registry"
    monkeypatch.setenv(registry.ENV, str(folder))
    return folder


def test_shipped_registry_lists_the_public_references(user: Path) -> None:
    entries = registry.list_entries()
    shipped = {e.name for e in entries if e.origin == "shipped"}
    if not shipped:
        pytest.skip("no shipped fingerprints generated (python fingerprints/rebuild.py)")
    assert shipped == SHIPPED_NAMES
    smol = registry.find("smollm2-135m-instruct")  # by file slug, case-insensitively
    assert smol.name == "SmolLM2-135M-Instruct" and smol.license == "apache-2.0" and smol.arch == "llama"
    assert smol.has_weights and smol.has_behaviour and smol.vocab_size == 49152
    gemma = registry.find("Gemma-3-270m")
    assert gemma.arch == "gemma3" and not gemma.has_behaviour  # no forward pass for gemma3
    assert registry.load("stories260K").args.dim == 64


def test_user_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(registry.ENV, str(tmp_path / "env"))
    assert registry.user_dir() == tmp_path / "env"
    assert registry.user_dir(tmp_path / "opt") == tmp_path / "opt"  # --registry-dir wins
    monkeypatch.delenv(registry.ENV)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert registry.user_dir() == tmp_path / "xdg" / "provenance" / "fingerprints"


def test_add_find_load_remove(user: Path) -> None:
    path = stories260k()
    if path is None:
        pytest.skip("../shared absent")
    seen: list[str] = []
    entry = registry.add(path, "My Stories", family="llama2.c", license="MIT",
                         progress=lambda stage, done, total: seen.append(stage))
    assert entry.origin == "user" and entry.path == user / f"my-stories{SUFFIX}"
    assert {"hashing", "weight sketch", "canaries"} <= set(seen)
    listed = registry.list_entries()
    assert listed[-1].name == "My Stories"  # user entries come after the shipped ones
    assert [e.origin for e in listed] == sorted((e.origin for e in listed), key=["shipped", "user"].index)
    fp = registry.load("my stories".upper().lower())
    assert fp.source == str(path) and fp.family == "llama2.c" and fp.behaviour is not None
    with pytest.raises(ProvenanceError, match="already"):
        registry.add(path, "my stories")
    registry.add(path, "my stories", overwrite=True)
    assert registry.remove("My Stories") == entry.path and not entry.path.exists()
    with pytest.raises(ProvenanceError, match="no fingerprint named"):
        registry.find("My Stories")


def test_shipped_names_cannot_be_shadowed_or_removed(user: Path) -> None:
    if not any(e.origin == "shipped" for e in registry.list_entries()):
        pytest.skip("no shipped fingerprints generated")
    path = stories260k() or pytest.skip("../shared absent")
    with pytest.raises(ProvenanceError, match="shipped"):
        registry.add(path, "stories260K")
    with pytest.raises(ProvenanceError, match="cannot be removed"):
        registry.remove("stories260K")


def test_malformed_user_entry_is_a_format_error(user: Path) -> None:
    user.mkdir()
    (user / f"broken{SUFFIX}").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(FormatError, match="broken"):
        registry.list_entries()


def test_bad_names(user: Path) -> None:
    with pytest.raises(ProvenanceError):
        registry.slug("///")
    assert registry.slug("Llama-2 7B (HF)") == "llama-2-7b-hf"
