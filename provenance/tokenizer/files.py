"""Tokenizer files: ``tokenizer.json`` (``tokenizers``), SentencePiece ``tokenizer.model``
(``sentencepiece``), Meta's tiktoken ``tokenizer.model`` (``tiktoken``; Llama 3 and Llama 4), a
model folder with ``tokenizer_config.json``, and llama2.c ``tokenizer.bin`` (through
:mod:`provenance.tokenizer.rebuilt`). Each reader returns a :class:`~provenance.tokenizer.vocab.Tokenizer`.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from typing import Any

import sentencepiece
import tiktoken
import tokenizers

from provenance.errors import FormatError, UnsupportedError, native, one_line
from provenance.fileio import read_bounded
from provenance.tokenizer.rebuilt import load_llama2c_tokenizer
from provenance.tokenizer.spec import check_spec
from provenance.tokenizer.vocab import (
    LLAMA3_PATTERN,
    LLAMA4_PATTERN,
    MAX_FILE_BYTES,
    MAX_VOCAB,
    Tokenizer,
    byte_level,
    check_vocab_size,
    hf_backend,
)


def read_file(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """A tokenizer file's bytes, refused before reading when over ``limit``."""
    return read_bounded(path, limit, "tokenizer file")


def _spec_mentions(node: Any, type_name: str) -> bool:
    """Whether a tokenizer.json component (possibly a Sequence) contains ``type_name``."""
    if isinstance(node, dict):
        return node.get("type") == type_name or any(_spec_mentions(v, type_name) for v in node.values())
    if isinstance(node, list):
        return any(_spec_mentions(v, type_name) for v in node)
    return False


def _template_bos(node: Any) -> str | None:
    """The special token a TemplateProcessing post-processor puts before the text, if any."""
    if isinstance(node, dict):
        if node.get("type") == "TemplateProcessing":
            first = (node.get("single") or [None])[0]
            return first.get("SpecialToken", {}).get("id") if isinstance(first, dict) else None
        found = [_template_bos(v) for v in node.get("processors", [])]
        return next((b for b in found if b), None)
    return None


def _from_tokenizer_json(data: bytes, path: Path) -> Tokenizer:
    try:
        text = data.decode("utf-8")
        spec = json.loads(text)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError, JSONDecodeError, absurd nesting
        raise FormatError(f"not a valid tokenizer.json: {one_line(e, 300)}", path) from None
    check_spec(spec, path)  # before the library holds it: its runtime settings can panic or allocate
    with native("not a valid tokenizer.json", path):  # the Rust parser raises bare Exceptions
        tok = tokenizers.Tokenizer.from_str(text)
        tok.no_truncation()  # probes tokenize exactly the text given (see provenance.tokenizer.spec)
        tok.no_padding()
        vocab = tok.get_vocab(with_added_tokens=True)
    n = max(vocab.values(), default=-1) + 1
    check_vocab_size(n, path)
    tokens = [""] * n  # an id no token claims stays "" and counts as special
    for t, i in vocab.items():
        tokens[i] = t
    added = spec.get("added_tokens") if isinstance(spec, dict) else None
    special = {a["id"] for a in added or [] if isinstance(a, dict) and a.get("special") and type(a.get("id")) is int}
    special |= {i for i, t in enumerate(tokens) if not t}
    model = spec.get("model") or {}
    if _spec_mentions([spec.get("pre_tokenizer"), spec.get("decoder")], "ByteLevel"):
        surface = "byte-level"
    elif model.get("type") == "Unigram" or model.get("byte_fallback") or any(
        _spec_mentions(spec.get("decoder"), name) for name in ("Metaspace", "ByteFallback")
    ):
        surface = "sentencepiece"
    else:
        surface = "plain"
    bos_name = _template_bos(spec.get("post_processor"))
    bos = vocab.get(bos_name) if bos_name else None
    encode, decode = hf_backend(tok)
    return Tokenizer("hf-json", tokens, special_ids=special, surface=surface, encoder=encode, decoder=decode,
                     bos_id=bos, add_bos=bos is not None, source=path)


def _split_on(text: str, names: dict[str, int]) -> list[str | int]:
    """Cut ``text`` at occurrences of ``names`` (longest first): text pieces and token ids."""
    pattern = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    parts: list[str | int] = []
    pos = 0
    for m in re.finditer(pattern, text):
        parts += [text[pos : m.start()], names[m.group()]]
        pos = m.end()
    return [*parts, text[pos:]]


