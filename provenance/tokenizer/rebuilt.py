"""Tokenizers rebuilt from bare vocabularies: GGUF metadata and llama2.c ``tokenizer.bin``.

A GGUF or a llama2.c ``tokenizer.bin`` carries no ``tokenizer.json``: only the token strings, their
types, and either BPE merges (byte-level "gpt2" vocabularies) or SentencePiece scores ("llama"
vocabularies). This module turns those into a ``tokenizers.Tokenizer`` that tokenizes the way
llama.cpp does:

* byte-level BPE: the text is split by the pre-tokenizer regexes llama.cpp associates with the
  file's ``tokenizer.ggml.pre`` name (applied one after another, every match and every gap kept),
  then mapped to GPT-2's byte alphabet and merged by rank;
* SentencePiece BPE: spaces become "▁" (with a leading one when the vocabulary asks for it), and
  pieces merge highest score first, which is a BPE whose merge ranks are sorted by the score of
  the merged piece; characters outside the vocabulary fall back to ``<0xNN>`` byte pieces.

Tokens that llama.cpp matches whole in raw text (control and user-defined types) are added tokens.
"""

from __future__ import annotations

import math
import numbers
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tokenizers
from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers

from provenance.errors import FormatError, one_line
from provenance.fileio import read_bounded
from provenance.tokenizer.vocab import (
    BYTE_PIECE,
    LLAMA3_PATTERN,
    LLAMA4_PATTERN,
    MAX_FILE_BYTES,
    MAX_TOKEN_BYTES,
    SPACE_MARK,
    Tokenizer,
    check_vocab_size,
    hf_backend,
)

# Tokens matched whole in raw text (control, unknown, user-defined): real vocabularies have a few
# hundred to a few thousand (Llama 4: 2,048 specials; Gemma 3 270M GGUF: 6,249 special ids, per its
# shipped fingerprint). The tokenizers library spends ~1 KB and ~10 µs on each: 2^21 of them took
# 30 s and 2.4 GB; at the cap, 0.7 CPU s and 76 MB, 48x the 1.6 MB of GGUF that declares them
# (benchmarks/bounds.py).
MAX_ADDED_TOKENS = 1 << 16

# Token types as GGUF stores them (llama.cpp's numbering, identical to SentencePiece's piece types).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

# Pre-tokenizer regexes. Where llama.cpp rewrote a regex for its own engine, the original form
# from the model's tokenizer.json is used here: the ``tokenizers`` regex engine runs it as is.
_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
_LLAMA3 = LLAMA3_PATTERN
_QWEN2 = LLAMA3_PATTERN.replace(r"\p{N}{1,3}", r"\p{N}")  # digits one by one
_GPT4O = LLAMA4_PATTERN  # Llama 4 split text as o200k (GPT-4o) does
_TEKKEN = LLAMA4_PATTERN.replace(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)?", "").replace(r"\p{N}{1,3}", r"\p{N}")
_BLOOM = r" ?[^(\s|.,!?…。，、।۔،)]+"


@dataclass(frozen=True)
class PreTokenizer:
    """How one ``tokenizer.ggml.pre`` family splits text before BPE."""

    splits: tuple[str, ...]
    ignore_merges: bool = False  # take a whole pre-token when it is itself a token (tiktoken style)


_DEFAULT = PreTokenizer((r"[\p{P}\$\+<=>\^~\|]+", _GPT2, r"\p{N}+", r"[0-9][0-9][0-9]"))
_FAMILIES: tuple[tuple[tuple[str, ...], PreTokenizer], ...] = (
    (("default",), _DEFAULT),
    (
        ("llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2"),
        PreTokenizer((_LLAMA3,), ignore_merges=True),
    ),
    (("dbrx", "smaug-bpe", "glm4", "chatglm-bpe"), PreTokenizer((_LLAMA3,))),
    (("tekken",), PreTokenizer((_TEKKEN,), ignore_merges=True)),
    (("qwen2", "deepseek-r1-qwen", "kormo", "megrez", "stablelm2", "hunyuan"), PreTokenizer((_QWEN2,))),
    (("gpt-4o", "llama4", "minimax-m2"), PreTokenizer((_GPT4O,))),
    (
        ("starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"),
        PreTokenizer((r"\p{N}", _GPT2)),
    ),
    (
        ("gpt-2", "phi-2", "mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4", "gigachat",
         "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "jina-v1-en", "jina-v2-code", "roberta-bpe",
         "a.x-4.0", "mellum"),
        PreTokenizer((_GPT2,)),
    ),
    (("falcon",), PreTokenizer((r"[\p{P}\$\+<=>\^~\|`]+", _GPT2, r"[0-9][0-9][0-9]"))),
    (("poro-chat", "bloom", "gpt3-finnish"), PreTokenizer((_BLOOM,))),
    (("viking",), PreTokenizer((_BLOOM, r"\p{N}"))),
)
PRE_TOKENIZERS: dict[str, PreTokenizer] = {name: pre for names, pre in _FAMILIES for name in names}


