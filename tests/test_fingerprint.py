"""Fingerprint files: deterministic, exact round trips, small, and hostile input refused."""

from __future__ import annotations

import contextlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance.checkpoint import open_checkpoint
from provenance.errors import FormatError
from provenance.evidence.behaviour.score import compare_behaviour
from provenance.evidence.weights.sketch import WeightSketch
from provenance.fingerprint.format import META_KEY, SUFFIX, Fingerprint, read_header
from provenance.fingerprint.registry import shipped_dir
from tests.models import MODELS, fetch, stories260k

SHIPPED = ["smollm2-135m-instruct", "stories260k", "qwen2.5-coder-0.5b-instruct", "gemma-3-270m"]


def shipped(slug: str) -> Path:
    path = shipped_dir() / f"{slug}{SUFFIX}"
    if not path.exists():
        pytest.skip(f"{path.name} not generated (python fingerprints/rebuild.py)")
    return path


@pytest.fixture(scope="module")
def stories_fp() -> Fingerprint:
    path = stories260k()
    if path is None:
        pytest.skip("../shared absent")
    with open_checkpoint(path) as ckpt:
        return Fingerprint.from_checkpoint(ckpt, name="stories260K", family="llama2.c", license="MIT", source="test")


def test_same_model_same_bytes(stories_fp: Fingerprint, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    with open_checkpoint(stories260k()) as ckpt:  # type: ignore[arg-type]
        again = Fingerprint.from_checkpoint(ckpt, name="stories260K", family="llama2.c", license="MIT", source="test")
    assert again.to_bytes() == stories_fp.to_bytes()
    assert stories_fp.created is None


def test_source_date_epoch_sets_created(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    with open_checkpoint(stories260k() or pytest.skip("../shared absent")) as ckpt:
        fp = Fingerprint.from_checkpoint(ckpt, name="s", weights=False, behaviour=False)
    assert fp.created == "2023-11-14T22:13:20Z"


def test_round_trip_is_exact(stories_fp: Fingerprint, tmp_path: Path) -> None:
    path = stories_fp.save(tmp_path / f"s{SUFFIX}")
    back = Fingerprint.load(path)
    assert back.to_bytes() == path.read_bytes()
    assert back.args == stories_fp.args and back.files == stories_fp.files
    assert back.behaviour is not None and stories_fp.behaviour is not None
    np.testing.assert_array_equal(back.behaviour.sample_logprobs, stories_fp.behaviour.sample_logprobs)
    assert back.behaviour.keys == stories_fp.behaviour.keys and back.behaviour.positions == stories_fp.behaviour.positions
    assert isinstance(back.weights, WeightSketch)
    np.testing.assert_array_equal(back.weights.invariants, stories_fp.weights.invariants)
    assert back.files[0]["sha256"].startswith("9414d5a2")


@pytest.mark.parametrize("slug", SHIPPED)
def test_shipped_fingerprints_round_trip_and_are_small(slug: str) -> None:
    path = shipped(slug)
    fp = Fingerprint.load(path)
    assert fp.to_bytes() == path.read_bytes()
    assert fp.tokenizer is None or fp.tokenizer.vocab_size == len(fp.tokenizer.tokens)
    size = path.stat().st_size
    bf16_size = 2 * fp.checkpoint["n_params"]
    if slug == "stories260k":  # a 1 MB model: the fixed costs (canary results, sketch probe) dominate
        assert size < 1_500_000
    else:  # no weights inside: a few percent of the model in 16-bit floats
        assert size < 0.04 * bf16_size
    if slug == "smollm2-135m-instruct":
        assert size < 10_000_000
    assert fp.weights is not None


def test_shipped_smollm2_fingerprint_describes_the_real_model() -> None:
    fp = Fingerprint.load(shipped("smollm2-135m-instruct"))
    assert fp.files[0]["sha256"] == MODELS["smollm2"].sha256
    assert fp.args is not None and (fp.args.dim, fp.args.n_layers, fp.args.vocab_size) == (576, 30, 49152)
    assert fp.tokenizer is not None and fp.tokenizer.tokens[fp.tokenizer.bos_id] == "<|im_start|>"
    assert fp.behaviour is not None and fp.behaviour.mode == "text" and len(fp.behaviour.positions) == 124
    named = fp.behaviour.positions.index("chat/name#0")
    top = [fp.behaviour.keys[i] for i in fp.behaviour.topk[named][:3]]
    assert b"I" in top  # SmolLM2's chat answers start with "I" ("I'm SmolLM ...")


@pytest.mark.slow
def test_fresh_smollm2_fingerprint_matches_the_shipped_one() -> None:
    """Recomputing on this machine reproduces the shipped file's content (bytes may differ across CPUs)."""
    ref = Fingerprint.load(shipped("smollm2-135m-instruct"))
    with open_checkpoint(fetch("smollm2")) as ckpt:
        fp = Fingerprint.from_checkpoint(ckpt, name=ref.name, family=ref.family, license=ref.license, source=ref.source)
    assert fp.tokenizer.tokens == ref.tokenizer.tokens and fp.args == ref.args and fp.files == ref.files
    np.testing.assert_allclose(fp.weights.invariants.astype(np.float32), ref.weights.invariants.astype(np.float32), atol=2e-3)
    assert compare_behaviour(ref.behaviour, fp.behaviour).score > 0.999


# -- hostile input -----------------------------------------------------------------------------

def _rewrite(src: bytes, edit_doc=None, edit_arrays=None) -> bytes:  # type: ignore[no-untyped-def]
    n = struct.unpack("<Q", src[:8])[0]
    header = json.loads(src[8 : 8 + n])
    doc = json.loads(header["__metadata__"][META_KEY])
    arrays = safetensors.numpy.load(src)
    if edit_doc:
        edit_doc(doc)
    if edit_arrays:
        edit_arrays(arrays)
    return safetensors.numpy.save(arrays, metadata={META_KEY: json.dumps(doc)})


CORRUPTIONS = {
    "empty": lambda b: b"",
    "truncated header": lambda b: b[:5],
    "truncated data": lambda b: b[: len(b) // 2],
    "huge header length": lambda b: struct.pack("<Q", 1 << 62) + b[8:],
    "not json": lambda b: b[:8] + b"\xff" * (struct.unpack("<Q", b[:8])[0]) + b[8 + struct.unpack("<Q", b[:8])[0] :],
    "no metadata": lambda b: safetensors.numpy.save({"x": np.zeros(3, np.float32)}),
    "metadata not json": lambda b: safetensors.numpy.save({"x": np.zeros(3, np.float32)}, metadata={META_KEY: "{"}),
    "other format": lambda b: _rewrite(b, edit_doc=lambda d: d.update(format="something-else")),
    "future version": lambda b: _rewrite(b, edit_doc=lambda d: d.update(format_version=99)),
    "missing identity": lambda b: _rewrite(b, edit_doc=lambda d: d.pop("identity")),
    "name not a string": lambda b: _rewrite(b, edit_doc=lambda d: d["identity"].update(name=[1])),
    "unknown arch field": lambda b: _rewrite(b, edit_doc=lambda d: d["arch"].update(evil=1)),
    "arch dim a string": lambda b: _rewrite(b, edit_doc=lambda d: d["arch"].update(dim="576")),
    "bos outside vocabulary": lambda b: _rewrite(b, edit_doc=lambda d: d["tokenizer"].update(bos_id=10**6)),
    "file size negative": lambda b: _rewrite(b, edit_doc=lambda d: d["files"][0].update(size=-1)),
    "token count lies": lambda b: _rewrite(b, edit_doc=lambda d: d["tokenizer"].update(n_tokens=10**9)),
    "positions lie": lambda b: _rewrite(b, edit_doc=lambda d: d["behaviour"]["positions"].pop()),
    "index out of range": lambda b: _rewrite(
        b, edit_arrays=lambda a: a["behaviour.topk"].__setitem__((0, 0), 10**6)),
    "wrong dtype": lambda b: _rewrite(
        b, edit_arrays=lambda a: a.update({"behaviour.topk": a["behaviour.topk"].astype(np.float32)})),
    "missing tensor": lambda b: _rewrite(b, edit_arrays=lambda a: a.pop("behaviour.sample")),
    "nan log-prob": lambda b: _rewrite(
        b, edit_arrays=lambda a: a["behaviour.sample_logprobs"].__setitem__((0, 0), np.nan)),
    "offsets backwards": lambda b: _rewrite(
        b, edit_arrays=lambda a: a["tokenizer.offsets"].__setitem__(1, -5)),
    "sketch shape": lambda b: _rewrite(
        b, edit_arrays=lambda a: a.update({"weights.embed": a["weights.embed"][:-1]})),
}


@pytest.fixture(scope="module")
def full_bytes() -> bytes:
    """A fingerprint with every part (tokenizer, sketch, text-mode behaviour) to damage."""
    return shipped("smollm2-135m-instruct").read_bytes()


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_malformed_files_raise_format_error(case: str, full_bytes: bytes, tmp_path: Path) -> None:
    bad = tmp_path / f"bad{SUFFIX}"
    bad.write_bytes(CORRUPTIONS[case](full_bytes))
    with pytest.raises(FormatError) as err:
        Fingerprint.load(bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_missing_file_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(FormatError):
        read_header(tmp_path / "absent.fingerprint.safetensors")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_damage_never_escapes_as_another_error(data: st.DataObject, stories_fp: Fingerprint, tmp_path: Path) -> None:
    raw = bytearray(stories_fp.to_bytes())
    n_header = struct.unpack("<Q", raw[:8])[0] + 8
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, n_header + 64))  # header and first tensors: where parsing decides
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(raw))))
    bad = tmp_path / f"fuzz{SUFFIX}"
    bad.write_bytes(bytes(raw[:cut]) if cut is not None else bytes(raw))
    with contextlib.suppress(FormatError):
        Fingerprint.load(bad)
