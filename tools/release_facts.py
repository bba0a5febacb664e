"""The hand-maintained table of Meta's LLaMA releases, the input of ``python -m provenance.knowledge.releases build``.

Everything here is a public fact with a source; anything the build can compute from a real file
(tokenizer hashes and vocabulary identities, license-text fingerprints) is *not* written here but
computed by the build from ``../shared/data``. Values we could not confirm against a second source are
listed in each entry's ``unverified``. Architectures are :class:`~provenance.modelargs.ModelArgs` fields
(HF config names in the comments of ``config.py``); ``extra`` holds facts ModelArgs cannot express.
"""

from __future__ import annotations

from typing import Any

from provenance.modelargs import ModelArgs, RopeScaling

# -- sources ---------------------------------------------------------------------------------------
# Keys are cited by the entries below; the build copies this mapping into releases.json.
SOURCES: dict[str, str] = {
    "meta-llama1-paper": "https://arxiv.org/abs/2302.13971",
    "meta-llama-repo": "https://github.com/meta-llama/llama",
    "meta-llama-models": "https://github.com/meta-llama/llama-models",
    "meta-codellama-repo": "https://github.com/meta-llama/codellama",
    "codellama-paper": "https://arxiv.org/abs/2308.12950",
    "codellama-70b-rope": "https://github.com/meta-llama/codellama/issues/188",
    "codellama-vocab-tokenizers": "https://github.com/epfLLM/Megatron-LLM/pull/51",
    "codellama-python-vocab": "https://github.com/karpathy/llama2.c/pull/355",
    "litgpt-configs": "https://github.com/Lightning-AI/litgpt/blob/main/litgpt/config.py",
    "llama2-eps": "https://github.com/meta-llama/llama/issues/771",
    "llama1-eps": "https://github.com/ggml-org/llama.cpp/pull/2384",
    "mllama-convert": (
        "https://github.com/huggingface/transformers/blob/main/src/transformers/models/mllama/"
        "convert_mllama_weights_to_hf.py"
    ),
    "hf-llama32-blog": "https://huggingface.co/blog/llama32",
    "hf-llama4-scout-config": "https://huggingface.co/meta-llama/Llama-4-Scout-17B-16E/blob/main/config.json",
    "llama-license-texts": "https://github.com/meta-llama/llama-models/tree/main/models",
}

# -- families: one per release wave and license ----------------------------------------------------
FAMILIES: list[dict[str, Any]] = [
    {
        "id": "llama-1",
        "name": "LLaMA-1",
        "released": "2023-02-24",
        "license": "llama1",
        "sources": ["meta-llama1-paper", "meta-llama-repo"],
        "unverified": ["released (from memory of the announcement; no dated text in our reference set)"],
    },
    {"id": "llama-2", "name": "Llama 2", "released": "2023-07-18", "license": "llama2",
     "sources": ["llama-license-texts"], "unverified": []},
    {"id": "code-llama", "name": "Code Llama", "released": "2023-08-24", "license": "llama2",
     "sources": ["codellama-paper", "meta-codellama-repo"], "unverified": []},
    {"id": "llama-3", "name": "Llama 3", "released": "2024-04-18", "license": "llama3",
     "sources": ["llama-license-texts"], "unverified": []},
    {"id": "llama-3.1", "name": "Llama 3.1", "released": "2024-07-23", "license": "llama3.1",
     "sources": ["llama-license-texts"], "unverified": []},
    {"id": "llama-3.2", "name": "Llama 3.2", "released": "2024-09-25", "license": "llama3.2",
     "sources": ["llama-license-texts", "hf-llama32-blog"], "unverified": []},
    {"id": "llama-3.3", "name": "Llama 3.3", "released": "2024-12-06", "license": "llama3.3",
     "sources": ["llama-license-texts"], "unverified": []},
    {"id": "llama-4", "name": "Llama 4", "released": "2025-04-05", "license": "llama4",
     "sources": ["llama-license-texts"], "unverified": []},
]

