"""Tokenizers on real vocabularies: llama.cpp's test vectors, Meta's three tokenizer files, and the
tokenizers embedded in real GGUFs checked against transformers' own reading of the same files."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from pathlib import Path

import pytest

from provenance.errors import FormatError, UnsupportedError
from provenance.tokenizer.files import load_tokenizer
from provenance.tokenizer.rebuilt import from_gguf_metadata, load_llama2c_tokenizer
from provenance.tokenizer.vocab import BYTE_CHARS, Tokenizer, vocab_identity
from tests.models import SHARED, fetch

TOKENIZERS = SHARED / "data" / "tokenizers"
VECTORS = SHARED / "data" / "tokenizer-tests"
needs_shared = pytest.mark.skipif(
    not TOKENIZERS.is_dir(), reason="../shared (Meta tokenizers, llama.cpp vectors) is absent"
)
optin = pytest.mark.optin("large download")

# Varied text: scripts, code, whitespace runs, digits, emoji sequences, control characters.
CORPUS = [
    "Hello world", " leading space", "  two spaces  1", "tabs\tand\nnewlines\r\n\r\n",
    "numbers 1234567890 3.14159 -42 1e10 0x1F 2024-01-01", "Ünïcödé naïve café résumé Äpfel",
    "日本語のテキストです。中文句子，还有标点。", "한국어 텍스트", "Русский текст, ёж", "العربية نص", "עברית",
    "हिन्दी पाठ", "ภาษาไทย", "emoji 😀👍🏽 🇫🇷 👨‍👩‍👧 🦙",
    "def f(x):\n    return x ** 2  # comment\n\n\nclass A:\n\tpass\n",
    "for (int i = 0; i < n; ++i) { a[i] += b[i]; }", '<html><body class="x">&amp;</body></html>',
    "SELECT * FROM t WHERE id='1';", "I'm you're he'll we've they'd IT'S", "   \n   \n\n\t \t", "", "a",
    "multiple     spaces     here", "x" * 50, "1" * 30, "<|im_start|>user\nhi<|im_end|>",
    "\u00a0nbsp\u2009thin\u3000ideo", "zero\u200bwidth", "combining e\u0301 a\u0308", "\x00\x01 control \x7f",
]
CHATS = [
    [{"role": "user", "content": "What is 2+2?"}],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Bonjour, ça va ? 😀"},
        {"role": "assistant", "content": "Oui."},
        {"role": "user", "content": "Why?\n\nExplain."},
    ],
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _vectors(name: str) -> list[tuple[str, list[int]]]:
    """llama.cpp's test-tokenizer-0 format: inputs each followed by "\\n__ggml_vocab_test__\\n",
    one line of space-separated ids per input."""
    raw = (VECTORS / f"{name}.inp").read_bytes().decode("utf-8")
    texts = raw.split("\n__ggml_vocab_test__\n")
    if texts[-1] == "":
        texts.pop()  # text after the last separator is not a test
    lines = (VECTORS / f"{name}.out").read_text(encoding="utf-8").split("\n")[: len(texts)]
    assert len(lines) == len(texts)
    return [(t, [int(x) for x in line.split()]) for t, line in zip(texts, lines)]


def _gguf_kv(path: Path) -> dict:
    """The tokenizer.* metadata of a GGUF as python values, read with the gguf package."""
    import gguf

    reader = gguf.GGUFReader(path)
    return {k: f.contents() for k, f in reader.fields.items() if k.startswith("tokenizer.")}


# -- sources of the Llama 2 vocabulary: SentencePiece, GGUF metadata, llama2.c --------------------
def _spm():
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=str(TOKENIZERS / "llama2-sentencepiece.model"))


def _piece_type(sp, i: int) -> int:
    # SentencePiece's piece types, which GGUF stores under the same numbers
    return 2 if sp.is_unknown(i) else 3 if sp.is_control(i) else 5 if sp.is_unused(i) else 6 if sp.is_byte(i) else 1


def _llama2_as_gguf(tmp_path: Path) -> Tokenizer:
    """What llama.cpp's converter writes for a SentencePiece model: pieces, scores, types, ids."""
    sp = _spm()
    n = sp.get_piece_size()
    kv = {
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": [sp.id_to_piece(i) for i in range(n)],
        "tokenizer.ggml.scores": [sp.get_score(i) for i in range(n)],
        "tokenizer.ggml.token_type": [_piece_type(sp, i) for i in range(n)],
        "tokenizer.ggml.bos_token_id": sp.bos_id(),
        "tokenizer.ggml.eos_token_id": sp.eos_id(),
        "tokenizer.ggml.unknown_token_id": sp.unk_id(),
    }
    tok = from_gguf_metadata(kv)
    assert tok is not None and tok.kind == "gguf-llama"
    return tok