def _from_sentencepiece(data: bytes, path: Path) -> Tokenizer:
    sp = sentencepiece.SentencePieceProcessor()
    with native("not a valid SentencePiece model", path):  # RuntimeError / OSError from the C++ parser
        sp.LoadFromSerializedProto(data)
    n = sp.get_piece_size()
    check_vocab_size(n, path)
    try:
        tokens = [sp.id_to_piece(i) for i in range(n)]
    except UnicodeDecodeError:  # protobuf strings are not checked for UTF-8 when the model is parsed
        raise FormatError("a SentencePiece piece is not valid UTF-8", path) from None
    special = {i for i in range(n) if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i)}
    # SentencePiece never parses control pieces in text; split on their names ourselves.
    names = {tokens[i]: i for i in sorted(special) if tokens[i] and not sp.is_unused(i)}

    def encode(text: str, parse_special: bool) -> list[int]:
        if not parse_special or not names:
            return list(sp.encode(text))
        ids: list[int] = []
        for part in _split_on(text, names):
            ids += [part] if isinstance(part, int) else sp.encode(part)
        return ids

    def decode(ids: list[int]) -> str:
        return sp.decode(ids)

    def known(i: int) -> int | None:
        return i if 0 <= i < n else None

    return Tokenizer("sentencepiece", tokens, special_ids=special, surface="sentencepiece", encoder=encode,
                     decoder=decode, bos_id=known(sp.bos_id()), eos_id=known(sp.eos_id()), add_bos=True,
                     source=path)


# Meta's tiktoken vocabularies: the ranks file alone does not name its split pattern or its special
# tokens, so they are recognized by rank count. Names and order follow meta-llama/llama-models
# (models/llama3/tokenizer.py, models/llama4/tokenizer.py).
_LLAMA3_SPECIALS = [
    "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>",
    "<|eot_id|>", "<|python_tag|>", "<|image|>",
]
_LLAMA3_SPECIALS += [f"<|reserved_special_token_{i}|>" for i in range(2, 2 + 256 - len(_LLAMA3_SPECIALS))]


def _reserved(name: str, count: int, start: int) -> list[str]:
    return [f"<|{name}_reserved_special_token_{i}|>" for i in range(start, start + count)]


_LLAMA4_SPECIALS = [
    "<|begin_of_text|>", "<|end_of_text|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
    "<|header_start|>", "<|header_end|>", "<|eom|>", "<|eot|>", "<|step|>", *_reserved("text_post_train", 6, 0),
    "<|python_start|>", "<|python_end|>", "<|finetune_right_pad|>", *_reserved("text_post_train", 61, 8),
    "<|image_start|>", "<|image_end|>", *_reserved("vision", 2, 0), "<|tile_x_separator|>",
    "<|tile_y_separator|>", *_reserved("vision", 4, 2), "<|image|>", *_reserved("vision", 1, 6), "<|patch|>",
    *_reserved("vision", 1041, 7), *_reserved("reasoning", 8, 0), "<|reasoning_thinking_start|>",
    "<|reasoning_thinking_end|>",
]
_LLAMA4_SPECIALS += [f"<|reserved_special_token_{i}|>" for i in range(2048 - len(_LLAMA4_SPECIALS))]

_TIKTOKEN_PROFILES: dict[int, tuple[str, list[str]]] = {
    128000: (LLAMA3_PATTERN, _LLAMA3_SPECIALS),
    200000: (LLAMA4_PATTERN, _LLAMA4_SPECIALS),
}
_TIKTOKEN_LINE = re.compile(rb"[A-Za-z0-9+/]+={0,2} [0-9]{1,9}")  # bounded digits: int() stays cheap


def _parse_ranks(data: bytes, path: Path) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for n, line in enumerate(data.splitlines(), 1):
        if not line:
            continue
        if not _TIKTOKEN_LINE.fullmatch(line):
            raise FormatError(f"line {n} is not '<base64> <rank>'", path)
        b64, rank_text = line.split(b" ")
        try:
            token = base64.b64decode(b64, validate=True)
        except binascii.Error:
            raise FormatError(f"line {n}: bad base64", path) from None
        rank = int(rank_text)
        if token in ranks or rank >= MAX_VOCAB:
            raise FormatError(f"line {n}: repeated token or rank {rank} out of range", path)
        ranks[token] = rank
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise FormatError("ranks are not exactly 0..n-1", path)
    return ranks


