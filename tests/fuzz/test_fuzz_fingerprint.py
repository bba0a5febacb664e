"""Fuzz the fingerprint reader with mutations of a shipped fingerprint: its JSON document, its
safetensors header, its header bytes and its arrays."""

from __future__ import annotations

import json
import struct
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance.fingerprint.format import META_KEY, Fingerprint, read_header
from tests.fuzz.harness import fuzz_settings, survives
from tests.fuzz.mutators import dump_json, mutate_bytes, mutate_tree
from tests.hostile import corpus

pytestmark = pytest.mark.fuzz


@cache
def parts() -> tuple[dict, dict, bytes]:
    """(document, tensor entries, data) of the shipped stories260K fingerprint."""
    raw = corpus.fingerprint_path().read_bytes()
    (n,) = struct.unpack_from("<Q", raw)
    header = json.loads(raw[8 : 8 + n])
    doc = json.loads(header.pop("__metadata__")[META_KEY])
    return doc, header, raw[8 + n :]


def assemble(doc_text: str, entries: object, data: bytes) -> bytes:
    tensors = entries if isinstance(entries, dict) else {"entries": entries}
    header = dump_json({"__metadata__": {META_KEY: doc_text}, **tensors}).encode("utf-8", "surrogatepass")
    return struct.pack("<Q", len(header)) + header + data


def use(path) -> None:
    read_header(path)
    fp = Fingerprint.load(path)
    fp.to_bytes()  # everything read back must be writable again (registry add, rebuilds)
    if fp.weights is not None:
        fp.weights.head_rows()


@fuzz_settings(300)
@given(data=st.data())
def test_fingerprint(data: st.DataObject, tmp_path_factory) -> None:
    doc, entries, body = parts()
    mode = data.draw(st.sampled_from(["doc", "doc", "entries", "bytes", "arrays"]), label="mode")
    if mode == "doc":
        raw = assemble(dump_json(mutate_tree(data, doc)), entries, body)
    elif mode == "entries":
        raw = assemble(json.dumps(doc), mutate_tree(data, entries), body)
    elif mode == "bytes":
        original = assemble(json.dumps(doc), entries, body)
        raw = mutate_bytes(data, original, region=8 + struct.unpack_from("<Q", original)[0], fields=[(0, 8)])
    else:  # values inside the arrays: indexes out of range, NaN log-probabilities, broken offsets
        name = data.draw(st.sampled_from(sorted(entries)), label="array")
        start, end = entries[name]["data_offsets"]
        values = mutate_bytes(data, body[start:end], max_ops=2)
        values = (values + b"\0" * (end - start))[: end - start]  # same size: the header stays valid
        raw = assemble(json.dumps(doc), entries, body[:start] + values + body[end:])
    path = tmp_path_factory.getbasetemp() / "fuzz.fingerprint.safetensors"
    path.write_bytes(raw)
    survives(lambda: use(path))


def test_seed_fingerprint_round_trips(tmp_path) -> None:
    """Guard: the unmutated seed reassembles into a file that loads and uses every part."""
    doc, entries, body = parts()
    path = tmp_path / "seed.fingerprint.safetensors"
    path.write_bytes(assemble(json.dumps(doc), entries, body))
    use(path)
    assert Fingerprint.load(path).weights is not None and Fingerprint.load(path).behaviour is not None