def pre_tokenizer_for(name: str | None) -> tuple[PreTokenizer, bool]:
    """The splitting rules for a ``tokenizer.ggml.pre`` name, and whether the name was known.

    Unknown or missing names get llama.cpp's own fallback ("default"), as llama.cpp does.
    """
    pre = PRE_TOKENIZERS.get(name or "")
    return (pre, True) if pre is not None else (_DEFAULT, False)


def _vocab(tokens: Sequence[str]) -> dict[str, int]:
    """Token -> id; a string listed twice keeps its first id (later copies are unreachable)."""
    vocab: dict[str, int] = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    return vocab


def _add_typed_tokens(tok: tokenizers.Tokenizer, tokens: Sequence[str], types: Sequence[int]) -> None:
    """Match control/unknown tokens (special) and user-defined tokens (plain) whole in raw text.

    A user-defined piece spelled with "▁" is matched after spaces became "▁" (same raw text).
    """
    special = [
        AddedToken(t, special=True, normalized=False)
        for t, ty in zip(tokens, types)
        if ty in (CONTROL, UNKNOWN) and t
    ]
    user = [
        AddedToken(t, special=False, normalized=SPACE_MARK in t)
        for t, ty in zip(tokens, types)
        if ty == USER_DEFINED and t
    ]
    if special:
        tok.add_special_tokens(special)
    if user:
        tok.add_tokens(user)


def check_added_tokens(types: Sequence[int], path: str | Path | None) -> None:
    """Refuse more than MAX_ADDED_TOKENS tokens matched whole in text, before the library builds them."""
    added = sum(t in (CONTROL, UNKNOWN, USER_DEFINED) for t in types)
    if added > MAX_ADDED_TOKENS:
        raise FormatError(f"{added} control and user-defined tokens, more than {MAX_ADDED_TOKENS}", path)


def split_merge(line: str) -> tuple[str, str]:
    """``"Ġ t"`` -> ``("Ġ", "t")``: the separator is the first space after the first character."""
    cut = line.find(" ", 1)
    if cut < 0:
        raise ValueError(f"merge {line[:40]!r} has no separating space")
    return line[:cut], line[cut + 1 :]


