"""Fuzz the tokenizer readers with mutations of real tokenizer files: tokenizer.json (+
tokenizer_config.json with a real chat template), Meta's SentencePiece model, llama2.c's
tokenizer.bin and GGUF tokenizer metadata."""

from __future__ import annotations

import struct
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provenance.tokenizer.files import load_tokenizer
from provenance.tokenizer.rebuilt import from_gguf_metadata, load_llama2c_tokenizer
from provenance.tokenizer.vocab import Tokenizer
from tests.fuzz.conftest import fresh, seed
from tests.fuzz.harness import fuzz_settings, survives
from tests.fuzz.mutators import mutate_bytes, mutate_json_file, mutate_tree
from tests.hostile import corpus

pytestmark = pytest.mark.fuzz

TEXT = "Hello world! <|im_start|>user\n  1234 naïve 日本語 \t<s></s>"
CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi <|im_end|>"}]


def use(tok: Tokenizer | None) -> None:
    """What the evidence code does with a tokenizer: identities, byte surfaces, encode/decode, chat."""
    if tok is None:
        return
    assert tok.identity and tok.regular_identity
    for i in range(0, tok.vocab_size, max(1, tok.vocab_size // 64)):
        tok.token_bytes(i)
    if tok._encoder is not None:
        ids = tok.encode(TEXT)
        tok.decode(ids)
    if tok.chat_template is not None:
        tok.apply_chat_template(CHAT)


@fuzz_settings(150)
@given(data=st.data())
def test_tokenizer_json(data: st.DataObject, smol_tokenizer_seed: Path, tmp_path_factory) -> None:
    folder = fresh(tmp_path_factory.getbasetemp() / "tok", smol_tokenizer_seed)
    name = data.draw(st.sampled_from(["tokenizer.json", "tokenizer.json", "tokenizer_config.json"]), label="file")
    mutate_json_file(data, folder / name)
    survives(lambda: use(load_tokenizer(folder)))


@fuzz_settings(150)
@given(data=st.data())
def test_sentencepiece_model(data: st.DataObject, tmp_path_factory) -> None:
    raw = spm_bytes()
    # protobuf: the trainer/normalizer specs sit at the end, the pieces (tag, length, text, score, type) before
    region = data.draw(st.sampled_from([None, 4096]), label="region")
    mutated = mutate_bytes(data, raw if region else raw[-4096:], region=region)
    path = tmp_path_factory.getbasetemp() / "fuzz.model"
    path.write_bytes(mutated if region else raw[:-4096] + mutated)
    survives(lambda: use(load_tokenizer(path)))


@cache
def spm_bytes() -> bytes:
    return corpus.spm_path().read_bytes()


@pytest.fixture(scope="module")
def llama2c_tokenizer_seed(seeds: Path) -> bytes:
    return seed(seeds, "tokenizer.bin", corpus.llama2c_tokenizer_bin).read_bytes()


@fuzz_settings(300)
@given(data=st.data())
def test_llama2c_tokenizer(data: st.DataObject, llama2c_tokenizer_seed: bytes, tmp_path_factory) -> None:
    raw = llama2c_tokenizer_seed
    fields = [(0, 4)]  # max token length, then (score, length) per token
    pos = 4
    while pos + 8 <= len(raw) and len(fields) < 600:
        fields += [(pos, 4), (pos + 4, 4)]
        pos += 8 + struct.unpack_from("<i", raw, pos + 4)[0]
    mutated = mutate_bytes(data, raw, fields=fields)
    path = tmp_path_factory.getbasetemp() / "tokenizer.bin"
    path.write_bytes(mutated)
    vocab = data.draw(st.sampled_from([None, corpus.STORIES_VOCAB, 3, 100000]), label="vocab")
    survives(lambda: use(load_llama2c_tokenizer(path, vocab)))


@cache
def gguf_kv() -> dict:
    return corpus.smol_tokenizer_kv(1000)


@fuzz_settings(150)
@given(data=st.data())
def test_gguf_tokenizer_metadata(data: st.DataObject) -> None:
    full = gguf_kv()
    head = {k: v[:40] if isinstance(v, list) else v for k, v in full.items()}  # paths to mutate stay few
    kv = mutate_tree(data, head)
    if not isinstance(kv, dict):
        kv = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.tokens": kv}
    for k, v in kv.items():  # the untouched rest of each array
        if isinstance(v, list) and isinstance(full.get(k), list):
            kv[k] = v + full[k][40:]
    if data.draw(st.booleans(), label="model"):
        kv["tokenizer.ggml.model"] = data.draw(st.sampled_from(["llama", "gpt2", "t5", "bert", "none", "rwkv"]))
    survives(lambda: use(from_gguf_metadata(kv, "fuzz.gguf")))


def test_corpus_tokenizers_are_usable(smol_tokenizer_seed: Path, llama2c_tokenizer_seed: bytes, tmp_path: Path) -> None:
    """Guard: the unmutated seeds load and run the whole of ``use``, so the fuzz targets start from working files."""
    use(load_tokenizer(smol_tokenizer_seed))
    (tmp_path / "tokenizer.bin").write_bytes(llama2c_tokenizer_seed)
    use(load_llama2c_tokenizer(tmp_path / "tokenizer.bin"))
    use(from_gguf_metadata(gguf_kv(), "seed.gguf"))
    use(load_tokenizer(corpus.spm_path()))
