"""Fuzz what issue 13's cost bombs exposed: chat templates as programs (generated from a grammar of
loops, string growth, filters, recursion), tokenizer configurations (every field of
tokenizer_config.json and the truncation/padding/added-token sections of tokenizer.json given hostile
values), and torch archives whose size and storage claims are rewritten (storage element counts,
compressed or resized zip members, truncation)."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from provenance.checkpoint.common import torch_load
from provenance.tokenizer.chat import MAX_TEMPLATE_OUTPUT
from provenance.tokenizer.files import load_tokenizer
from provenance.tokenizer.vocab import Tokenizer
from tests.fuzz.conftest import fresh
from tests.fuzz.harness import fuzz_settings, survives
from tests.fuzz.mutators import BOUNDARY_INTS
from tests.fuzz.test_fuzz_tokenizers import use
from tests.hostile import costs

pytestmark = pytest.mark.fuzz

# -- chat templates as programs ------------------------------------------------------------------------
SIZES = st.sampled_from([0, 1, 3, 64, 1000, 100000, 2**31 - 1])
VALUES = ["ns.s", "messages[0].content", "bos_token", "messages|map(attribute='content')|join",
          "messages|tojson", "range(N)|list", "(range(N)|list)|sort", "'x'.center(N)", "'%0*d'|format(N, 1)",
          "ns.s ~ ns.s", "ns.s|join", "'%s%s'|format(ns.s, ns.s)", "[ns.s, ns.s]|sum(start=[])", "ns.s * N",
          "10 ** N", "ns.s|length", "f(N)", "raise_exception('no')", "messages[N]"]  # fmt: skip


@st.composite
def programs(draw: st.DrawFn, depth: int = 0) -> str:
    """A template: statements that loop, grow values, call filters and macros, print."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        value = draw(st.sampled_from(VALUES)).replace("N", str(draw(SIZES)))
        kind = draw(st.sampled_from(["print", "set", "loop", "if"] if depth < 2 else ["print", "set"]))
        if kind == "print":
            out.append("{{ " + value + " }}")
        elif kind == "set":
            out.append("{% set ns.s = " + value + " %}")
        elif kind == "loop":
            out.append(f"{{% for i in range({draw(SIZES)}) %}}{draw(programs(depth + 1))}{{% endfor %}}")
        else:
            out.append(f"{{% if {value} %}}{draw(programs(depth + 1))}{{% endif %}}")
    return "".join(out)


@fuzz_settings(8)
@given(program=programs(), start=st.sampled_from(["'ab'", "['ab']", "[[1]]", "0"]))
def test_chat_template_programs(program: str, start: str, tmp_path_factory) -> None:
    template = ("{% macro f(n) %}{{ f(n - 1) if n > 0 else '' }}{% endmacro %}"
                f"{{% set ns = namespace(s={start}) %}}{program}")  # fmt: skip
    tok = Tokenizer("plain", ["<s>", "</s>"], special_ids=[0, 1], surface="plain", encoder=None, decoder=None,
                    bos_id=0, eos_id=1, chat_template=template, source=tmp_path_factory.getbasetemp() / "chat.jinja")
    chats = [[{"role": "user", "content": "Hi"}], [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]]
    out: list[str] = []
    survives(lambda: out.extend(tok.apply_chat_templates(chats)))
    assert all(len(text) <= MAX_TEMPLATE_OUTPUT for text in out)


# -- tokenizer configurations -------------------------------------------------------------------------
HOSTILE = st.one_of(
    st.sampled_from([None, True, 0, -1, 2**31, 2**63, 1e308, "", "<s>", "<|im_end|>", "x" * 10000, [], {}, [[[]]],
                     {"content": "<|im_end|>"}, {"content": 5}, [{"name": "default", "template": "{{ 1 }}"}],
                     [{"name": "tool_use"}], "{{ raise_exception('x') }}", "{% for m in messages %}{{ m }}"]),
    st.integers(-(2**64), 2**64),
    st.text(max_size=40),
)
CONFIG_KEYS = ["chat_template", "bos_token", "eos_token", "unk_token", "pad_token", "add_bos_token", "add_eos_token",
               "model_max_length", "added_tokens_decoder", "tokenizer_class", "clean_up_tokenization_spaces"]
