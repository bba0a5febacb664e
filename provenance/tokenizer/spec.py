"""Validation of a ``tokenizer.json``'s runtime configuration before the ``tokenizers`` library sees it.

The library parses ``truncation`` and ``padding`` without checking them and acts on them at
``encode`` time: a ``stride`` not below ``max_length`` panics in Rust (a BaseException, with a
backtrace on stderr), and a padding length of 10^9 makes it allocate that many tokens (the process is
killed or aborts). These sections are validated here, with the library's own rules, so that a bad file
is one FormatError line; the loader then switches both off, because a probe must tokenize exactly the
text it is given (truncation would cut a prompt, padding would append ids).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provenance.errors import FormatError

# Longest sequence a padding or truncation length may name: the longest real context windows are
# ~10^7 tokens; anything larger is a claim made to allocate, not a model's setting.
MAX_SEQUENCE = 1 << 24
TRUNCATION_STRATEGIES = ("LongestFirst", "OnlyFirst", "OnlySecond")
DIRECTIONS = ("Left", "Right")


def _int(value: Any, low: int, what: str, path: Path) -> int:
    if type(value) is not int or not low <= value <= MAX_SEQUENCE:
        raise FormatError(f"tokenizer.json {what} {value!r} is not an integer in {low}..{MAX_SEQUENCE}", path)
    return value


def _choice(section: dict[str, Any], key: str, choices: tuple[str, ...], what: str, path: Path) -> None:
    if key in section and section[key] not in choices:
        raise FormatError(f"tokenizer.json {what}.{key} {section[key]!r} is not one of {', '.join(choices)}", path)


def check_truncation(section: Any, path: Path) -> None:
    """``truncation``: null, or ``max_length >= 1``, ``0 <= stride < max_length`` and known names."""
    if section is None:
        return
    if not isinstance(section, dict):
        raise FormatError("tokenizer.json truncation is not an object", path)
    max_length = _int(section.get("max_length"), 1, "truncation.max_length", path)
    stride = _int(section.get("stride", 0), 0, "truncation.stride", path)
    if stride >= max_length:  # tokenizers panics on the first encode (encoding.rs: stride < max_len)
        raise FormatError(f"tokenizer.json truncation.stride {stride} is not below max_length {max_length}", path)
    _choice(section, "strategy", TRUNCATION_STRATEGIES, "truncation", path)
    _choice(section, "direction", DIRECTIONS, "truncation", path)


def check_padding(section: Any, path: Path) -> None:
    """``padding``: null, or a ``BatchLongest``/``{"Fixed": n}`` strategy and bounded lengths and ids."""
    if section is None:
        return
    if not isinstance(section, dict):
        raise FormatError("tokenizer.json padding is not an object", path)
    strategy = section.get("strategy", "BatchLongest")
    if isinstance(strategy, dict) and list(strategy) == ["Fixed"]:
        _int(strategy["Fixed"], 0, "padding.strategy.Fixed", path)
    elif strategy != "BatchLongest":
        raise FormatError(f"tokenizer.json padding.strategy {strategy!r} is not BatchLongest or Fixed", path)
    if section.get("pad_to_multiple_of") is not None:
        _int(section["pad_to_multiple_of"], 1, "padding.pad_to_multiple_of", path)
    for key in ("pad_id", "pad_type_id"):
        if key in section and (type(section[key]) is not int or section[key] < 0):
            raise FormatError(f"tokenizer.json padding.{key} {section[key]!r} is not a token id", path)
    _choice(section, "direction", DIRECTIONS, "padding", path)


def check_spec(spec: Any, path: Path) -> dict[str, Any]:
    """The parsed ``tokenizer.json`` ``spec`` if its runtime configuration is usable, else FormatError."""
    if not isinstance(spec, dict):
        raise FormatError("tokenizer.json is not a JSON object", path)
    check_truncation(spec.get("truncation"), path)
    check_padding(spec.get("padding"), path)
    return spec
