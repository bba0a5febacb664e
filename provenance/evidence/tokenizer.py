"""Tokenizer evidence: is the model's tokenizer one of Meta's (medium)?

An identical vocabulary is harder to arrive at by chance than an architecture, but it is reused on
purpose: TinyLlama, Sheared-LLaMA and Phi-3.5-mini ship LLaMA-2's exact tokenizer, and only
Sheared-LLaMA's weights descend from Llama 2. A different tokenizer does not prove independence either
(vocabulary extension, e.g. Chinese-LLaMA).
"""

from __future__ import annotations

from typing import Protocol

from provenance.domain import Verdict
from provenance.evidence import Evidence, Strength
from provenance.knowledge.releases import Knowledge, match_tokenizer

_VALUE = {"identical": 1.0, "same-regular-tokens": 0.9, "same-size": 0.3}


class TokenizerLike(Protocol):
    @property
    def vocab_size(self) -> int: ...
    @property
    def identity(self) -> str: ...
    @property
    def regular_identity(self) -> str: ...


def tokenizer_evidence(tokenizer: TokenizerLike | None, knowledge: Knowledge) -> Evidence:
    """``tokenizer.release_match``: the Meta tokenizer the model's tokenizer equals, if any."""
    name = "tokenizer.release_match"
    if tokenizer is None:
        return Evidence(name, "tokenizer", Strength.MEDIUM, None, None, "no tokenizer shipped with the model")
    kn = knowledge
    matches = match_tokenizer(tokenizer.identity, tokenizer.regular_identity, tokenizer.vocab_size, kn)
    details = {"matches": [m.to_dict() for m in matches], "vocab_size": tokenizer.vocab_size,
               "identity": tokenizer.identity, "regular_identity": tokenizer.regular_identity}
    if not matches:
        return Evidence(name, "tokenizer", Strength.MEDIUM, 0.0, None,
                        f"tokenizer ({tokenizer.vocab_size} tokens) differs from every Meta tokenizer "
                        "(not proof of independence: vocabularies can be replaced or extended)", details)
    best = matches[0]
    info = kn.tokenizers[best.tokenizer]
    reuse = f"; also shipped by {', '.join(info.reused_by[:3])}" if info.reused_by else ""
    if best.kind == "same-size":
        summary = f"tokenizer has the vocabulary size of {info.name} ({info.vocab_size}), identity not comparable"
        return Evidence(name, "tokenizer", Strength.MEDIUM, _VALUE[best.kind], None, summary, details)
    how = "identical to" if best.kind == "identical" else "same tokens (special tokens differ) as"
    summary = f"tokenizer {how} {info.name} (medium: reused by independent models{reuse})"
    return Evidence(name, "tokenizer", Strength.MEDIUM, _VALUE[best.kind], Verdict.DERIVED, summary, details)
