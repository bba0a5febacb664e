"""Real Hugging Face ``config.json`` contents (the architecture-relevant keys) of Meta releases and of
independent models that borrow their design, as test data for the release matcher.

Values as published on the model pages (``<repo>/blob/main/config.json``).
"""

from __future__ import annotations

from typing import Any


def _llama(h: int, ffn: int, layers: int, heads: int, kv: int, vocab: int, ctx: int, *, eps: float = 1e-5,
           theta: float = 10000.0, scaling: dict[str, Any] | None = None, tied: bool = False,
           model_type: str = "llama", head_dim: int | None = None) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "model_type": model_type, "hidden_size": h, "intermediate_size": ffn, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv, "vocab_size": vocab,
        "max_position_embeddings": ctx, "rms_norm_eps": eps, "rope_theta": theta, "rope_scaling": scaling,
        "tie_word_embeddings": tied,
    }
    if head_dim:
        cfg["head_dim"] = head_dim
    return cfg


_L31 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192}
_L32 = {**_L31, "factor": 32.0}

CONFIGS: dict[str, dict[str, Any]] = {
    "huggyllama/llama-7b": _llama(4096, 11008, 32, 32, 32, 32000, 2048, eps=1e-6),
    "meta-llama/Llama-2-7b-hf": _llama(4096, 11008, 32, 32, 32, 32000, 4096),
    "meta-llama/Llama-2-70b-hf": _llama(8192, 28672, 80, 64, 8, 32000, 4096),
    "codellama/CodeLlama-7b-hf": _llama(4096, 11008, 32, 32, 32, 32016, 16384, theta=1e6),
    "codellama/CodeLlama-7b-Python-hf": _llama(4096, 11008, 32, 32, 32, 32000, 16384, theta=1e6),
    "meta-llama/Meta-Llama-3-8B": _llama(4096, 14336, 32, 32, 8, 128256, 8192, theta=500000.0),
    "meta-llama/Llama-3.1-8B": _llama(4096, 14336, 32, 32, 8, 128256, 131072, theta=500000.0, scaling=_L31),
    "meta-llama/Llama-3.3-70B-Instruct": _llama(8192, 28672, 80, 64, 8, 128256, 131072, theta=500000.0,
                                                scaling=_L31),
    "meta-llama/Llama-3.2-1B": _llama(2048, 8192, 16, 32, 8, 128256, 131072, theta=500000.0, scaling=_L32,
                                      tied=True, head_dim=64),
    "meta-llama/Llama-3.2-11B-Vision": {
        "model_type": "mllama",
        "text_config": {**_llama(4096, 14336, 40, 32, 8, 128256, 131072, theta=500000.0, scaling=_L31),
                        "model_type": "mllama_text_model", "cross_attention_layers": [3, 8, 13, 18, 23, 28, 33, 38]},
    },
    "meta-llama/Llama-4-Scout-17B-16E": {
        "model_type": "llama4",
        "text_config": {**_llama(5120, 8192, 48, 40, 8, 202048, 10485760, theta=500000.0, head_dim=128,
                                 scaling={"rope_type": "llama3", "factor": 16.0, "low_freq_factor": 1.0,
                                          "high_freq_factor": 1.0, "original_max_position_embeddings": 8192}),
                        "model_type": "llama4_text", "num_local_experts": 16, "intermediate_size_mlp": 16384},
    },
    # Independent models with LLaMA's design.
    "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T": _llama(2048, 5632, 22, 32, 4, 32000, 2048),
    "01-ai/Yi-34B": _llama(7168, 20480, 60, 56, 8, 64000, 4096, theta=5000000.0),
    "mistralai/Mistral-7B-v0.1": _llama(4096, 14336, 32, 32, 8, 32000, 32768, model_type="mistral"),
    "Qwen/Qwen2.5-0.5B": {**_llama(896, 4864, 24, 14, 2, 151936, 32768, eps=1e-6, theta=1e6, tied=True,
                                   model_type="qwen2")},
}
