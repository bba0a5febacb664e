"""Fuzz every checkpoint loader with mutations of real files: success or one ProvenanceError line,
within the time and memory bounds of :mod:`tests.fuzz.harness`."""

from __future__ import annotations

import json
import struct
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance.checkpoint import open_checkpoint
from provenance.describe import describe_checkpoint
from tests.fuzz.conftest import fresh, seed
from tests.fuzz.harness import fuzz_settings, survives
from tests.fuzz.mutators import (
    Field,
    dump_json,
    mutate_bytes,
    mutate_json_file,
    mutate_tree,
)
from tests.hostile import corpus

pytestmark = pytest.mark.fuzz


def exercise(path: Path, tensors: int | None = None) -> None:
    """What the commands do with a checkpoint: describe it (tokenizer included), read its tensors."""
    with open_checkpoint(path) as c:
        describe_checkpoint(c, hashes=False)
        names = c.names()
        if tensors is not None:  # the first, the last and a few between
            step = max(1, len(names) // max(tensors - 1, 1))
            names = sorted(set(names[::step] + names[-1:]))
        for name in names:
            c.get(name)


# -- GGUF: SmolLM2's real header region --------------------------------------------------------
@cache
def gguf_fields(head: bytes) -> tuple[list[Field], list[Field]]:
    """(structural fields, array-element length fields) of a GGUF header: every integer the parser trusts."""
    structure: list[Field] = [(4, 4), (8, 8), (16, 8)]
    elements: list[Field] = []
    pos = 24
    n_tensors, n_kv = struct.unpack_from("<QQ", head, 8)
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def string(record: list[Field]) -> None:
        nonlocal pos
        record.append((pos, 8))
        pos += 8 + struct.unpack_from("<Q", head, pos)[0]

    for _ in range(n_kv):
        string(structure)
        structure.append((pos, 4))
        (vtype,) = struct.unpack_from("<I", head, pos)
        pos += 4
        if vtype == 8:
            string(structure)
        elif vtype == 9:
            structure += [(pos, 4), (pos + 4, 8)]
            itype, count = struct.unpack_from("<IQ", head, pos)
            pos += 12
            for _ in range(count):
                if itype == 8:
                    string(elements)
                else:
                    pos += sizes[itype]
        else:
            pos += sizes[vtype]
    for _ in range(n_tensors):
        string(structure)
        structure.append((pos, 4))
        (n_dims,) = struct.unpack_from("<I", head, pos)
        structure += [(pos + 4 + 8 * i, 8) for i in range(n_dims)]
        pos += 4 + 8 * n_dims
        structure += [(pos, 4), (pos + 4, 8)]
        pos += 12
    return structure, elements


@pytest.fixture(scope="module")
def smol_head() -> tuple[bytes, int]:
    return corpus.smol_gguf_header(Path())


@fuzz_settings(120)
@given(data=st.data())
def test_gguf_header(data: st.DataObject, smol_head: tuple[bytes, int], tmp_path_factory) -> None:
    head, size = smol_head
    structure, elements = gguf_fields(head)
    kind = data.draw(st.sampled_from(["fields", "fields", "front", "anywhere", "elements"]), label="kind")
    if kind == "fields":
        raw = mutate_bytes(data, head, fields=structure, max_ops=3)
    elif kind == "elements":
        raw = mutate_bytes(data, head, fields=elements, max_ops=2)
    else:
        raw = mutate_bytes(data, head, region=8192 if kind == "front" else None)
    # keep it small: the mutated header, then a sparse body (truncated at a drawn point, or whole)
    body = data.draw(st.sampled_from([size, size, len(raw) + 4096, len(raw)]), label="size")
    path = corpus.write_sparse(tmp_path_factory.getbasetemp() / "fuzz.gguf", raw, body)
    survives(lambda: exercise(path, tensors=4))


# -- safetensors: the header of a real export ---------------------------------------------------
@fuzz_settings(300)
@given(data=st.data())
def test_safetensors_header(data: st.DataObject, stories_hf_seed: Path, tmp_path_factory) -> None:
    folder = fresh(tmp_path_factory.getbasetemp() / "st", stories_hf_seed)
    target = folder / "model.safetensors"
    raw = target.read_bytes()
    (n,) = struct.unpack_from("<Q", raw)
    if data.draw(st.booleans(), label="structured"):
        header = mutate_tree(data, json.loads(raw[8 : 8 + n]))
        text = dump_json(header).encode("utf-8", "surrogatepass")
        n_written = data.draw(st.sampled_from([len(text), len(text), len(text) + 1, len(text) - 1, 1 << 40]))
        raw = struct.pack("<Q", max(n_written, 0)) + text + raw[8 + n :]
    else:
        raw = mutate_bytes(data, raw, region=8 + n, fields=[(0, 8)])
    target.write_bytes(raw)
    survives(lambda: exercise(folder))


# -- llama2.c: legacy and ak42 headers ------------------------------------------------------------
@pytest.fixture(scope="module")
def llama2c_seeds(seeds: Path) -> dict[int, Path]:
    return {v: corpus.stories_llama2c(seeds / f"l2c-v{v}", v) for v in (0, 1, 2)}


@fuzz_settings(300)
@given(data=st.data())
def test_llama2c_header(data: st.DataObject, llama2c_seeds: dict[int, Path], tmp_path_factory) -> None:
    version = data.draw(st.sampled_from([0, 1, 2]), label="version")
    src = llama2c_seeds[version]
    raw = src.read_bytes()
    fields = [(4 * i, 4) for i in range(7)] if version == 0 else [(0, 4), (4, 4), *((8 + 4 * i, 4) for i in range(7)),
                                                                  (36, 1), (37, 4)]  # fmt: skip
    raw = mutate_bytes(data, raw, region=256, fields=fields, max_ops=3)
    if data.draw(st.booleans(), label="resize"):  # the size is part of the format's validation
        raw = raw[: data.draw(st.integers(0, len(raw)))] if data.draw(st.booleans()) else raw + b"\0" * 4096
    folder = fresh(tmp_path_factory.getbasetemp() / "l2c", src.parent)
    (folder / "model.bin").write_bytes(raw)
    survives(lambda: exercise(folder / "model.bin"))


# -- JSON sidecars: config.json, params.json, the shard index, adapter_config.json ------------------
@fuzz_settings(300)
@given(data=st.data())
def test_config_json(data: st.DataObject, stories_hf_seed: Path, tmp_path_factory) -> None:
    folder = fresh(tmp_path_factory.getbasetemp() / "cfg", stories_hf_seed)
    mutate_json_file(data, folder / "config.json")
    survives(lambda: exercise(folder))


@pytest.fixture(scope="module")
def meta_seed(seeds: Path) -> Path:
    return seed(seeds, "meta", corpus.stories_meta)


@fuzz_settings(150)
@given(data=st.data())
def test_params_json(data: st.DataObject, meta_seed: Path, tmp_path_factory) -> None:
    folder = fresh(tmp_path_factory.getbasetemp() / "params", meta_seed)
    mutate_json_file(data, folder / "params.json")
    survives(lambda: exercise(folder))


@pytest.fixture(scope="module")
def sharded_seed(seeds: Path) -> Path:
    return seed(seeds, "sharded", lambda p: corpus.stories_hf(p, shards=3))


@fuzz_settings(150)
@given(data=st.data())
def test_shard_index(data: st.DataObject, sharded_seed: Path, tmp_path_factory) -> None:
    folder = fresh(tmp_path_factory.getbasetemp() / "index", sharded_seed)
    mutate_json_file(data, folder / "model.safetensors.index.json")
    survives(lambda: exercise(folder))


@pytest.fixture(scope="module")
def lora_seed(seeds: Path) -> Path:
    return seed(seeds, "lora", corpus.stories_lora)


@fuzz_settings(200)
@given(data=st.data())
def test_lora_adapter(data: st.DataObject, lora_seed: Path, tmp_path_factory) -> None:
    folder = fresh(tmp_path_factory.getbasetemp() / "lora", lora_seed)
    if data.draw(st.booleans(), label="config"):
        mutate_json_file(data, folder / "adapter_config.json")
    else:
        weights = folder / "adapter_model.safetensors"
        raw = weights.read_bytes()
        weights.write_bytes(mutate_bytes(data, raw, region=8 + struct.unpack_from("<Q", raw)[0], fields=[(0, 8)]))
    survives(lambda: exercise(folder))


# -- model card front matter ---------------------------------------------------------------------
HOSTILE_YAML = [
    "a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c]",
    "license: !!python/object/apply:os.system ['touch /tmp/pwned']",
    "license: " + "[" * 5000 + "]" * 5000,
    "license: " + "1" * 6000,
    "base_model: {a: {b: {c: [x, y]}}}\nlicense: [1, 2]",
    "license: ~\nbase_model: 12\nmodel_name: !!binary aGVsbG8=",
    "? [a, b]\n: c\nlicense: mit",
    "license: mit\n...\n---\nlicense: other",
    "\t- bad indentation",
]


@fuzz_settings(200)
@given(data=st.data())
def test_model_card(data: st.DataObject, stories_hf_seed: Path, tmp_path_factory) -> None:
    import yaml

    folder = fresh(tmp_path_factory.getbasetemp() / "card", stories_hf_seed)
    card = (folder / "README.md").read_text()
    mode = data.draw(st.sampled_from(["tree", "bytes", "snippet"]), label="mode")
    if mode == "tree":
        front = yaml.safe_load(card.split("---")[1])
        text = "---\n" + yaml.safe_dump(mutate_tree(data, front), allow_unicode=True) + "---\n"
        raw = text.encode("utf-8", "surrogatepass")
    elif mode == "bytes":
        raw = mutate_bytes(data, card.encode())
    else:
        raw = ("---\n" + data.draw(st.sampled_from(HOSTILE_YAML)) + "\n---\n# card\n").encode()
    (folder / "README.md").write_bytes(raw)
    survives(lambda: exercise(folder, tensors=2))


# -- torch archives (pytorch_model.bin / consolidated.00.pth) -----------------------------------------
@fuzz_settings(150)
@given(data=st.data())
def test_torch_archive(data: st.DataObject, meta_seed: Path, tmp_path_factory) -> None:
    folder = fresh(tmp_path_factory.getbasetemp() / "pth", meta_seed)
    shard = folder / "consolidated.00.pth"
    raw = shard.read_bytes()
    # zip local headers and the pickle are at the front, the central directory at the end
    end = data.draw(st.booleans(), label="end")
    tail = 4096 if end else len(raw)
    mutated = mutate_bytes(data, raw[-tail:] if end else raw, region=None if end else 4096)
    shard.write_bytes(raw[:-tail] + mutated if end else mutated)
    survives(lambda: exercise(folder))