def _from_tiktoken(data: bytes, path: Path) -> Tokenizer:
    ranks = _parse_ranks(data, path)
    profile = _TIKTOKEN_PROFILES.get(len(ranks))
    if profile is None:
        raise UnsupportedError(f"tiktoken ranks with {len(ranks)} entries: not a known Meta vocabulary", path)
    pattern, names = profile
    n = len(ranks)
    specials = {name: n + i for i, name in enumerate(names)}
    with native("tiktoken rejects the ranks", path):  # tiktoken's Rust core raises bare exceptions
        enc = tiktoken.Encoding(name=path.name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)
    tokens = [""] * n
    for token, rank in ranks.items():
        tokens[rank] = byte_level(token)

    def encode(text: str, parse_special: bool) -> list[int]:
        return enc.encode(text, allowed_special="all") if parse_special else enc.encode_ordinary(text)

    return Tokenizer("tiktoken", tokens + names, special_ids=range(n, n + len(names)), surface="byte-level",
                     encoder=encode, decoder=enc.decode, bos_id=n, eos_id=n + 1, add_bos=True, source=path)


def _from_model_file(data: bytes, path: Path) -> Tokenizer:
    """A ``tokenizer.model``: tiktoken text ("<base64> <rank>" lines) or a SentencePiece protobuf."""
    first = data.split(b"\n", 1)[0].rstrip(b"\r")
    return _from_tiktoken(data, path) if _TIKTOKEN_LINE.fullmatch(first) else _from_sentencepiece(data, path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(read_file(path, 64 << 20).decode("utf-8"))
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError, JSONDecodeError, an int over 4300 digits
        raise FormatError(f"not valid JSON: {one_line(e, 300)}", path) from None
    if not isinstance(value, dict):
        raise FormatError("expected a JSON object", path)
    return value


def _token_name(value: Any) -> str | None:
    """tokenizer_config.json writes special tokens as strings or as {"content": ...} objects."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _template_text(value: Any) -> str | None:
    """A chat template as a string, or the "default" one of a list of named templates."""
    if isinstance(value, list):
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        value = named.get("default")
    return value if isinstance(value, str) else None


def _load_directory(d: Path) -> Tokenizer:
    for name, reader in (("tokenizer.json", _from_tokenizer_json), ("tokenizer.model", _from_model_file)):
        if (d / name).is_file():
            tok = reader(read_file(d / name), d / name)
            break
    else:
        if not (d / "tokenizer.bin").is_file():
            raise FormatError("no tokenizer.json, tokenizer.model or tokenizer.bin", d)
        tok = load_llama2c_tokenizer(d / "tokenizer.bin")
    config = _read_json(d / "tokenizer_config.json") if (d / "tokenizer_config.json").is_file() else {}
    for attr, key in (("bos_id", "bos_token"), ("eos_id", "eos_token")):
        token = _token_name(config.get(key))
        if token is not None and tok.token_to_id(token) is not None:
            setattr(tok, attr, tok.token_to_id(token))
    if isinstance(config.get("add_bos_token"), bool):
        tok.add_bos = config["add_bos_token"]
    template = _template_text(config.get("chat_template"))
    if template is None and (d / "chat_template.jinja").is_file():
        template = read_file(d / "chat_template.jinja", 1 << 20).decode("utf-8", "replace")
    if template is None and (d / "chat_template.json").is_file():
        template = _template_text(_read_json(d / "chat_template.json").get("chat_template"))
    tok.chat_template = template
    return tok


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read a tokenizer file (``tokenizer.json``, ``tokenizer.model`` of either kind, llama2.c
    ``*.bin``) or a directory holding one (``tokenizer.json`` preferred; ``tokenizer_config.json``
    supplies the chat template and the bos/eos tokens)."""
    p = Path(path)
    if p.is_dir():
        return _load_directory(p)
    if p.suffix.lower() == ".bin":
        return load_llama2c_tokenizer(p)
    data = read_file(p)
    if data.startswith(b"GGUF"):
        raise UnsupportedError("a GGUF's tokenizer is read with the checkpoint (open_checkpoint)", p)
    if data.lstrip()[:1] == b"{":
        return _from_tokenizer_json(data, p)
    return _from_model_file(data, p)
