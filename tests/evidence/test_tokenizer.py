"""Tokenizer evidence on Meta's real tokenizer files and a real non-Meta tokenizer (medium)."""

from __future__ import annotations

import pytest

from provenance.checkpoint.gguf import load_gguf
from provenance.evidence import Strength
from provenance.evidence.tokenizer import tokenizer_evidence
from provenance.knowledge.releases import load_knowledge
from provenance.tokenizer.files import load_tokenizer
from tests.models import SHARED, fetch

KN = load_knowledge()

TOKENIZERS = SHARED / "data" / "tokenizers"
needs_shared = pytest.mark.skipif(not TOKENIZERS.is_dir(), reason="../shared/data/tokenizers absent")


@pytest.fixture(scope="module")
def smollm2():
    with load_gguf(fetch("smollm2")) as ckpt:
        yield ckpt

@needs_shared
def test_real_llama2_tokenizer_is_medium_support_with_its_reusers() -> None:
    ev = tokenizer_evidence(load_tokenizer(TOKENIZERS / "llama2-sentencepiece.model"), KN)
    assert (ev.strength, ev.value, ev.supports) == (Strength.MEDIUM, 1.0, "derived")
    assert "identical to LLaMA-1 / Llama 2 SentencePiece" in ev.summary and "TinyLlama" in ev.summary
    assert ev.details["matches"][0]["tokenizer"] == "llama2-spm"


@needs_shared
def test_real_llama4_tokenizer() -> None:
    ev = tokenizer_evidence(load_tokenizer(TOKENIZERS / "llama4-tiktoken.model"), KN)
    assert ev.value == 1.0 and "Llama 4" in ev.summary


def test_real_smollm2_tokenizer_is_not_meta(smollm2) -> None:
    ev = tokenizer_evidence(smollm2.tokenizer, KN)
    assert (ev.value, ev.supports) == (0.0, None) and "49152 tokens" in ev.summary


def test_no_tokenizer() -> None:
    ev = tokenizer_evidence(None, KN)
    assert ev.value is None and ev.supports is None
