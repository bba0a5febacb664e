"""Tokenizers from every format a LLaMA-family checkpoint ships, in one vocabulary convention.

Sources: ``tokenizer.json`` (``tokenizers``), SentencePiece ``tokenizer.model`` (``sentencepiece``),
Meta's tiktoken ``tokenizer.model`` (``tiktoken``; Llama 3 and Llama 4), GGUF metadata and llama2.c
``tokenizer.bin`` (rebuilt with ``tokenizers``, see ``tokenizer_gguf``). Whatever the source,
``Tokenizer.tokens`` spells the vocabulary as Hugging Face's ``tokenizer.json`` would: SentencePiece
pieces as-is ("▁the", "<0x0A>"), byte-level BPE tokens in GPT-2's byte alphabet ("Ġthe"), special
tokens by name. So the same vocabulary has the same strings, and the same identity, from any file.

Identity (``vocab_identity``): the SHA-256, in hex, of the UTF-8 bytes of the token list in id
order, JSON-encoded compactly (``json.dumps(tokens, ensure_ascii=False, separators=(",", ":"))``).
``regular_identity`` hashes the non-special tokens only, so vocabularies that differ only in how
they name reserved special tokens (Llama 3.0 vs 3.1 vs 3.2) still match there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.ext
import jinja2.sandbox
import sentencepiece
import tiktoken
import tokenizers

from provenance.errors import FormatError, UnsupportedError

# Bounds applied before anything is allocated from an untrusted file.
MAX_FILE_BYTES = 256 << 20  # the largest real tokenizer file we know (Gemma 3 tokenizer.json) is 33 MB
MAX_VOCAB = 1 << 22  # the largest real vocabularies have ~262k tokens
MAX_TOKEN_BYTES = 1 << 16  # one llama2.c token; real ones are < 100 bytes
MAX_TEMPLATE_OUTPUT = 1 << 20  # characters a chat template may render
MAX_TEMPLATE_VALUE = 1 << 20  # longest string/list a template may build with "+" or "*"

# -- byte-level alphabet --------------------------------------------------------------------------
# GPT-2's bytes-to-unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes are
# moved, in order, to U+0100 onwards, so every byte has a visible, non-space character.
def _gpt2_byte_chars() -> tuple[str, ...]:
    printable = {*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)}
    moved = iter(range(0x100, 0x200))
    return tuple(chr(b) if b in printable else chr(next(moved)) for b in range(256))


BYTE_CHARS = _gpt2_byte_chars()
_BYTE_OF_CHAR = {c: b for b, c in enumerate(BYTE_CHARS)}
_LATIN1_TO_BYTE_CHAR = dict(enumerate(BYTE_CHARS))  # for str.translate: code point -> character
BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")

SURFACES = ("byte-level", "sentencepiece", "plain")
SPACE_MARK = "\u2581"  # "▁", SentencePiece's visible space

# Meta's split patterns (meta-llama/llama-models, models/llama{3,4}/tokenizer.py); Llama 4 uses o200k's.
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA4_PATTERN = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def byte_level(data: bytes) -> str:
    """``b" the"`` -> ``"Ġthe"``: bytes spelled in GPT-2's byte alphabet."""
    return data.decode("latin-1").translate(_LATIN1_TO_BYTE_CHAR)