# -- tokenizers --------------------------------------------------------------------------------------
# ``file`` names a file under ../shared/data/tokenizers/ from which the build computes sha256, size and
# the vocabulary identities. ``reused_by`` lists independent (or differently derived) models known to
# ship the identical tokenizer: why a tokenizer match is only medium evidence.
TOKENIZERS: list[dict[str, Any]] = [
    {
        "id": "llama2-spm",
        "name": "LLaMA-1 / Llama 2 SentencePiece (32000 pieces)",
        "file": "llama2-sentencepiece.model",
        "vocab_size": 32000,
        "known_md5": {"eeec4125e9c7560836b4873b6f8e3025": "codellama-vocab-tokenizers"},
        "reused_by": ["TinyLlama-1.1B", "Sheared-LLaMA", "Phi-3.5-mini", "Vicuna", "Alpaca"],
        "notes": "Code Llama - Python (all sizes) and Code Llama 34B ship this exact file (md5 in the cited thread).",
    },
    {
        "id": "codellama-spm",
        "name": "Code Llama SentencePiece with infilling pieces (32016)",
        "file": None,
        "vocab_size": 32016,
        "known_md5": {"9e597e72392fd4005529a33f2bf708ba": "codellama-vocab-tokenizers"},
        "reused_by": [],
        "notes": "Llama 2's pieces plus infilling tokens; no copy in our reference data, so no identity hash.",
    },
    {
        "id": "llama3-tiktoken",
        "name": "Llama 3.x tiktoken BPE (128000 ranks + 256 specials)",
        "file": "llama3-tiktoken.model",
        "vocab_size": 128256,
        "known_md5": {},
        "reused_by": [],
        "notes": "Shared by Llama 3, 3.1, 3.2 and 3.3; 3.1 renamed some reserved special tokens (same ranks).",
    },
    {
        "id": "llama4-tiktoken",
        "name": "Llama 4 tiktoken BPE (200000 ranks + 2048 specials)",
        "file": "llama4-tiktoken.model",
        "vocab_size": 202048,
        "known_md5": {},
        "reused_by": [],
        "notes": "",
    },
]


def _args(
    dim: int,
    hidden: int,
    layers: int,
    heads: int,
    kv: int,
    vocab: int,
    *,
    ctx: int,
    eps: float = 1e-5,
    theta: float = 10000.0,
    scaling: RopeScaling | None = None,
    tied: bool = False,
    arch: str = "llama",
    bos: int = 1,
    eos: int = 2,
) -> dict[str, Any]:
    return ModelArgs(
        arch=arch, dim=dim, n_layers=layers, n_heads=heads, n_kv_heads=kv, vocab_size=vocab,
        hidden_dim=hidden, head_dim=dim // heads, norm_eps=eps, rope_theta=theta, rope_scaling=scaling,
        tie_embeddings=tied, qkv_bias=False, max_seq_len=ctx, bos_token_id=bos, eos_token_id=eos,
    ).to_dict()


_L3 = {"theta": 500000.0, "bos": 128000, "eos": 128001}
_SCALE8 = RopeScaling(8.0, 1.0, 4.0, 8192)
_SCALE32 = RopeScaling(32.0, 1.0, 4.0, 8192)


def _hf(*pairs: str) -> dict[str, str]:
    """``variant=repo`` strings -> mapping (keeps the table one line per release)."""
    return dict(p.split("=", 1) for p in pairs)