SIZE = st.one_of(st.sampled_from(BOUNDARY_INTS), st.integers(-5, 600))
SECTIONS = {  # tokenizer.json sections the library acts on at encode time
    "truncation": st.fixed_dictionaries({"max_length": SIZE, "stride": SIZE,
                                         "strategy": st.sampled_from(["LongestFirst", "OnlyFirst", "Bogus"]),
                                         "direction": st.sampled_from(["Right", "Left"])}),
    "padding": st.fixed_dictionaries({"strategy": st.one_of(st.just("BatchLongest"), st.fixed_dictionaries({"Fixed": SIZE})),
                                      "direction": st.sampled_from(["Right", "Left"]), "pad_to_multiple_of": st.one_of(st.none(), SIZE),
                                      "pad_id": SIZE, "pad_type_id": SIZE, "pad_token": st.sampled_from(["<|endoftext|>", "", "nope"])}),
    "added_tokens": st.lists(st.fixed_dictionaries({"id": SIZE, "content": st.text(max_size=12), "single_word": st.booleans(),
                                                    "lstrip": st.booleans(), "rstrip": st.booleans(),
                                                    "normalized": st.booleans(), "special": st.booleans()}), max_size=4),
}  # fmt: skip


@fuzz_settings(20)
@given(data=st.data())
def test_tokenizer_configuration(data: st.DataObject, smol_tokenizer_seed: Path, tmp_path_factory) -> None:
    folder = fresh(tmp_path_factory.getbasetemp() / "tok-config", smol_tokenizer_seed)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    for key in data.draw(st.lists(st.sampled_from(CONFIG_KEYS), min_size=1, max_size=4, unique=True), label="keys"):
        config[key] = data.draw(HOSTILE, label=key)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    spec = json.loads((folder / "tokenizer.json").read_text())
    for name in data.draw(st.lists(st.sampled_from(sorted(SECTIONS)), max_size=2, unique=True), label="sections"):
        value = data.draw(SECTIONS[name], label=name)
        spec[name] = spec[name] + value if name == "added_tokens" else value
    (folder / "tokenizer.json").write_text(json.dumps(spec))
    survives(lambda: use(load_tokenizer(folder)))


# -- torch archives with size and storage claims ------------------------------------------------------
MARKERS = (70001, 70003)  # element counts no other integer of the pickle has (BININT in the pickle)


@pytest.fixture(scope="module")
def torch_seeds(seeds: Path) -> dict[bool, bytes]:
    """A real two-tensor state dict in torch's zip and legacy formats."""
    out = {}
    for zipped in (True, False):
        path = seeds / f"claims-{zipped}.bin"
        torch.save({"a": torch.arange(MARKERS[0], dtype=torch.float32), "b": torch.ones(MARKERS[1], dtype=torch.bfloat16)},
                   path, _use_new_zipfile_serialization=zipped)  # fmt: skip
        out[zipped] = path.read_bytes()
    return out


def _long1(n: int) -> bytes:
    width = (n.bit_length() + 8) // 8
    return b"\x8a" + bytes([width]) + n.to_bytes(width, "little", signed=True)


def _rezip(raw: bytes, path: Path, edit) -> None:
    """Rewrite a zip archive member by member through ``edit(name, data) -> (data, method, claimed size)``."""
    src = path.with_suffix(".src")
    src.write_bytes(raw)
    with zipfile.ZipFile(src) as zf:
        members = [edit(i.filename, zf.read(i)) for i in zf.infolist()]
    costs.write_zip(path, members)


@fuzz_settings(40)
@given(data=st.data())
def test_torch_archive_claims(data: st.DataObject, torch_seeds: dict[bool, bytes], tmp_path_factory) -> None:
    zipped = data.draw(st.booleans(), label="zipped")
    raw = torch_seeds[zipped]
    path = tmp_path_factory.getbasetemp() / "claims.bin"
    claim = data.draw(st.one_of(st.sampled_from(BOUNDARY_INTS), st.integers(0, 1 << 20)), label="claim")
    which = data.draw(st.sampled_from(MARKERS), label="storage")
    old = b"J" + struct.pack("<i", which)
    mutation = data.draw(st.sampled_from(["claim", "compress", "member size", "truncate"] if zipped
                                         else ["claim", "truncate"]), label="mutation")  # fmt: skip
    if not zipped:
        path.write_bytes(raw.replace(old, _long1(claim), 1) if mutation == "claim" else raw[: claim % len(raw)])
    elif mutation == "truncate":
        path.write_bytes(raw[: claim % len(raw)])
    else:
        target = data.draw(st.sampled_from(["data.pkl", "data/0", "data/1"]), label="member")

        def edit(name: str, body: bytes) -> tuple[str, bytes, int, int]:
            if name.endswith("data.pkl") and mutation == "claim":
                body = body.replace(old, _long1(claim), 1)
            if not name.endswith(target) or mutation == "claim":
                return name, body, zipfile.ZIP_STORED, len(body)
            if mutation == "compress":
                c = zlib.compressobj(6, zlib.DEFLATED, -15)
                return name, c.compress(body) + c.flush(), zipfile.ZIP_DEFLATED, len(body)
            return name, body, zipfile.ZIP_STORED, claim % (1 << 32)  # a member size that lies

        _rezip(raw, path, edit)

    def load() -> None:
        for t in torch_load(path).values():
            float(t.float().sum())  # touch every byte a storage claims

    survives(load)
