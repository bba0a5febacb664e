"""The :class:`Tokenizer` every reader returns, and the one vocabulary convention they share.

Readers: :mod:`provenance.tokenizer.files` (``tokenizer.json``, SentencePiece and tiktoken
``tokenizer.model``) and :mod:`provenance.tokenizer.rebuilt` (GGUF metadata, llama2.c
``tokenizer.bin``); chat templates render in :mod:`provenance.tokenizer.chat`. Whatever the source,
``Tokenizer.tokens`` spells the vocabulary as Hugging Face's ``tokenizer.json`` would: SentencePiece
pieces as-is ("▁the", "<0x0A>"), byte-level BPE tokens in GPT-2's byte alphabet ("Ġthe"), special
tokens by name. So the same vocabulary has the same strings, and the same identity, from any file.

Identity (``vocab_identity``): the SHA-256, in hex, of the UTF-8 bytes of the token list in id
order, JSON-encoded compactly (``json.dumps(tokens, ensure_ascii=False, separators=(",", ":"))``).
``regular_identity`` hashes the non-special tokens only, so vocabularies that differ only in how
they name reserved special tokens (Llama 3.0 vs 3.1 vs 3.2) still match there.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import tokenizers

from provenance.errors import FormatError, UnsupportedError, native
from provenance.tokenizer.chat import TemplateRefused, render_chats

# Bounds applied before anything is allocated from an untrusted file.
MAX_FILE_BYTES = 256 << 20  # the largest real tokenizer file we know (Gemma 3 tokenizer.json) is 33 MB
MAX_VOCAB = 1 << 22  # the largest real vocabularies have ~262k tokens
MAX_TOKEN_BYTES = 1 << 16  # one llama2.c token; real ones are < 100 bytes

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
        chat_refusal: "chat template refused: ..." once rendering refused the template, else ``None``.
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
        self.chat_refusal: str | None = None  # why the chat template was refused, once it has been

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
        with native("the tokenizer cannot encode the text", self.source):  # every backend is native code
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
        with native("the tokenizer cannot decode the ids", self.source):
            return self._decoder(ids)

    def apply_chat_template(
        self, messages: Sequence[Mapping[str, Any]], add_generation_prompt: bool = True, **variables: Any
    ) -> str:
        """Render ``messages`` with the chat template (see :meth:`apply_chat_templates`)."""
        return self.apply_chat_templates([messages], add_generation_prompt, **variables)[0]

    def apply_chat_templates(
        self, conversations: Sequence[Sequence[Mapping[str, Any]]], add_generation_prompt: bool = True,
        **variables: Any,
    ) -> list[str]:
        """Render each conversation with the chat template, all in one sandboxed child process
        (templates come from files: see :mod:`provenance.tokenizer.chat`).

        Variables as in transformers: ``messages``, ``add_generation_prompt``, ``bos_token``,
        ``eos_token``, plus ``variables`` (JSON values). ``strftime_now`` is deliberately absent, so
        templates that would print today's date fall back to their fixed one and output stays
        deterministic. A refused template raises :class:`~provenance.tokenizer.chat.TemplateRefused`
        and is remembered in ``chat_refusal``.
        """
        if self.chat_template is None:
            raise UnsupportedError("the tokenizer has no chat template", self.source)
        names = {"bos_token": self.bos_id, "eos_token": self.eos_id}
        context = {k: (self.tokens[i] if i is not None else "") for k, i in names.items()}
        try:
            return render_chats(self.chat_template, conversations, {**context, **variables}, add_generation_prompt,
                                self.source)
        except TemplateRefused as e:
            self.chat_refusal = e.reason
            raise

    def __repr__(self) -> str:
        return f"Tokenizer(kind={self.kind!r}, vocab_size={self.vocab_size}, identity={self.identity[:12]})"


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
