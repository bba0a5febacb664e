"""Release knowledge: the shipped releases.json, architecture and tokenizer matching, declared names."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json

import pytest

from provenance.errors import FormatError
from provenance.knowledge import releases as R
from provenance.knowledge.licenses import LICENSES
from provenance.modelargs import ModelArgs
from provenance.tokenizer.files import load_tokenizer
from provenance.tokenizer.vocab import Tokenizer
from tests.release_configs import CONFIGS
from tools import build_releases as build

SHARED_DATA = build.SHARED / "data"
needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data (reference files) absent")
TOKENIZER_FILES = SHARED_DATA / "tokenizers"


@functools.cache
def real_tokenizer(file: str) -> Tokenizer:
    return load_tokenizer(TOKENIZER_FILES / file)


def args_of(repo: str) -> ModelArgs:
    return ModelArgs.from_hf_config(CONFIGS[repo])


def kinds(matches: list[R.ArchMatch]) -> dict[str, str]:
    return {m.release: m.kind.value for m in matches}


# -- the shipped knowledge ------------------------------------------------------------------------------
def test_knowledge_is_consistent() -> None:
    kn = R.load_knowledge()
    assert len(kn.releases) >= 25
    ids = [r.id for r in kn.releases]
    assert len(ids) == len(set(ids))
    for rel in kn.releases:
        assert rel.family in kn.families
        assert rel.license in LICENSES and LICENSES[rel.license].meta_family is not None
        assert rel.tokenizer in kn.tokenizers
        assert rel.id in kn.tokenizers[rel.tokenizer].releases
        assert all(s in kn.sources for s in rel.sources)
        assert rel.args.vocab_size >= kn.tokenizers[rel.tokenizer].vocab_size
        assert rel.args.dim == rel.args.n_heads * rel.args.head_dim
    for fam in kn.families.values():
        assert fam.license in LICENSES


@needs_shared
def test_shipped_file_is_a_fresh_build(tmp_path, capsys) -> None:
    """releases.json is exactly what `python -m provenance.knowledge.releases build` produces now."""
    assert build.main(["check"]) == 0
    out = tmp_path / "releases.json"
    assert build.main(["build", "--output", str(out)]) == 0
    assert out.read_bytes() == R.data_path().read_bytes()
    out.write_text(out.read_text().replace('"llama-2-7b"', '"llama-2-7b-edited"'))
    assert build.main(["check", "--output", str(out)]) == 1
    assert "stale" in capsys.readouterr().err


@needs_shared
def test_tokenizer_facts_are_computed_from_the_real_files() -> None:
    kn = R.load_knowledge()
    for info in kn.tokenizers.values():
        if info.file is None:
            assert info.identity is None and info.sha256 is None
            continue
        blob = (TOKENIZER_FILES / info.file).read_bytes()
        assert info.sha256 == hashlib.sha256(blob).hexdigest() and info.size == len(blob)
        tok = real_tokenizer(info.file)
        assert (tok.identity, tok.regular_identity, tok.vocab_size) == (
            info.identity, info.regular_identity, info.vocab_size)
    # The Code Llama thread published the md5 of the Python/34B tokenizer.model: it is Llama 2's file.
    llama2 = (TOKENIZER_FILES / "llama2-sentencepiece.model").read_bytes()
    assert hashlib.md5(llama2).hexdigest() in kn.tokenizers["llama2-spm"].known_md5


def test_malformed_knowledge_raises_format_error(tmp_path) -> None:
    good = json.loads(R.data_path().read_text(encoding="utf-8"))
    cases = {"truncated.json": R.data_path().read_text(encoding="utf-8")[:500],
             "schema.json": json.dumps({**good, "schema": 99}),
             "missing.json": json.dumps({k: v for k, v in good.items() if k != "releases"}),
             "badargs.json": json.dumps({**good, "releases": [{**good["releases"][0], "args": {"nope": 1}}]}),
             "notdict.json": json.dumps({**good, "families": ["llama-2"]}),
             "list.json": "[1, 2, 3]"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(FormatError, match=name):
            R.load_knowledge(tmp_path / name)
    with pytest.raises(FormatError):
        R.load_knowledge(tmp_path / "absent.json")


# -- architecture ------------------------------------------------------------------------------------------
def test_llama2_7b_config_matches_exactly_and_near_releases_say_what_differs() -> None:
    m = R.match_architecture(args_of("meta-llama/Llama-2-7b-hf"))
    assert (m[0].kind, m[0].release, m[0].differences) == (R.MatchKind.EXACT, "llama-2-7b", {})
    k = kinds(m)
    assert k["llama-1-7b"] == "same-shapes"  # LLaMA-1: eps 1e-6, context 2048
    assert set(next(x for x in m if x.release == "llama-1-7b").differences) == {"norm_eps", "max_seq_len"}
    assert k["code-llama-7b-python"] == "same-shapes"  # rope theta 1e6, context 16k
    assert k["code-llama-7b"] == "resized-vocab"  # 32016 rows
    assert "llama-2-13b" not in k


def test_llama1_and_code_llama_configs() -> None:
    assert R.match_architecture(args_of("huggyllama/llama-7b"))[0].release == "llama-1-7b"
    assert R.match_architecture(args_of("codellama/CodeLlama-7b-hf"))[0].release == "code-llama-7b"
    py = R.match_architecture(args_of("codellama/CodeLlama-7b-Python-hf"))
    assert (py[0].kind, py[0].release) == (R.MatchKind.EXACT, "code-llama-7b-python")


def test_llama31_is_told_apart_from_llama3_by_rope_scaling_and_context() -> None:
    m30 = R.match_architecture(args_of("meta-llama/Meta-Llama-3-8B"))
    m31 = R.match_architecture(args_of("meta-llama/Llama-3.1-8B"))
    assert (m30[0].kind, m30[0].release) == (R.MatchKind.EXACT, "llama-3-8b")
    assert (m31[0].kind, m31[0].release) == (R.MatchKind.EXACT, "llama-3.1-8b")
    other = next(x for x in m31 if x.release == "llama-3-8b")
    assert other.kind is R.MatchKind.SAME_SHAPES and set(other.differences) == {"rope_scaling", "max_seq_len"}
    # A Llama 3.1 config with rope scaling stripped is a 3.1 model re-labelled, not an exact 3.0 one.
    stripped = dataclasses.replace(args_of("meta-llama/Llama-3.1-8B"), rope_scaling=None)
    assert R.match_architecture(stripped)[0].differences == {"max_seq_len": (8192, 131072)}


def test_identical_architectures_are_all_reported() -> None:
    m = R.match_architecture(args_of("meta-llama/Llama-3.3-70B-Instruct"))
    exact = {x.release for x in m if x.kind is R.MatchKind.EXACT}
    assert exact == {"llama-3.1-70b", "llama-3.3-70b"}


def test_multimodal_and_moe_configs_match_through_their_text_config() -> None:
    assert R.match_architecture(args_of("meta-llama/Llama-3.2-1B"))[0].release == "llama-3.2-1b"
    vision = R.match_architecture(args_of("meta-llama/Llama-3.2-11B-Vision"))
    assert (vision[0].kind, vision[0].release) == (R.MatchKind.EXACT, "llama-3.2-11b-vision")
    scout = R.match_architecture(args_of("meta-llama/Llama-4-Scout-17B-16E"))
    assert (scout[0].kind, scout[0].release) == (R.MatchKind.EXACT, "llama-4-scout")
    assert kinds(scout)["llama-4-maverick"] == "same-shapes"  # differ in context and rope scaling only


def test_tinyllama_and_yi_share_the_design_but_match_no_release() -> None:
    for repo in ("TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T", "01-ai/Yi-34B"):
        m = R.match_architecture(args_of(repo))
        assert [(x.kind, x.release) for x in m] == [(R.MatchKind.SAME_FAMILY, None)], repo


def test_mistral_shares_llama3_8b_layers_which_is_why_architecture_is_weak() -> None:
    m = R.match_architecture(args_of("mistralai/Mistral-7B-v0.1"))
    best = m[0]
    assert best.kind is R.MatchKind.RESIZED_VOCAB and best.release in {"llama-3-8b", "llama-3.1-8b"}
    assert {"arch", "vocab_size"} <= set(best.differences)


def test_depth_change_and_unrelated_architecture() -> None:
    pruned = dataclasses.replace(args_of("meta-llama/Llama-2-7b-hf"), n_layers=24)
    m = R.match_architecture(pruned)
    assert m[0].kind is R.MatchKind.DIFFERENT_DEPTH and m[0].release == "llama-2-7b"
    assert m[0].differences["n_layers"] == (32, 24)
    assert R.match_architecture(args_of("Qwen/Qwen2.5-0.5B")) == []  # qwen2 (q/k/v biases): not Meta's class


def test_arch_match_to_dict_is_json() -> None:
    m = R.match_architecture(args_of("meta-llama/Llama-3.1-8B"))
    text = json.dumps([x.to_dict() for x in m])
    assert '"rope_scaling"' in text and '"factor": 8.0' in text


# -- tokenizers -------------------------------------------------------------------------------------------------
@needs_shared
@pytest.mark.parametrize("file,tid", [("llama2-sentencepiece.model", "llama2-spm"),
                                      ("llama3-tiktoken.model", "llama3-tiktoken"),
                                      ("llama4-tiktoken.model", "llama4-tiktoken")])
def test_real_meta_tokenizers_are_identical_to_their_entry(file: str, tid: str) -> None:
    tok = real_tokenizer(file)
    m = R.match_tokenizer(tok.identity, tok.regular_identity, tok.vocab_size)
    assert [(x.kind, x.tokenizer) for x in m] == [("identical", tid)]


@needs_shared
def test_llama2_tokenizer_is_shared_by_llama1_llama2_and_code_llama_python() -> None:
    tok = real_tokenizer("llama2-sentencepiece.model")
    m = R.match_tokenizer(tok.identity, tok.regular_identity, tok.vocab_size)[0]
    assert {"llama-1-7b", "llama-2-70b", "code-llama-7b-python", "code-llama-34b"} <= set(m.releases)
    assert "TinyLlama-1.1B" in m.reused_by and "code-llama-7b" not in m.releases


@needs_shared
def test_renamed_special_tokens_still_match_on_regular_tokens() -> None:
    """Llama 3.0 and 3.1 name reserved special tokens differently; the regular vocabulary is the same."""
    real = real_tokenizer("llama3-tiktoken.model")
    specials = set(real.special_ids)
    renamed = [f"<|renamed_{i}|>" if i in specials else t for i, t in enumerate(real.tokens)]
    variant = Tokenizer("tiktoken", renamed, special_ids=specials, surface="byte-level", encoder=None, decoder=None)
    assert variant.identity != real.identity
    m = R.match_tokenizer(variant.identity, variant.regular_identity, variant.vocab_size)
    assert [(x.kind, x.tokenizer) for x in m] == [("same-regular-tokens", "llama3-tiktoken")]
    # one regular token changed: no match at all (a vocabulary of another size-mate is not Meta's)
    edited = list(real.tokens)
    edited[1000] = edited[1000] + "x"
    other = Tokenizer("tiktoken", edited, special_ids=specials, surface="byte-level", encoder=None, decoder=None)
    assert R.match_tokenizer(other.identity, other.regular_identity, other.vocab_size) == []


def test_size_only_match_when_no_identity_can_be_compared() -> None:
    m = R.match_tokenizer(None, None, 32016)
    assert [(x.kind, x.tokenizer) for x in m] == [("same-size", "codellama-spm")]
    assert R.match_tokenizer("0" * 64, "0" * 64, 49152) == []


# -- declared names ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,expected", [
    ("meta-llama/Llama-2-7b-hf", "llama-2-7b"),
    ("meta-llama/Llama-2-7b-chat-hf", "llama-2-7b"),
    ("https://huggingface.co/meta-llama/Meta-Llama-3.1-8B-Instruct", "llama-3.1-8b"),
    ("meta-llama/Llama-3.1-8B-Instruct", "llama-3.1-8b"),
    ("Llama-2-7b", "llama-2-7b"),
    ("llama_2_13b_chat_hf", "llama-2-13b"),
    ("huggyllama/llama-65b", "llama-1-65b"),
    ("codellama/CodeLlama-34b-Instruct-hf", "code-llama-34b"),
    ("meta-llama/Llama-4-Scout-17B-16E-Instruct", "llama-4-scout"),
    ("TinyLlama/TinyLlama-1.1B-Chat-v1.0", None),
    ("mistralai/Mistral-7B-v0.1", None),
    ("", None),
])
def test_resolve_release(name: str, expected: str | None) -> None:
    rel = R.resolve_release(name)
    assert (rel.id if rel else None) == expected


def test_primary_repo_is_the_base_weights() -> None:
    kn = R.load_knowledge()
    assert kn.release("llama-2-7b").primary_repo == "meta-llama/Llama-2-7b-hf"
    assert kn.release("llama-3.3-70b").primary_repo == "meta-llama/Llama-3.3-70B-Instruct"
    assert kn.release("llama-1-7b").primary_repo == "huggyllama/llama-7b"