def _write_llama2c(sp, path: Path, max_len: int | None = None) -> None:
    """llama2.c's tokenizer export: pieces with "▁" as " ", BOS/EOS wrapped in newlines."""
    pieces = []
    for i in range(sp.get_piece_size()):
        piece = {sp.bos_id(): "\n<s>\n", sp.eos_id(): "\n</s>\n"}.get(i, sp.id_to_piece(i))
        pieces.append(piece.replace("▁", " ").encode())
    with open(path, "wb") as f:
        f.write(struct.pack("<i", max_len if max_len is not None else max(map(len, pieces))))
        for i, b in enumerate(pieces):
            f.write(struct.pack("<fi", sp.get_score(i), len(b)) + b)


def _llama2_as_llama2c(tmp_path: Path) -> Tokenizer:
    _write_llama2c(_spm(), tmp_path / "tokenizer.bin")
    return load_llama2c_tokenizer(tmp_path / "tokenizer.bin")


LLAMA2_SOURCES = {
    "sentencepiece": lambda tmp: load_tokenizer(TOKENIZERS / "llama2-sentencepiece.model"),
    "gguf": _llama2_as_gguf,
    "llama2c": _llama2_as_llama2c,
}


@needs_shared
@pytest.mark.parametrize("source", LLAMA2_SOURCES)
def test_llama_spm_vectors(source: str, tmp_path: Path) -> None:
    tok = LLAMA2_SOURCES[source](tmp_path)
    ref = load_tokenizer(TOKENIZERS / "llama2-sentencepiece.model")
    assert tok.tokens == ref.tokens and tok.identity == ref.identity
    assert (tok.bos_id, tok.eos_id, sorted(tok.special_ids)) == (1, 2, [0, 1, 2])
    vectors = _vectors("llama-spm")
    assert len(vectors) == 46
    for text, expected in vectors:
        # test-tokenizer-0: add_special=false, parse_special=false; the SentencePiece space prefix applies
        assert tok.encode(text, add_bos=False, parse_special=False) == expected, text
        assert tok.decode(expected) == text
    assert tok.encode("Hello")[0] == 1  # BOS by default, as llama.cpp and Meta's code do for Llama 2


def _llama3_as_gguf() -> Tokenizer:
    """A Llama 3 GGUF's tokenizer as llama.cpp's converter writes it: the byte-level tokens and merges
    of the HF conversion (here transformers' own tiktoken converter), pre-tokenizer "llama-bpe"."""
    from transformers.convert_slow_tokenizer import TikTokenConverter

    spec = json.loads(TikTokenConverter(vocab_file=str(TOKENIZERS / "llama3-tiktoken.model")).converted().to_str())
    vocab = spec["model"]["vocab"]
    tokens = [""] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    tiktoken_tok = load_tokenizer(TOKENIZERS / "llama3-tiktoken.model")
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    kv = {
        "tokenizer.ggml.model": "gpt2",
        "tokenizer.ggml.pre": "llama-bpe",
        "tokenizer.ggml.tokens": tokens + tiktoken_tok.tokens[len(tokens) :],
        "tokenizer.ggml.token_type": [1] * len(tokens) + [3] * (tiktoken_tok.vocab_size - len(tokens)),
        "tokenizer.ggml.merges": merges,
        "tokenizer.ggml.bos_token_id": 128000,
        "tokenizer.ggml.eos_token_id": 128001,
    }
    tok = from_gguf_metadata(kv)
    assert tok is not None and tok.kind == "gguf-gpt2"
    return tok


