"""Model configuration: one dataclass for LLaMA-1/2/3.x and the llama-like Mistral and Qwen2.

Loaders translate their format's configuration (HF ``config.json``, Meta ``params.json``, GGUF
metadata, llama2.c header) into :class:`ModelArgs`; nothing downstream reads a format's config.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

#: Architectures our engine can run (llama-like: RMSNorm, rotary, SwiGLU MLP).
RUNNABLE_ARCHS = ("llama", "mistral", "qwen2")


#: Rotary base when a configuration names none (LLaMA-1/2, llama2.c, GGUF without rope.freq_base).
DEFAULT_ROPE_THETA = 10000.0
#: Rotary scalings the engine runs; any other type is kept (so it is reported) and refused by name.
RUNNABLE_ROPE_SCALINGS = ("llama3", "linear")


@dataclass(frozen=True)
class RopeScaling:
    """Rotary frequency scaling. ``llama3`` (Llama 3.1+; the defaults are Meta's released values, which
    Meta's ``params.json`` and GGUF's stored divisors do not carry) and ``linear`` (positions divided by
    ``factor``) run; other types (``yarn``, ``dynamic``, ...) are kept so the engine can refuse them."""

    factor: float
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192
    rope_type: str = "llama3"


@dataclass(frozen=True)
class ModelArgs:
    """Architecture of a decoder-only transformer, in HF vocabulary where a name exists."""

    arch: str = "llama"  # llama | mistral | qwen2 | anything else (loads, does not run)
    dim: int = 4096  # hidden_size
    n_layers: int = 32
    n_heads: int = 32
    n_kv_heads: int = 32
    vocab_size: int = 32000
    hidden_dim: int = 11008  # MLP intermediate_size
    head_dim: int = 128
    norm_eps: float = 1e-5
    rope_theta: float = DEFAULT_ROPE_THETA
    rope_scaling: RopeScaling | None = None
    tie_embeddings: bool = False
    qkv_bias: bool = False  # Qwen2 carries biases on q/k/v projections
    max_seq_len: int = 2048
    bos_token_id: int | None = None
    eos_token_id: int | None = None

    @property
    def runnable(self) -> bool:
        """Whether :mod:`provenance.engine.model` can run this architecture."""
        return self.arch in RUNNABLE_ARCHS

    @property
    def n_params(self) -> int:
        """Parameter count implied by the configuration (embeddings counted once when tied)."""
        d, f, v = self.dim, self.hidden_dim, self.vocab_size
        q = self.n_heads * self.head_dim
        kv = self.n_kv_heads * self.head_dim
        attn = d * q + 2 * d * kv + q * d + (q + 2 * kv if self.qkv_bias else 0)
        layer = attn + 3 * d * f + 2 * d
        return self.n_layers * layer + v * d * (1 if self.tie_embeddings else 2) + d

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (stable key order)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_hf_config(cls, cfg: dict[str, Any]) -> ModelArgs:
        """Translate a Hugging Face ``config.json`` dict."""
        arch = str(cfg.get("model_type", "llama"))
        text = cfg.get("text_config")
        if isinstance(text, dict) and "hidden_size" not in cfg:
            cfg = {**cfg, **text}  # multimodal wrappers keep the LM config one level down
        dim = int(cfg["hidden_size"])
        n_heads = int(cfg["num_attention_heads"])
        # transformers >= 5 writes rope settings as one ``rope_parameters`` dict
        rp = cfg.get("rope_parameters")
        if isinstance(rp, dict):
            cfg = {**cfg, "rope_theta": rp.get("rope_theta", cfg.get("rope_theta", DEFAULT_ROPE_THETA))}
            if rp.get("rope_type", "default") != "default":
                cfg["rope_scaling"] = rp
        scaling = _rope_scaling(cfg.get("rope_scaling"))
        eos = cfg.get("eos_token_id")
        if isinstance(eos, list):
            eos = eos[0] if eos else None
        return cls(
            arch=arch,
            dim=dim,
            n_layers=int(cfg["num_hidden_layers"]),
            n_heads=n_heads,
            n_kv_heads=int(cfg.get("num_key_value_heads") or n_heads),
            vocab_size=int(cfg["vocab_size"]),
            hidden_dim=int(cfg["intermediate_size"]),
            head_dim=int(cfg.get("head_dim") or dim // n_heads),
            norm_eps=float(cfg.get("rms_norm_eps", 1e-6)),
            rope_theta=float(cfg.get("rope_theta", DEFAULT_ROPE_THETA)),
            rope_scaling=scaling,
            tie_embeddings=bool(cfg.get("tie_word_embeddings", False)),
            qkv_bias=bool(cfg.get("attention_bias", arch == "qwen2")),
            max_seq_len=int(cfg.get("max_position_embeddings", 2048)),
            bos_token_id=cfg.get("bos_token_id"),
            eos_token_id=eos,
        )

    def to_hf_config(self) -> dict[str, Any]:
        """The equivalent Hugging Face ``config.json`` dict (used by exports and parity tests)."""
        cfg: dict[str, Any] = {
            "architectures": ["Qwen2ForCausalLM" if self.arch == "qwen2" else "LlamaForCausalLM"],
            "model_type": self.arch,
            "hidden_size": self.dim,
            "num_hidden_layers": self.n_layers,
            "num_attention_heads": self.n_heads,
            "num_key_value_heads": self.n_kv_heads,
            "vocab_size": self.vocab_size,
            "intermediate_size": self.hidden_dim,
            "head_dim": self.head_dim,
            "rms_norm_eps": self.norm_eps,
            "rope_theta": self.rope_theta,
            "tie_word_embeddings": self.tie_embeddings,
            "max_position_embeddings": self.max_seq_len,
            "hidden_act": "silu",
            "torch_dtype": "float32",
        }
        if self.arch == "llama":
            cfg["attention_bias"] = self.qkv_bias
            cfg["mlp_bias"] = False
        if self.rope_scaling is not None:
            cfg["rope_scaling"] = dataclasses.asdict(self.rope_scaling)
        if self.bos_token_id is not None:
            cfg["bos_token_id"] = self.bos_token_id
        if self.eos_token_id is not None:
            cfg["eos_token_id"] = self.eos_token_id
        return cfg


def _rope_scaling(rs: Any) -> RopeScaling | None:
    """A config's ``rope_scaling`` dict, every type kept: dropping an unknown one silently would let the
    engine run a model with the wrong positions."""
    if not isinstance(rs, dict):
        return None
    kind = str(rs.get("rope_type", rs.get("type", "default")))
    if kind == "default":
        return None
    d = RopeScaling(factor=1.0)
    return RopeScaling(
        factor=float(rs.get("factor", 1.0)),
        low_freq_factor=float(rs.get("low_freq_factor", d.low_freq_factor)),
        high_freq_factor=float(rs.get("high_freq_factor", d.high_freq_factor)),
        original_max_position_embeddings=int(rs.get("original_max_position_embeddings", d.original_max_position_embeddings)),
        rope_type=kind,
    )