def _utf8(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")  # token strings from files may hold lone surrogates


def vocab_identity(tokens: Sequence[str]) -> str:
    """Stable SHA-256 hex of the token strings in id order (see the module docstring)."""
    return hashlib.sha256(_utf8(json.dumps(list(tokens), ensure_ascii=False, separators=(",", ":")))).hexdigest()


class Tokenizer:
    """A vocabulary with its encoder, decoder, special tokens and chat template.

    Attributes:
        kind: where it came from: ``hf-json``, ``sentencepiece``, ``tiktoken``, ``gguf-llama``,
            ``gguf-gpt2`` (other ``gguf-*`` kinds carry the vocabulary but cannot encode), ``llama2c``.
        tokens: token strings in id order, in tokenizer.json conventions.
        special_ids: control, unknown and unused tokens (no surface text).
        surface: how a regular token string maps to bytes: one of ``SURFACES``.
        bos_id, eos_id: declared begin/end-of-sequence ids, or ``None``.
        add_bos: whether ``encode`` prepends ``bos_id`` unless told otherwise.
        chat_template: the Jinja chat template, or ``None``.
        source: the file it was read from (for error messages).
        notes: caveats found while building it (e.g. an unknown GGUF pre-tokenizer).
    """

    def __init__(
        self,
        kind: str,
        tokens: list[str],
        *,
        special_ids: Iterable[int],
        surface: str,
        encoder: Callable[[str, bool], list[int]] | None,
        decoder: Callable[[list[int]], str] | None,
        bos_id: int | None = None,
        eos_id: int | None = None,
        add_bos: bool = False,
        chat_template: str | None = None,
        source: str | Path | None = None,
        notes: Sequence[str] = (),
    ) -> None:
        if surface not in SURFACES:
            raise ValueError(f"unknown surface convention {surface!r}")
        self.kind = kind
        self.tokens = tokens
        self.special_ids = frozenset(special_ids)
        self.surface = surface
        self._encoder = encoder
        self._decoder = decoder
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.add_bos = add_bos
        self.chat_template = chat_template
        self.source = str(source) if source is not None else None
        self.notes = tuple(notes)

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    @cached_property
    def identity(self) -> str:
        """``vocab_identity`` of all tokens."""
        return vocab_identity(self.tokens)

    @cached_property
    def regular_identity(self) -> str:
        """``vocab_identity`` of the non-special tokens, in id order."""
        return vocab_identity([t for i, t in enumerate(self.tokens) if i not in self.special_ids])

    @cached_property
    def _ids(self) -> dict[str, int]:
        ids: dict[str, int] = {}
        for i, t in enumerate(self.tokens):
            ids.setdefault(t, i)
        return ids

    def token_to_id(self, token: str) -> int | None:
        """Id of a token string (tokenizer.json spelling), or ``None``."""
        return self._ids.get(token)

    def token_bytes(self, i: int) -> bytes | None:
        """The text bytes regular token ``i`` stands for; ``None`` for special tokens."""
        if i in self.special_ids or not 0 <= i < len(self.tokens) or not self.tokens[i]:
            return None
        t = self.tokens[i]
        if self.surface == "byte-level" and all(c in _BYTE_OF_CHAR for c in t):
            return bytes(_BYTE_OF_CHAR[c] for c in t)
        if self.surface == "sentencepiece":
            m = BYTE_PIECE.fullmatch(t)
            return bytes([int(m.group(1), 16)]) if m else _utf8(t.replace(SPACE_MARK, " "))
        return _utf8(t)  # plain vocabularies, and added tokens outside the byte alphabet

    def encode(self, text: str, add_bos: bool | None = None, parse_special: bool = True) -> list[int]:
        """Token ids of ``text``.

        ``add_bos`` defaults to the tokenizer's declared behaviour (``self.add_bos``);
        ``parse_special`` turns the names of special tokens in the text into those tokens (as a
        rendered chat template needs); with ``False`` they are tokenized as ordinary text.
        """
        if self._encoder is None:
            raise UnsupportedError(f"cannot encode with a {self.kind!r} vocabulary", self.source)
        ids = self._encoder(text, parse_special)
        if (self.add_bos if add_bos is None else add_bos) and self.bos_id is not None:
            ids.insert(0, self.bos_id)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text of token ids, as the source library decodes it (special tokens included)."""
        if self._decoder is None:
            raise UnsupportedError(f"cannot decode with a {self.kind!r} vocabulary", self.source)
        ids = [int(i) for i in ids]
        bad = next((i for i in ids if not 0 <= i < len(self.tokens)), None)
        if bad is not None:
            raise ValueError(f"token id {bad} outside the vocabulary of {len(self.tokens)}")
        return self._decoder(ids)

    def apply_chat_template(
        self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True, **variables: Any
    ) -> str:
        """Render ``messages`` with the chat template, in a sandbox (templates come from files).

        Variables as in transformers: ``messages``, ``add_generation_prompt``, ``bos_token``,
        ``eos_token``, plus ``variables``. ``strftime_now`` is deliberately absent, so templates
        that would print today's date fall back to their fixed one and output stays deterministic.
        """
        if self.chat_template is None:
            raise UnsupportedError("the tokenizer has no chat template", self.source)
        template = _compile_template(self.chat_template, self.source)
        names = {"bos_token": self.bos_id, "eos_token": self.eos_id}
        context = {k: (self.tokens[i] if i is not None else "") for k, i in names.items()}
        context.update(variables, messages=[dict(m) for m in messages], add_generation_prompt=add_generation_prompt)
        out: list[str] = []
        size = 0
        try:
            for chunk in template.generate(**context):
                size += len(chunk)
                if size > MAX_TEMPLATE_OUTPUT:
                    raise FormatError(f"chat template renders more than {MAX_TEMPLATE_OUTPUT} characters", self.source)
                out.append(chunk)
        except FormatError:
            raise
        except Exception as e:  # the template is untrusted code: any failure is the file's fault
            raise FormatError(f"chat template failed: {type(e).__name__}: {one_line(e)}", self.source) from None
        return "".join(out)

    def __repr__(self) -> str:
        return f"Tokenizer(kind={self.kind!r}, vocab_size={self.vocab_size}, identity={self.identity[:12]})"


# -- chat templates ---------------------------------------------------------------------------------
class _TemplateSandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The stock sandbox (no attribute escapes, no mutation of inputs, ``range`` capped) that also
    refuses to build huge strings or lists with ``+``/``*`` or huge numbers with ``**``."""

    intercepted_binops = frozenset({"+", "*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > 64:
            raise jinja2.sandbox.SecurityError("exponent too large")
        if operator == "*":  # checked before computing: "x" * 10**12 must never be allocated
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_TEMPLATE_VALUE:
                    raise jinja2.sandbox.SecurityError("repetition too large")
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, (str, list, tuple)) and len(result) > MAX_TEMPLATE_VALUE:
            raise jinja2.sandbox.SecurityError("value too large")  # stops repeated doubling with "+"
        return result


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None, separators: Any = None,
            sort_keys: bool = False) -> str:
    # transformers' variant: unlike Jinja's own filter, it does not HTML-escape "<", ">", "&".
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


@lru_cache(maxsize=16)
def _compile_template(source: str, path: str | None) -> jinja2.Template:
    env = _TemplateSandbox(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    try:
        return env.from_string(source)
    except Exception as e:  # TemplateSyntaxError, or a RecursionError on absurd nesting
        raise FormatError(f"chat template does not compile: {type(e).__name__}: {one_line(e)}", path) from None


# -- files ------------------------------------------------------------------------------------------
def read_file(path: Path, limit: int = MAX_FILE_BYTES) -> bytes:
    try:
        if not path.is_file():  # a FIFO or device would block or never end
            raise FormatError("not a regular file", path)
        size = path.stat().st_size
        if size > limit:
            raise FormatError(f"{size} bytes, more than the {limit} a tokenizer file may have", path)
        with open(path, "rb") as f:
            return f.read(limit + 1)[:limit]
    except OSError as e:
        raise FormatError(f"cannot read: {e.strerror or e}", path) from None


def one_line(e: BaseException) -> str:
    """An exception's text on one line: library and template messages may quote file content."""
    return " ".join(str(e).split())[:300]


def check_vocab_size(n: int, path: Path | str | None) -> None:
    if n > MAX_VOCAB:
        raise FormatError(f"claims {n} tokens, more than {MAX_VOCAB}", path)


def hf_backend(tok: tokenizers.Tokenizer) -> tuple[Callable[[str, bool], list[int]], Callable[[list[int]], str]]:
    def encode(text: str, parse_special: bool) -> list[int]:
        tok.encode_special_tokens = not parse_special  # True means "treat special names as text"
        return list(tok.encode(text, add_special_tokens=False).ids)

    def decode(ids: list[int]) -> str:
        return tok.decode(ids, skip_special_tokens=False)

    return encode, decode


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
        tok = tokenizers.Tokenizer.from_str(text)
        spec = json.loads(text)  # already accepted by tokenizers' parser, so bounded in depth
    except Exception as e:  # UnicodeDecodeError, the Rust parser's bare Exception, JSONDecodeError
        raise FormatError(f"not a valid tokenizer.json: {one_line(e)}", path) from None
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
    try:
        sp.LoadFromSerializedProto(data)
    except Exception as e:  # RuntimeError / OSError from the C++ parser
        raise FormatError(f"not a valid SentencePiece model: {one_line(e)}", path) from None
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
    try:
        enc = tiktoken.Encoding(name=path.name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)
    except Exception as e:  # tiktoken's Rust core raises bare exceptions
        raise FormatError(f"tiktoken rejects the ranks: {one_line(e)}", path) from None
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
        raise FormatError(f"not valid JSON: {one_line(e)}", path) from None
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
        from provenance.tokenizer_gguf import load_llama2c_tokenizer  # that module imports this one

        tok = load_llama2c_tokenizer(d / "tokenizer.bin")
    config = _read_json(d / "tokenizer_config.json") if (d / "tokenizer_config.json").is_file() else {}
    for attr, key in (("bos_id", "bos_token"), ("eos_id", "eos_token")):
        name = _token_name(config.get(key))
        if name is not None and tok.token_to_id(name) is not None:
            setattr(tok, attr, tok.token_to_id(name))
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
        from provenance.tokenizer_gguf import load_llama2c_tokenizer  # that module imports this one

        return load_llama2c_tokenizer(p)
    data = read_file(p)
    if data.startswith(b"GGUF"):
        raise UnsupportedError("a GGUF's tokenizer is read with the checkpoint (open_checkpoint)", p)
    if data.lstrip()[:1] == b"{":
        return _from_tokenizer_json(data, p)
    return _from_model_file(data, p)


def __getattr__(name: str) -> Any:
    # Re-export the GGUF and llama2.c readers lazily: provenance.tokenizer_gguf imports this module.
    if name in ("from_gguf_metadata", "load_llama2c_tokenizer"):
        from provenance import tokenizer_gguf

        return getattr(tokenizer_gguf, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