def byte_level_bpe(
    tokens: Sequence[str], merges: Sequence[str], types: Sequence[int], pre: PreTokenizer
) -> tokenizers.Tokenizer:
    """A GPT-2-style byte-level BPE (GGUF ``tokenizer.ggml.model = "gpt2"``).

    Raises ``ValueError`` (merges naming unknown tokens, a bad regex...) for the caller to report.
    """
    try:
        model = models.BPE(
            vocab=_vocab(tokens), merges=[split_merge(m) for m in merges], ignore_merges=pre.ignore_merges
        )
    except Exception as e:  # the Rust side raises a bare Exception
        raise ValueError(str(e)) from None
    tok = tokenizers.Tokenizer(model)
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split(Regex(r), behavior="isolated") for r in pre.splits]
        + [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    tok.decoder = decoders.ByteLevel()
    _add_typed_tokens(tok, tokens, types)
    return tok


def merges_from_scores(
    tokens: Sequence[str], scores: Sequence[float], types: Sequence[int]
) -> list[tuple[str, str]]:
    """BPE merges equivalent to SentencePiece's score-driven merging.

    Every normal piece that splits into two normal pieces yields a merge; merges are ranked by
    the merged piece's score (highest first), ties by the merged piece's id, then by its halves'.
    """
    index: dict[str, int] = {}
    for i, (t, ty) in enumerate(zip(tokens, types)):
        if ty == NORMAL:
            index.setdefault(t, i)
    ranked = []
    for t, i in index.items():
        for k in range(1, len(t)):
            left, right = index.get(t[:k]), index.get(t[k:])
            if left is not None and right is not None:
                ranked.append((-scores[i], i, left, right))
    ranked.sort()
    return [(tokens[left], tokens[right]) for _, _, left, right in ranked]


def sentencepiece_bpe(
    tokens: Sequence[str],
    scores: Sequence[float],
    types: Sequence[int],
    add_space_prefix: bool,
    unk_id: int | None,
) -> tokenizers.Tokenizer:
    """A SentencePiece-style BPE (GGUF ``"llama"`` vocabularies, llama2.c ``tokenizer.bin``).

    Raises ``ValueError`` for the caller to report.
    """
    vocab = _vocab(tokens)
    byte_fallback = all(f"<0x{b:02X}>" in vocab for b in range(256))
    unk = tokens[unk_id] if unk_id is not None else None
    try:
        model = models.BPE(
            vocab=vocab,
            merges=merges_from_scores(tokens, scores, types),
            unk_token=unk,
            fuse_unk=True,
            byte_fallback=byte_fallback,
        )
    except Exception as e:  # the Rust side raises a bare Exception
        raise ValueError(str(e)) from None
    tok = tokenizers.Tokenizer(model)
    spaces = normalizers.Replace(" ", SPACE_MARK)
    # The prefix is added to each stretch of text between matched special tokens, as llama.cpp does.
    tok.normalizer = normalizers.Sequence([normalizers.Prepend(SPACE_MARK), spaces]) if add_space_prefix else spaces
    steps = [decoders.Replace(SPACE_MARK, " "), decoders.ByteFallback(), decoders.Fuse()]
    if add_space_prefix:
        steps.append(decoders.Strip(" ", 1, 0))
    tok.decoder = decoders.Sequence(steps)
    _add_typed_tokens(tok, tokens, types)
    return tok


# -- readers --------------------------------------------------------------------------------------
def _gguf_list(kv: Mapping[str, Any], key: str, kind: type, n: int | None, path: Any) -> list[Any] | None:
    """A GGUF array as a list of python ``str``/``int``/``float``, checked in length and type.

    Bytes are decoded as UTF-8; numpy scalars (the gguf package's arrays) are accepted as numbers.
    """
    value = kv.get(key)
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise FormatError(f"{key} is not an array", path)
    check_vocab_size(len(value), path)
    if n is not None and len(value) != n:
        raise FormatError(f"{key} has {len(value)} entries for {n} tokens", path)
    kinds: dict[type, tuple[tuple[type, ...], Callable[[Any], Any]]] = {
        str: ((str, bytes), lambda v: v.decode("utf-8") if isinstance(v, bytes) else v),
        int: ((numbers.Integral,), int),
        float: ((numbers.Real,), float),
    }
    accept, convert = kinds[kind]
    if not all(isinstance(v, accept) and not isinstance(v, bool) for v in value):
        raise FormatError(f"{key} entries are not all {kind.__name__}", path)
    try:
        return [convert(v) for v in value]
    except UnicodeDecodeError:
        raise FormatError(f"{key} holds invalid UTF-8", path) from None


def from_gguf_metadata(kv: Mapping[str, Any], path: str | Path | None = None) -> Tokenizer | None:
    """The tokenizer embedded in a GGUF, from its key/value metadata; ``None`` when it has none.

    ``kv`` maps GGUF keys to python values (strings, ints, floats, lists). ``tokenizer.ggml.model``
    "llama" gives a SentencePiece-style BPE from scores, "gpt2" a byte-level BPE from merges with
    the splitting rules of ``tokenizer.ggml.pre``; other models keep their vocabulary (for
    identity) but cannot encode.
    """
    model = kv.get("tokenizer.ggml.model")
    if model is None or model in ("none", "no_vocab"):
        return None
    if not isinstance(model, str):
        raise FormatError("tokenizer.ggml.model is not a string", path)
    tokens = _gguf_list(kv, "tokenizer.ggml.tokens", str, None, path)
    if not tokens:
        raise FormatError("GGUF names a tokenizer but has no tokenizer.ggml.tokens", path)
    n = len(tokens)
    types = _gguf_list(kv, "tokenizer.ggml.token_type", int, n, path) or [NORMAL] * n
    special = [i for i, t in enumerate(types) if t in (CONTROL, UNKNOWN, UNUSED)]
    check_added_tokens(types, path)

    def token_id(key: str, default: int | None) -> int | None:
        value = kv.get(key, default)
        if not isinstance(value, numbers.Integral) or isinstance(value, bool):
            return None
        return int(value) if 0 <= int(value) < n else None

    def flag(key: str, default: bool) -> bool:
        value = kv.get(key, default)
        return value if isinstance(value, bool) else default

    template = kv.get("tokenizer.chat_template")
    common: dict[str, Any] = dict(chat_template=template if isinstance(template, str) else None, source=path,
                  special_ids=special, add_bos=flag("tokenizer.ggml.add_bos_token", model == "llama"))
    notes: list[str] = []
    try:
        if model == "llama":
            # SentencePiece pieces never hold a real space, yet some converters store whitespace
            # pieces (Gemma's "  ") with one: spell them as tokenizer.json does ("▁▁").
            tokens = [t.replace(" ", SPACE_MARK) if ty in (NORMAL, USER_DEFINED) else t
                      for t, ty in zip(tokens, types)]
            scores = _gguf_list(kv, "tokenizer.ggml.scores", float, n, path) or [0.0] * n
            unk = token_id("tokenizer.ggml.unknown_token_id", 0)
            tok = sentencepiece_bpe(tokens, scores, types, flag("tokenizer.ggml.add_space_prefix", True), unk)
            surface, bos, eos = "sentencepiece", token_id("tokenizer.ggml.bos_token_id", 1), token_id(
                "tokenizer.ggml.eos_token_id", 2)
        elif model == "gpt2":
            merges = _gguf_list(kv, "tokenizer.ggml.merges", str, None, path)
            if merges is None:
                raise FormatError("gpt2 tokenizer without tokenizer.ggml.merges", path)
            pre_name = kv.get("tokenizer.ggml.pre")
            pre, known = pre_tokenizer_for(pre_name if isinstance(pre_name, str) else None)
            if not known:
                notes.append(f"unknown pre-tokenizer {pre_name!r}: llama.cpp's default splitting used")
            tok = byte_level_bpe(tokens, merges, types, pre)
            surface, bos, eos = "byte-level", token_id("tokenizer.ggml.bos_token_id", None), token_id(
                "tokenizer.ggml.eos_token_id", None)
        else:
            surface = "sentencepiece" if model == "t5" else "plain"
            return Tokenizer(f"gguf-{model}", tokens, surface=surface, encoder=None, decoder=None,
                             bos_id=token_id("tokenizer.ggml.bos_token_id", None),
                             eos_id=token_id("tokenizer.ggml.eos_token_id", None), **common)
    except ValueError as e:
        raise FormatError(f"GGUF tokenizer cannot be built: {one_line(e, 300)}", path) from None
    encode, decode = hf_backend(tok)
    return Tokenizer(f"gguf-{model}", tokens, surface=surface, encoder=encode, decoder=decode, bos_id=bos,
                     eos_id=eos, notes=notes, **common)


def load_llama2c_tokenizer(path: str | Path, vocab_size: int | None = None) -> Tokenizer:
    """llama2.c's ``tokenizer.bin``: int32 max token length, then per token float32 score, int32
    length and that many UTF-8 bytes, until the end of the file (or ``vocab_size`` tokens).

    The export wrote SentencePiece pieces with "▁" as " " and BOS/EOS as "\\n<s>\\n"/"\\n</s>\\n";
    both are undone, so ``tokens`` matches the SentencePiece model it came from.
    """
    p = Path(path)
    data = read_bounded(p, MAX_FILE_BYTES, "tokenizer file")
    if len(data) < 4:
        raise FormatError("truncated llama2.c tokenizer header", p)
    (max_len,) = struct.unpack_from("<i", data, 0)
    if not 0 < max_len <= MAX_TOKEN_BYTES:
        raise FormatError(f"claims tokens of up to {max_len} bytes (limit {MAX_TOKEN_BYTES})", p)
    tokens: list[str] = []
    scores: list[float] = []
    types: list[int] = []
    pos = 4
    while pos < len(data) and (vocab_size is None or len(tokens) < vocab_size):
        if pos + 8 > len(data):
            raise FormatError(f"truncated at token {len(tokens)}", p)
        score, length = struct.unpack_from("<fi", data, pos)
        pos += 8
        if not 0 <= length <= max_len or pos + length > len(data) or not math.isfinite(score):
            raise FormatError(f"token {len(tokens)}: length {length} or score {score} impossible", p)
        try:
            text = data[pos : pos + length].decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"token {len(tokens)} is not UTF-8", p) from None
        pos += length
        marked = len(text) > 2 and text[0] == text[-1] == "\n"  # BOS/EOS as the export marks them
        piece = text.strip("\n") if marked else text.replace(" ", SPACE_MARK)
        if marked:
            types.append(CONTROL)
        elif not tokens and piece == "<unk>":
            types.append(UNKNOWN)
        else:
            types.append(BYTE if BYTE_PIECE.fullmatch(piece) else NORMAL)
        tokens.append(piece)
        scores.append(score)
        check_vocab_size(len(tokens), p)
    if not tokens or (vocab_size is not None and len(tokens) != vocab_size):
        raise FormatError(f"holds {len(tokens)} tokens, expected {vocab_size or 'some'}", p)
    check_added_tokens(types, p)
    unk = 0 if types[0] == UNKNOWN else None
    try:
        tok = sentencepiece_bpe(tokens, scores, types, add_space_prefix=True, unk_id=unk)
    except ValueError as e:
        raise FormatError(f"llama2.c tokenizer cannot be built: {one_line(e, 300)}", p) from None
    controls = [i for i, t in enumerate(types) if t == CONTROL]
    encode, decode = hf_backend(tok)
    return Tokenizer("llama2c", tokens, special_ids=[i for i, t in enumerate(types) if t in (UNKNOWN, CONTROL)],
                     surface="sentencepiece", encoder=encode, decoder=decode,
                     bos_id=controls[0] if controls else None, eos_id=controls[1] if len(controls) > 1 else None,
                     add_bos=True, source=p)