@needs_shared
@pytest.mark.parametrize("source", ["tiktoken", "gguf"])
def test_llama_bpe_vectors(source: str) -> None:
    tok = load_tokenizer(TOKENIZERS / "llama3-tiktoken.model") if source == "tiktoken" else _llama3_as_gguf()
    vectors = _vectors("llama-bpe")
    assert len(vectors) == 46
    for text, expected in vectors:
        assert tok.encode(text, add_bos=False, parse_special=False) == expected, text
        assert tok.decode(expected) == text
    assert tok.encode("<|begin_of_text|>hi", add_bos=False) == [128000, 6151]
    assert tok.encode("<|begin_of_text|>", add_bos=False, parse_special=False) != [128000]


META = {  # file, sha256 and vocabulary size from ../shared/research/llama-family.md
    "llama2-sentencepiece.model": ("9e556afd44213b6bd1be2b850ebbbd98f5481437a8021afaf58ee7fb1818d347", 32000, 3),
    "llama3-tiktoken.model": ("82e9d31979e92ab929cd544440f129d9ecd797b69e327f80f17e1c50d5551b55", 128256, 256),
    "llama4-tiktoken.model": ("d0bdbaf59b0762c8c807617e2d8ea51420eb1b1de266df2495be755c8e0ed6ed", 202048, 2048),
}


