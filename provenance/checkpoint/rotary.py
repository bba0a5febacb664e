"""The one place that knows how Q/K rows are ordered for rotary embeddings, per format.

Rotary embedding rotates pairs of coordinates of each attention head. Formats disagree on which
coordinates form a pair:

* **interleaved** (Meta's reference code, llama2.c, and GGUF files of llama-arch models): pairs are
  adjacent, ``(0, 1), (2, 3), ...`` within each head;
* **rotate-half** (Hugging Face, our canonical layout): pair ``i`` is ``(i, i + head_dim/2)``.

Converting is a fixed permutation of the *output rows* of ``wq``/``wk`` (and their biases) within
each head; attention scores are unchanged because q and k are permuted alike.

llama.cpp's ``convert_hf_to_gguf`` re-interleaves Q/K only for architectures its runtime ropes in
"normal" (GPT-J) mode, so GGUF files of those archs store Meta's interleaved layout; archs roped in
NeoX mode (qwen2, gemma*, phi3, ...) are stored as in HF and need nothing.
"""

from __future__ import annotations

import math

import torch

from provenance.modelargs import RopeScaling

# GGUF architectures whose Q/K the llama.cpp converter permutes to the interleaved layout: ``llama``
# (Llama, Mistral and every LlamaForCausalLM/MistralForCausalLM export), and llama-derived converter
# classes that call the same permutation.
GGUF_PERMUTED_ARCHS = frozenset({"llama", "mistral", "granite", "deci"})


def _check(w: torch.Tensor, n_heads: int) -> int:
    rows = w.shape[0]
    if n_heads <= 0 or rows % n_heads or (rows // n_heads) % 2:
        raise ValueError(f"cannot split {rows} rows into {n_heads} heads of even size")
    return rows // n_heads


def interleaved_to_half(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Meta/llama2.c/GGUF-llama interleaved rows -> HF rotate-half rows (weight ``[out, in]`` or bias)."""
    head_dim = _check(w, n_heads)
    rest = w.shape[1:]
    return w.reshape(n_heads, head_dim // 2, 2, *rest).transpose(1, 2).reshape(w.shape).contiguous()


def half_to_interleaved(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """HF rotate-half rows -> interleaved rows (what llama.cpp's converter and Meta's files store)."""
    head_dim = _check(w, n_heads)
    rest = w.shape[1:]
    return w.reshape(n_heads, 2, head_dim // 2, *rest).transpose(1, 2).reshape(w.shape).contiguous()


def llama3_rope_factors(head_dim: int, theta: float, scaling: RopeScaling) -> torch.Tensor:
    """Per-frequency divisors of Llama 3.1-style scaling (llama.cpp stores them as ``rope_freqs``).

    Meta's rule: wavelengths shorter than ``orig / high_freq_factor`` keep their frequency, longer
    than ``orig / low_freq_factor`` are divided by ``factor``, and those between are interpolated.
    """
    freqs = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    wavelen = 2 * math.pi / freqs
    orig, low, high = scaling.original_max_position_embeddings, scaling.low_freq_factor, scaling.high_freq_factor
    smooth = (orig / wavelen - low) / (high - low)
    between = 1.0 / ((1 - smooth) / scaling.factor + smooth)
    return torch.where(wavelen < orig / high, 1.0, torch.where(wavelen > orig / low, scaling.factor, between)).float()


def llama3_scaling_from_factors(factors: torch.Tensor, head_dim: int, theta: float) -> RopeScaling | None:
    """Invert :func:`llama3_rope_factors` at the lowest frequency, assuming Meta's released
    ``low_freq_factor``, ``high_freq_factor`` and original context (:class:`RopeScaling`'s defaults: the
    divisors alone cannot carry them). None when that frequency is unscaled (the scaling then changes nothing)."""
    meta = RopeScaling(factor=1.0)
    low, high, orig = meta.low_freq_factor, meta.high_freq_factor, meta.original_max_position_embeddings
    value = float(factors[-1])
    wavelen = 2 * math.pi * theta ** ((head_dim - 2) / head_dim)
    if wavelen > orig / low:
        factor = value
    elif wavelen >= orig / high and value > 1.0:
        smooth = (orig / wavelen - low) / (high - low)
        factor = (1 - smooth) / (1 / value - smooth)
    else:
        return None
    return RopeScaling(float(f"{factor:.6g}"), low, high, orig)  # undo float32 rounding of the stored divisors