# -- releases: one entry per distinct architecture; variants sharing it are listed in ``hf`` ---------
RELEASES: list[dict[str, Any]] = [
    # LLaMA-1: Meta distributed weights by request form only; the HF repos are community conversions.
    {"id": "llama-1-7b", "family": "llama-1", "name": "LLaMA-1 7B", "hf": {},
     "community_hf": ["huggyllama/llama-7b"], "tokenizer": "llama2-spm",
     "args": _args(4096, 11008, 32, 32, 32, 32000, ctx=2048, eps=1e-6),
     "sources": ["meta-llama1-paper", "llama1-eps"], "unverified": []},
    {"id": "llama-1-13b", "family": "llama-1", "name": "LLaMA-1 13B", "hf": {},
     "community_hf": ["huggyllama/llama-13b"], "tokenizer": "llama2-spm",
     "args": _args(5120, 13824, 40, 40, 40, 32000, ctx=2048, eps=1e-6),
     "sources": ["meta-llama1-paper", "litgpt-configs"], "unverified": []},
    {"id": "llama-1-33b", "family": "llama-1", "name": "LLaMA-1 33B (\"30B\")", "hf": {},
     "community_hf": ["huggyllama/llama-30b"], "tokenizer": "llama2-spm",
     "args": _args(6656, 17920, 60, 52, 52, 32000, ctx=2048, eps=1e-6),
     "sources": ["meta-llama1-paper", "litgpt-configs"], "unverified": []},
    {"id": "llama-1-65b", "family": "llama-1", "name": "LLaMA-1 65B", "hf": {},
     "community_hf": ["huggyllama/llama-65b"], "tokenizer": "llama2-spm",
     # params.json of 65B carries norm_eps 1e-5 (unlike 7B/13B/33B): two independent third-party copies.
     "args": _args(8192, 22016, 80, 64, 64, 32000, ctx=2048, eps=1e-5),
     "sources": ["meta-llama1-paper"], "unverified": ["norm_eps (third-party copies of params.json only)"]},
    # Llama 2
    {"id": "llama-2-7b", "family": "llama-2", "name": "Llama 2 7B",
     "hf": _hf("base=meta-llama/Llama-2-7b-hf", "chat=meta-llama/Llama-2-7b-chat-hf",
               "base-meta=meta-llama/Llama-2-7b", "chat-meta=meta-llama/Llama-2-7b-chat"),
     "tokenizer": "llama2-spm", "args": _args(4096, 11008, 32, 32, 32, 32000, ctx=4096),
     "sources": ["meta-llama-repo", "llama2-eps"], "unverified": []},
    {"id": "llama-2-13b", "family": "llama-2", "name": "Llama 2 13B",
     "hf": _hf("base=meta-llama/Llama-2-13b-hf", "chat=meta-llama/Llama-2-13b-chat-hf",
               "base-meta=meta-llama/Llama-2-13b", "chat-meta=meta-llama/Llama-2-13b-chat"),
     "tokenizer": "llama2-spm", "args": _args(5120, 13824, 40, 40, 40, 32000, ctx=4096),
     "sources": ["meta-llama-repo", "llama2-eps"], "unverified": []},
    {"id": "llama-2-70b", "family": "llama-2", "name": "Llama 2 70B",
     "hf": _hf("base=meta-llama/Llama-2-70b-hf", "chat=meta-llama/Llama-2-70b-chat-hf",
               "base-meta=meta-llama/Llama-2-70b", "chat-meta=meta-llama/Llama-2-70b-chat"),
     "tokenizer": "llama2-spm", "args": _args(8192, 28672, 80, 64, 8, 32000, ctx=4096),
     "sources": ["meta-llama-repo", "litgpt-configs"], "unverified": []},
    # Code Llama: base and Instruct 7B/13B/70B carry 4 infilling pieces (+12 padding) -> 32016 rows;
    # Python variants and all of 34B keep Llama 2's 32000-piece tokenizer file.
    {"id": "code-llama-7b", "family": "code-llama", "name": "Code Llama 7B",
     "hf": _hf("base=codellama/CodeLlama-7b-hf", "instruct=codellama/CodeLlama-7b-Instruct-hf",
               "base-meta-org=meta-llama/CodeLlama-7b-hf", "instruct-meta-org=meta-llama/CodeLlama-7b-Instruct-hf"),
     "tokenizer": "codellama-spm", "args": _args(4096, 11008, 32, 32, 32, 32016, ctx=16384, theta=1e6),
     "sources": ["codellama-paper", "litgpt-configs", "codellama-vocab-tokenizers"], "unverified": []},
    {"id": "code-llama-7b-python", "family": "code-llama", "name": "Code Llama - Python 7B",
     "hf": _hf("python=codellama/CodeLlama-7b-Python-hf", "python-meta-org=meta-llama/CodeLlama-7b-Python-hf"),
     "tokenizer": "llama2-spm", "args": _args(4096, 11008, 32, 32, 32, 32000, ctx=16384, theta=1e6),
     "sources": ["litgpt-configs", "codellama-python-vocab", "codellama-vocab-tokenizers"], "unverified": []},
    {"id": "code-llama-13b", "family": "code-llama", "name": "Code Llama 13B",
     "hf": _hf("base=codellama/CodeLlama-13b-hf", "instruct=codellama/CodeLlama-13b-Instruct-hf",
               "base-meta-org=meta-llama/CodeLlama-13b-hf", "instruct-meta-org=meta-llama/CodeLlama-13b-Instruct-hf"),
     "tokenizer": "codellama-spm", "args": _args(5120, 13824, 40, 40, 40, 32016, ctx=16384, theta=1e6),
     "sources": ["codellama-paper", "litgpt-configs", "codellama-vocab-tokenizers"],
     "unverified": ["max_seq_len of the 13B-Instruct HF config (one third-party copy reads 2048)"]},
    {"id": "code-llama-13b-python", "family": "code-llama", "name": "Code Llama - Python 13B",
     "hf": _hf("python=codellama/CodeLlama-13b-Python-hf", "python-meta-org=meta-llama/CodeLlama-13b-Python-hf"),
     "tokenizer": "llama2-spm", "args": _args(5120, 13824, 40, 40, 40, 32000, ctx=16384, theta=1e6),
     "sources": ["litgpt-configs", "codellama-vocab-tokenizers"], "unverified": []},
    {"id": "code-llama-34b", "family": "code-llama", "name": "Code Llama 34B (base, Python, Instruct)",
     "hf": _hf("base=codellama/CodeLlama-34b-hf", "python=codellama/CodeLlama-34b-Python-hf",
               "instruct=codellama/CodeLlama-34b-Instruct-hf", "base-meta-org=meta-llama/CodeLlama-34b-hf",
               "python-meta-org=meta-llama/CodeLlama-34b-Python-hf",
               "instruct-meta-org=meta-llama/CodeLlama-34b-Instruct-hf"),
     "tokenizer": "llama2-spm", "args": _args(8192, 22016, 48, 64, 8, 32000, ctx=16384, theta=1e6),
     "sources": ["litgpt-configs", "codellama-vocab-tokenizers"], "unverified": []},
    {"id": "code-llama-70b", "family": "code-llama", "name": "Code Llama 70B", "released": "2024-01-29",
     "hf": _hf("base=codellama/CodeLlama-70b-hf", "base-meta-org=meta-llama/CodeLlama-70b-hf"),
     "tokenizer": "codellama-spm", "args": _args(8192, 28672, 80, 64, 8, 32016, ctx=16384, theta=1e6),
     "sources": ["litgpt-configs", "codellama-70b-rope"],
     "unverified": ["tokenizer file identical to the 7B/13B infilling tokenizer"]},
    {"id": "code-llama-70b-python-instruct", "family": "code-llama", "name": "Code Llama 70B - Python / Instruct",
     "released": "2024-01-29",
     "hf": _hf("python=codellama/CodeLlama-70b-Python-hf", "instruct=codellama/CodeLlama-70b-Instruct-hf",
               "python-meta-org=meta-llama/CodeLlama-70b-Python-hf",
               "instruct-meta-org=meta-llama/CodeLlama-70b-Instruct-hf"),
     # A Code Llama author states rope_theta 10000 and context 4096 for these two (issue #188);
     # a third-party config table lists 1e6 / 16384 instead.
     "tokenizer": "codellama-spm", "args": _args(8192, 28672, 80, 64, 8, 32016, ctx=4096, theta=10000.0),
     "sources": ["codellama-70b-rope", "litgpt-configs"],
     "unverified": ["rope_theta and max_seq_len (sources disagree)", "tokenizer file"]},
    # Llama 3
    {"id": "llama-3-8b", "family": "llama-3", "name": "Meta Llama 3 8B",
     "hf": _hf("base=meta-llama/Meta-Llama-3-8B", "instruct=meta-llama/Meta-Llama-3-8B-Instruct"),
     "tokenizer": "llama3-tiktoken", "args": _args(4096, 14336, 32, 32, 8, 128256, ctx=8192, **_L3),
     "sources": ["meta-llama-models"], "unverified": []},
    {"id": "llama-3-70b", "family": "llama-3", "name": "Meta Llama 3 70B",
     "hf": _hf("base=meta-llama/Meta-Llama-3-70B", "instruct=meta-llama/Meta-Llama-3-70B-Instruct"),
     "tokenizer": "llama3-tiktoken", "args": _args(8192, 28672, 80, 64, 8, 128256, ctx=8192, **_L3),
     "sources": ["meta-llama-models"], "unverified": []},
    # Llama 3.1: same shapes as Llama 3, told apart by llama3 rope scaling and the 128k context.
    {"id": "llama-3.1-8b", "family": "llama-3.1", "name": "Llama 3.1 8B",
     "hf": _hf("base=meta-llama/Llama-3.1-8B", "instruct=meta-llama/Llama-3.1-8B-Instruct",
               "base-old-name=meta-llama/Meta-Llama-3.1-8B", "instruct-old-name=meta-llama/Meta-Llama-3.1-8B-Instruct"),
     "tokenizer": "llama3-tiktoken",
     "args": _args(4096, 14336, 32, 32, 8, 128256, ctx=131072, scaling=_SCALE8, **_L3),
     "sources": ["meta-llama-models"], "unverified": []},
    {"id": "llama-3.1-70b", "family": "llama-3.1", "name": "Llama 3.1 70B",
     "hf": _hf("base=meta-llama/Llama-3.1-70B", "instruct=meta-llama/Llama-3.1-70B-Instruct",
               "base-old-name=meta-llama/Meta-Llama-3.1-70B",
               "instruct-old-name=meta-llama/Meta-Llama-3.1-70B-Instruct"),
     "tokenizer": "llama3-tiktoken",
     "args": _args(8192, 28672, 80, 64, 8, 128256, ctx=131072, scaling=_SCALE8, **_L3),
     "sources": ["meta-llama-models"], "unverified": []},
    {"id": "llama-3.1-405b", "family": "llama-3.1", "name": "Llama 3.1 405B",
     "hf": _hf("base=meta-llama/Llama-3.1-405B", "instruct=meta-llama/Llama-3.1-405B-Instruct",
               "base-fp8=meta-llama/Llama-3.1-405B-FP8", "instruct-fp8=meta-llama/Llama-3.1-405B-Instruct-FP8"),
     "tokenizer": "llama3-tiktoken",
     "args": _args(16384, 53248, 126, 128, 8, 128256, ctx=131072, scaling=_SCALE8, **_L3),
     "sources": ["meta-llama-models"], "unverified": []},
    # Llama 3.2 text (tied embeddings, rope factor 32) and vision (mllama: self-attention layers plus
    # interleaved cross-attention layers, 32+8 and 80+20, counted together as in the HF text config).
    {"id": "llama-3.2-1b", "family": "llama-3.2", "name": "Llama 3.2 1B",
     "hf": _hf("base=meta-llama/Llama-3.2-1B", "instruct=meta-llama/Llama-3.2-1B-Instruct"),
     "tokenizer": "llama3-tiktoken",
     "args": _args(2048, 8192, 16, 32, 8, 128256, ctx=131072, scaling=_SCALE32, tied=True, **_L3),
     "sources": ["meta-llama-models", "hf-llama32-blog"], "unverified": []},
    {"id": "llama-3.2-3b", "family": "llama-3.2", "name": "Llama 3.2 3B",
     "hf": _hf("base=meta-llama/Llama-3.2-3B", "instruct=meta-llama/Llama-3.2-3B-Instruct"),
     "tokenizer": "llama3-tiktoken",
     "args": _args(3072, 8192, 28, 24, 8, 128256, ctx=131072, scaling=_SCALE32, tied=True, **_L3),
     "sources": ["meta-llama-models", "hf-llama32-blog"], "unverified": []},
    {"id": "llama-3.2-11b-vision", "family": "llama-3.2", "name": "Llama 3.2 11B Vision",
     "hf": _hf("base=meta-llama/Llama-3.2-11B-Vision", "instruct=meta-llama/Llama-3.2-11B-Vision-Instruct"),
     "tokenizer": "llama3-tiktoken", "multimodal": True,
     "args": _args(4096, 14336, 40, 32, 8, 128256, ctx=131072, scaling=_SCALE8, arch="mllama", **_L3),
     "extra": {"cross_attention_layers": 8, "image_token_id": 128256},
     "sources": ["mllama-convert", "hf-llama32-blog"],
     "unverified": ["rope_scaling and max_seq_len of the text config"]},
    {"id": "llama-3.2-90b-vision", "family": "llama-3.2", "name": "Llama 3.2 90B Vision",
     "hf": _hf("base=meta-llama/Llama-3.2-90B-Vision", "instruct=meta-llama/Llama-3.2-90B-Vision-Instruct"),
     "tokenizer": "llama3-tiktoken", "multimodal": True,
     "args": _args(8192, 28672, 100, 64, 8, 128256, ctx=131072, scaling=_SCALE8, arch="mllama", **_L3),
     "extra": {"cross_attention_layers": 20, "image_token_id": 128256},
     "sources": ["mllama-convert", "hf-llama32-blog"],
     "unverified": ["rope_scaling and max_seq_len of the text config"]},
    # Llama 3.3: only an Instruct model, architecture identical to Llama 3.1 70B.
    {"id": "llama-3.3-70b", "family": "llama-3.3", "name": "Llama 3.3 70B",
     "hf": _hf("instruct=meta-llama/Llama-3.3-70B-Instruct"), "tokenizer": "llama3-tiktoken",
     "args": _args(8192, 28672, 80, 64, 8, 128256, ctx=131072, scaling=_SCALE8, **_L3),
     "sources": ["meta-llama-models"], "unverified": []},
    # Llama 4: mixture of experts (hidden_dim = per-expert intermediate_size), natively multimodal.
    {"id": "llama-4-scout", "family": "llama-4", "name": "Llama 4 Scout 17B-16E",
     "hf": _hf("base=meta-llama/Llama-4-Scout-17B-16E", "instruct=meta-llama/Llama-4-Scout-17B-16E-Instruct"),
     "tokenizer": "llama4-tiktoken", "multimodal": True,
     "args": _args(5120, 8192, 48, 40, 8, 202048, ctx=10485760, theta=500000.0, arch="llama4",
                   scaling=RopeScaling(16.0, 1.0, 1.0, 8192), bos=200000, eos=200001),
     "extra": {"num_local_experts": 16, "intermediate_size_mlp": 16384},
     "sources": ["hf-llama4-scout-config", "meta-llama-models"],
     "unverified": ["rope_scaling low/high frequency factors", "max_seq_len"]},
    {"id": "llama-4-maverick", "family": "llama-4", "name": "Llama 4 Maverick 17B-128E",
     "hf": _hf("base=meta-llama/Llama-4-Maverick-17B-128E",
               "instruct=meta-llama/Llama-4-Maverick-17B-128E-Instruct",
               "instruct-fp8=meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8"),
     "tokenizer": "llama4-tiktoken", "multimodal": True,
     "args": _args(5120, 8192, 48, 40, 8, 202048, ctx=1048576, theta=500000.0, arch="llama4",
                   bos=200000, eos=200001),
     "extra": {"num_local_experts": 128, "intermediate_size_mlp": 16384, "interleave_moe_layer_step": 2},
     "sources": ["meta-llama-models"],
     "unverified": ["max_seq_len", "rope_scaling (none)", "intermediate_size_mlp"]},
]