@needs_shared
@pytest.mark.parametrize("name", META)
def test_meta_identity(name: str) -> None:
    sha, size, n_special = META[name]
    path = TOKENIZERS / name
    assert _sha256(path) == sha
    tok = load_tokenizer(path)
    assert tok.vocab_size == len(tok.tokens) == size and len(tok.special_ids) == n_special
    dump = json.dumps(tok.tokens, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert tok.identity == hashlib.sha256(dump).hexdigest() == vocab_identity(tok.tokens)
    regular = [t for i, t in enumerate(tok.tokens) if i not in tok.special_ids]
    assert len(regular) == size - n_special and tok.regular_identity == vocab_identity(regular) != tok.identity
    assert load_tokenizer(path).identity == tok.identity  # deterministic
    assert all(tok.token_bytes(i) is None for i in tok.special_ids)


@needs_shared
def test_llama3_tokens_are_byte_level() -> None:
    from transformers.convert_slow_tokenizer import TikTokenConverter

    tok = load_tokenizer(TOKENIZERS / "llama3-tiktoken.model")
    hf = TikTokenConverter(vocab_file=str(TOKENIZERS / "llama3-tiktoken.model")).converted()
    assert [hf.id_to_token(i) for i in range(128000)] == tok.tokens[:128000]
    singles = {}
    for line in (TOKENIZERS / "llama3-tiktoken.model").read_text().splitlines()[:256]:
        b64, rank = line.split()
        singles[int(rank)] = base64.b64decode(b64)
    for rank, raw in singles.items():  # ranks 0..255 are the 256 single bytes
        assert len(raw) == 1 and tok.tokens[rank] == BYTE_CHARS[raw[0]] and tok.token_bytes(rank) == raw
    assert tok.token_to_id("Ġthe") == 279 and tok.token_bytes(279) == b" the"
    assert tok.encode(" the", add_bos=False) == [279]
    names = {128000: "<|begin_of_text|>", 128001: "<|end_of_text|>", 128004: "<|finetune_right_pad_id|>",
             128006: "<|start_header_id|>", 128007: "<|end_header_id|>", 128008: "<|eom_id|>", 128009: "<|eot_id|>",
             128005: "<|step_id|>", 128010: "<|python_tag|>", 128011: "<|image|>",
             128012: "<|reserved_special_token_2|>", 128255: "<|reserved_special_token_245|>"}
    assert {i: tok.tokens[i] for i in names} == names
    assert (tok.bos_id, tok.eos_id) == (128000, 128001)


@needs_shared
def test_llama4_specials() -> None:
    tok = load_tokenizer(TOKENIZERS / "llama4-tiktoken.model")
    names = {200000: "<|begin_of_text|>", 200001: "<|end_of_text|>", 200005: "<|header_start|>",
             200008: "<|eot|>", 200080: "<|image_start|>", 200090: "<|image|>", 201142: "<|reasoning_thinking_start|>",
             201144: "<|reserved_special_token_0|>", 202047: "<|reserved_special_token_903|>"}
    assert {i: tok.tokens[i] for i in names} == names
    assert len(set(tok.tokens[200000:])) == 2048
    text = "Llama 4: 1234 ünïcode 🦙\n\n  code()"
    assert tok.decode(tok.encode(text, add_bos=False)) == text


def test_vocab_identity_definition() -> None:
    assert vocab_identity(["a", "é", "<s>"]) == hashlib.sha256('["a","é","<s>"]'.encode()).hexdigest()
    assert vocab_identity(["a", "b"]) != vocab_identity(["b", "a"])


# -- real GGUFs against transformers ---------------------------------------------------------------
def _gguf_pair(model: str) -> tuple[Tokenizer, object, Path]:
    from transformers import AutoTokenizer

    path = fetch(model)
    tok = from_gguf_metadata(_gguf_kv(path), path)
    ref = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    return tok, ref, path


@pytest.fixture(scope="module")
def smollm2() -> tuple[Tokenizer, object, Path]:
    tok, ref, path = _gguf_pair("smollm2")
    from tokenizers import pre_tokenizers

    # transformers knows no regex for tokenizer.ggml.pre = "smollm" and falls back to GPT-2's; the
    # published SmolLM2 tokenizer.json (and llama.cpp's "smollm" rule) first isolates every digit.
    ref.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    return tok, ref, path


def _check_against_transformers(tok: Tokenizer, ref, chats: bool = True) -> None:
    assert tok.tokens == ref.convert_ids_to_tokens(list(range(tok.vocab_size)))
    for text in CORPUS:
        ids = tok.encode(text, add_bos=False)
        assert ids == ref.encode(text, add_special_tokens=False), text
        assert tok.decode(ids) == ref.decode(ids)
    for chat in CHATS if chats else []:
        for gen in (True, False):
            expected = ref.apply_chat_template(chat, tokenize=False, add_generation_prompt=gen)
            assert tok.apply_chat_template(chat, add_generation_prompt=gen) == expected


@pytest.mark.slow
def test_smollm2_gguf_matches_transformers(smollm2) -> None:
    tok, ref, _ = smollm2
    assert (tok.kind, tok.vocab_size, tok.bos_id, tok.eos_id, tok.add_bos) == ("gguf-gpt2", 49152, 1, 2, False)
    assert tok.tokens[tok.bos_id] == ref.bos_token and tok.tokens[tok.eos_id] == ref.eos_token
    _check_against_transformers(tok, ref)
    for text in CORPUS:
        assert tok.decode(tok.encode(text)) == text
    assert tok.encode("<|im_start|>", add_bos=False) == [1]
    assert len(tok.encode("<|im_start|>", add_bos=False, parse_special=False)) > 1


@pytest.mark.slow
def test_smollm2_digits_split_like_llama_cpp(smollm2) -> None:
    tok, _, _ = smollm2
    ids = tok.encode("  two  1", add_bos=False)
    assert [tok.tokens[i] for i in ids] == ["Ġ", "Ġtwo", "ĠĠ", "1"]  # "\p{N}" isolated first, then GPT-2's rule


@pytest.mark.slow
def test_tokenizer_json_directory(smollm2, tmp_path: Path) -> None:
    """transformers writes the GGUF's tokenizer as tokenizer.json + tokenizer_config.json."""
    tok, ref, _ = smollm2
    ref.save_pretrained(tmp_path)
    hf = load_tokenizer(tmp_path)
    assert hf.kind == "hf-json" and hf.surface == "byte-level"
    assert hf.identity == tok.identity and hf.special_ids == tok.special_ids
    assert (hf.bos_id, hf.eos_id, hf.chat_template) == (tok.bos_id, tok.eos_id, tok.chat_template)
    for text in CORPUS:
        ids = hf.encode(text, add_bos=False)
        assert ids == ref.encode(text, add_special_tokens=False) and hf.decode(ids) == text
    assert [tok.token_bytes(i) for i in range(tok.vocab_size)] == [hf.token_bytes(i) for i in range(hf.vocab_size)]
    assert load_tokenizer(tmp_path / "tokenizer.json").identity == tok.identity


@pytest.mark.slow
@pytest.mark.parametrize("model", [pytest.param("qwen2.5-coder", marks=optin), pytest.param("gemma3", marks=optin)])
def test_optin_gguf_matches_transformers(model: str) -> None:
    tok, ref, _ = _gguf_pair(model)
    assert tok.kind == {"qwen2.5-coder": "gguf-gpt2", "gemma3": "gguf-llama"}[model]
    _check_against_transformers(tok, ref, chats=tok.chat_template is not None)  # this Gemma 3 GGUF has none


def test_gguf_without_or_with_other_tokenizers() -> None:
    assert from_gguf_metadata({"general.architecture": "llama"}) is None
    assert from_gguf_metadata({"tokenizer.ggml.model": "none"}) is None
    bert = from_gguf_metadata({"tokenizer.ggml.model": "bert", "tokenizer.ggml.tokens": ["[PAD]", "the", "##s"],
                               "tokenizer.ggml.token_type": [3, 1, 1]}, "m.gguf")
    assert bert is not None and bert.kind == "gguf-bert" and bert.regular_identity == vocab_identity(["the", "##s"])
    with pytest.raises(UnsupportedError, match="m.gguf"):
        bert.encode("the")


def _tiny_gpt2_kv(**changes) -> dict:
    kv = {"tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt-2",
          "tokenizer.ggml.tokens": ["a", "b", "ab", "Ġ", "<|end|>"], "tokenizer.ggml.token_type": [1, 1, 1, 1, 3],
          "tokenizer.ggml.merges": ["a b"], "tokenizer.ggml.eos_token_id": 4}
    return {**kv, **changes}


def test_gguf_gpt2_small_vocabulary() -> None:
    tok = from_gguf_metadata(_tiny_gpt2_kv())
    assert tok is not None and tok.encode("ab ab<|end|>") == [2, 3, 2, 4] and tok.decode([2, 3, 2]) == "ab ab"
    assert tok.token_bytes(3) == b" " and tok.token_bytes(4) is None and tok.notes == ()
    odd = from_gguf_metadata(_tiny_gpt2_kv(**{"tokenizer.ggml.pre": "brand-new"}))
    assert odd is not None and "brand-new" in odd.notes[0]


@pytest.mark.parametrize(
    "changes",
    [
        {"tokenizer.ggml.tokens": 7},
        {"tokenizer.ggml.tokens": []},
        {"tokenizer.ggml.tokens": ["a", "b", 3, "Ġ", "<|end|>"]},
        {"tokenizer.ggml.token_type": [1, 1]},
        {"tokenizer.ggml.merges": ["a zz"]},
        {"tokenizer.ggml.merges": ["ab"]},
        {"tokenizer.ggml.merges": None},
        {"tokenizer.ggml.model": 3},
        {"tokenizer.ggml.model": "llama", "tokenizer.ggml.scores": ["x"] * 5},
    ],
)
def test_malformed_gguf_metadata(changes: dict) -> None:
    kv = {k: v for k, v in _tiny_gpt2_kv(**changes).items() if v is not None}
    with pytest.raises(FormatError, match="bad.gguf"):
        from_gguf_metadata(kv, "bad.gguf")


@needs_shared
def test_truncated_sentencepiece(tmp_path: Path) -> None:
    data = (TOKENIZERS / "llama2-sentencepiece.model").read_bytes()
    path = tmp_path / "tokenizer.model"
    for cut in (1, 100, len(data) // 2, len(data) - 7):
        path.write_bytes(data[:cut])
        with pytest.raises(FormatError, match="tokenizer.model"):
            load_tokenizer(path)


@needs_shared
@pytest.mark.parametrize(
    "line, error",
    [("not base64!! 4999", FormatError), ("QQ 4999", FormatError), ("IQ== 4999", FormatError),
     ("QUJD 99999999", FormatError), ("QUJD " + "9" * 5000, FormatError), (None, UnsupportedError)],
)
def test_garbage_tiktoken(tmp_path: Path, line: str | None, error: type) -> None:
    lines = (TOKENIZERS / "llama3-tiktoken.model").read_text().splitlines()
    if line is None:
        lines = lines[:1000]  # valid ranks, but no known Meta vocabulary
    else:
        lines[4999] = line  # bad characters, bad padding, a repeated token, ranks out of range
    path = tmp_path / "tokenizer.model"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(error, match="tokenizer.model"):
        load_tokenizer(path)


@needs_shared
def test_malformed_llama2c(tmp_path: Path) -> None:
    sp = _spm()
    path = tmp_path / "tokenizer.bin"
    _write_llama2c(sp, path, max_len=2**31 - 1)  # huge claimed length
    with pytest.raises(FormatError, match="tokenizer.bin"):
        load_llama2c_tokenizer(path)
    _write_llama2c(sp, path)
    good = path.read_bytes()
    bad_entries = [
        good[:3],  # no header
        good[: len(good) - 3],  # last token cut short
        good[:4] + struct.pack("<fi", 0.0, 30) + b"x" * 30,  # longer than the declared maximum
        good[:4] + struct.pack("<fi", float("nan"), 1) + b"x",
        good[:4] + struct.pack("<fi", 0.0, 2) + b"\xff\xfe",
        good[:4] + struct.pack("<fi", 0.0, -5),
    ]
    for data in bad_entries:
        path.write_bytes(data)
        with pytest.raises(FormatError, match="tokenizer.bin"):
            load_llama2c_tokenizer(path)
    path.write_bytes(good)
    with pytest.raises(FormatError, match="expected 32001"):
        load_llama2c_tokenizer(path, vocab_size=32001)  # the file ends before the model's vocabulary does
    assert load_llama2c_tokenizer(path, vocab_size=32000).vocab_size == 32000


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"model": 3}', b"\xff\xfe{}", b'{"version": "1.0", "model": {"type": "BPE", "vocab": '
     b'{"a": 2000000000}, "merges": []}}'],
)
def test_malformed_tokenizer_json(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_bytes(content)
    with pytest.raises(FormatError, match="tokenizer.json"):
        load_tokenizer(path)


def test_missing_or_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="no tokenizer.json"):
        load_tokenizer(tmp_path)
    (tmp_path / "x.gguf").write_bytes(b"GGUF\x03\x00\x00\x00")
    with pytest.raises(UnsupportedError, match="x.gguf"):
        load_tokenizer(tmp_path / "x.gguf")
    with pytest.raises(FormatError, match="absent.model"):
        load_tokenizer(tmp_path / "absent.model")


def _with_template(template: str) -> Tokenizer:
    return Tokenizer("test", ["<s>", "</s>", "hi"], special_ids=[0, 1], surface="plain", encoder=None, decoder=None,
                     bos_id=0, eos_id=1, chat_template=template, source="evil.json")


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",  # escape the sandbox
        "{% set x = messages.append(1) %}",  # mutate the caller's data
        "{{ 'x' * 100000000 }}",  # giant allocation
        "{{ 10 ** 100000000 }}",
        "{% set ns = namespace(s='xx') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "{% for i in range(100000) %}{{ 'xxxxxxxxxxxxxxxxxxxx' }}{% endfor %}",  # giant output
        "{% for m in messages %}",  # does not compile
        "{{ raise_exception('roles must alternate') }}",
        "{{ messages[5]['content'] + 1 }}",
    ],
)
def test_hostile_chat_templates(template: str) -> None:
    with pytest.raises(FormatError, match="evil.json"):
        _with_template(template).apply_chat_template([{"role": "user", "content": "hi"}])


def test_chat_template_variables() -> None:
    tok = _with_template("{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content | tojson }}"
                         "{% endfor %}{% if add_generation_prompt %}>{% endif %}{{ extra }}")
    chat = [{"role": "user", "content": "é <b>"}]
    assert tok.apply_chat_template(chat, extra="!") == '<s>[user]"é <b>">!'
    assert tok.apply_chat_template(chat, add_generation_prompt=False) == '<s>[user]"é <b>"'
    with pytest.raises(UnsupportedError):
        _with_template(None).apply_chat_template(chat)  # type: ignore[arg-type]
