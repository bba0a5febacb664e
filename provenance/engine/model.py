"""Our own forward pass for LLaMA-family decoders (LLaMA-1/2/3.x, Mistral, Qwen2), in one file.

Pre-norm blocks: RMSNorm -> attention with rotary positions (HF rotate-half layout, optional Llama 3.1
frequency scaling, grouped-query heads, optional q/k/v bias) -> residual; RMSNorm -> SwiGLU MLP ->
residual. A final RMSNorm and a (possibly tied) output projection give the logits.

Module attribute names mirror the canonical Hugging Face tensor names, so ``model.state_dict()`` *is* a
canonical state dict (``model.layers.0.self_attn.q_proj.weight`` ...; no ``lm_head.weight`` when tied)
and :func:`provenance.checkpoint.base.from_state_dict` wraps it back into a checkpoint.

Shapes: B batch, T tokens, D model width, H query heads, K key/value heads, Hd head width, F MLP
width, V vocabulary.

Not modelled: Mistral's sliding-window attention (ModelArgs carries no window; it changes nothing
for sequences shorter than the window, 4096 tokens in Mistral 7B v0.1).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from provenance.checkpoint.base import LM_HEAD, Checkpoint
from provenance.errors import FormatError, UnsupportedError
from provenance.modelargs import RUNNABLE_ROPE_SCALINGS, ModelArgs, RopeScaling


@dataclass
class ForwardOutput:
    """What :meth:`Transformer.forward` returns.

    ``logits`` [B, T, V] are in the model's dtype. Values at padded positions are meaningless.

    ``hidden_states`` follows Hugging Face's ``output_hidden_states`` exactly: n_layers + 1 tensors of
    [B, T, D]; entry 0 is the token embeddings, entry i (1 <= i < n_layers) the residual stream after
    layer i - 1, and the last entry is the output of the last layer *after the final RMSNorm* (the
    un-normed output of the last layer is not returned, as in HF).

    ``mlp_activations`` has n_layers tensors of [B, T, F]: the input of each ``down_proj``,
    ``silu(gate_proj(x)) * up_proj(x)``.
    """

    logits: torch.Tensor
    hidden_states: list[torch.Tensor] | None = None
    mlp_activations: list[torch.Tensor] | None = None


class KVCache:
    """Preallocated keys and values for incremental decoding (used by :func:`greedy_generate`)."""

    def __init__(self, args: ModelArgs, batch: int, max_len: int, dtype: torch.dtype, device: torch.device):
        shape = (args.n_layers, batch, args.n_kv_heads, max_len, args.head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        self.length = 0  # tokens already stored; advanced by Transformer.forward after each call

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this call's k, v [B, K, T, Hd] and return all keys and values so far [B, K, past+T, Hd]."""
        end = self.length + k.shape[2]
        if end > self.k.shape[3]:
            raise ValueError(f"KV cache holds {self.k.shape[3]} positions, {end} needed")
        self.k[layer, :, :, self.length : end] = k
        self.v[layer, :, :, self.length : end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]


def rope_frequencies(head_dim: int, theta: float, scaling: RopeScaling | None) -> torch.Tensor:
    """Inverse frequencies [Hd/2] of rotary embeddings, with Llama 3.1's ``llama3`` rescaling or
    ``linear`` position interpolation; any other scaling is refused by name."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device="cpu") / head_dim)
    if scaling is None:
        return inv_freq
    if scaling.rope_type not in RUNNABLE_ROPE_SCALINGS:
        raise UnsupportedError(f"rope scaling {scaling.rope_type!r} is not supported (only {', '.join(RUNNABLE_ROPE_SCALINGS)})")
    if scaling.rope_type == "linear":  # positions divided by factor: the same as every frequency divided by it
        return inv_freq / scaling.factor
    # Llama 3.1: long wavelengths are slowed down by `factor`, short ones kept, the band between
    # the two cut-offs blended linearly in 1/wavelength.
    old_ctx = scaling.original_max_position_embeddings
    wavelen = 2 * math.pi / inv_freq
    band = scaling.high_freq_factor - scaling.low_freq_factor
    smooth = (old_ctx / wavelen - scaling.low_freq_factor) / band
    blended = (1 - smooth) * inv_freq / scaling.factor + smooth * inv_freq
    long_wave = wavelen > old_ctx / scaling.low_freq_factor
    short_wave = wavelen < old_ctx / scaling.high_freq_factor
    return torch.where(long_wave, inv_freq / scaling.factor, torch.where(short_wave, inv_freq, blended))


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate-half rotary embedding: x*cos + [-x2, x1]*sin, with ``sin`` pre-signed as [-s, s].

    x [B, heads, T, Hd]; cos, sin [T, Hd] or [B, 1, T, Hd]. ``roll`` by Hd/2 gives [x2, x1] in one op.
    """
    return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * sin


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in float32 and scale in the model dtype, as HF does (matters for bfloat16).
        normed = F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps)
        return self.weight * normed.to(x.dtype)


class Attention(nn.Module):
    def __init__(self, args: ModelArgs, layer: int):
        super().__init__()
        self.layer = layer
        self.n_heads, self.n_kv_heads, self.head_dim = args.n_heads, args.n_kv_heads, args.head_dim
        self.q_proj = nn.Linear(args.dim, args.n_heads * args.head_dim, bias=args.qkv_bias)
        self.k_proj = nn.Linear(args.dim, args.n_kv_heads * args.head_dim, bias=args.qkv_bias)
        self.v_proj = nn.Linear(args.dim, args.n_kv_heads * args.head_dim, bias=args.qkv_bias)
        self.o_proj = nn.Linear(args.n_heads * args.head_dim, args.dim, bias=False)

    def forward(
        self,
        x: torch.Tensor,  # [B, T, D]
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None,  # additive [B or 1, 1, T, past+T] (0 or -inf); None = causal
        cache: KVCache | None,
    ) -> torch.Tensor:
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # [B, H, T, Hd]
        k = self.k_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)  # [B, K, T, Hd]
        v = self.v_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)  # [B, K, T, Hd]
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        causal = mask is None and (cache is None or cache.length == 0) and T > 1
        if cache is not None:
            k, v = cache.update(self.layer, k, v)  # [B, K, past+T, Hd]
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=causal, enable_gqa=self.n_kv_heads != self.n_heads
        )  # [B, H, T, Hd]
        return self.o_proj(y.transpose(1, 2).reshape(B, T, self.n_heads * self.head_dim))


class MLP(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.gate_proj = nn.Linear(args.dim, args.hidden_dim, bias=False)
        self.up_proj = nn.Linear(args.dim, args.hidden_dim, bias=False)
        self.down_proj = nn.Linear(args.hidden_dim, args.dim, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        act = F.silu(self.gate_proj(x)) * self.up_proj(x)  # [B, T, F]: the input of down_proj
        return self.down_proj(act), act


class Block(nn.Module):
    def __init__(self, args: ModelArgs, layer: int):
        super().__init__()
        self.input_layernorm = RMSNorm(args.dim, args.norm_eps)
        self.self_attn = Attention(args, layer)
        self.post_attention_layernorm = RMSNorm(args.dim, args.norm_eps)
        self.mlp = MLP(args)

    def forward(
        self,
        x: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        mask: torch.Tensor | None,
        cache: KVCache | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, cache)
        out, act = self.mlp(self.post_attention_layernorm(x))
        return x + out, act


class Body(nn.Module):
    """Embedding, blocks and final norm, under the names Hugging Face gives them (``model.*``)."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.embed_tokens = nn.Embedding(args.vocab_size, args.dim)
        self.layers = nn.ModuleList(Block(args, i) for i in range(args.n_layers))
        self.norm = RMSNorm(args.dim, args.norm_eps)

    def blocks(self) -> list[Block]:
        """The decoder blocks, typed."""
        return [b for b in self.layers if isinstance(b, Block)]


class Transformer(nn.Module):
    """A LLaMA-family decoder. Build it empty with ``Transformer(args)`` (small random init, for
    training) or from weights with :meth:`from_checkpoint`."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        if not args.runnable:
            raise UnsupportedError(
                f"the forward pass of architecture {args.arch!r} is not supported "
                "(only llama, mistral and qwen2); weight and metadata evidence still apply"
            )
        if args.n_kv_heads <= 0 or args.n_heads % args.n_kv_heads or args.head_dim % 2:
            raise FormatError(
                f"inconsistent attention shape: {args.n_heads} heads, {args.n_kv_heads} KV heads, "
                f"head_dim {args.head_dim}"
            )
        self.args = args
        self.model = Body(args)
        # Tied: logits use the embedding matrix itself, so there is no lm_head parameter at all.
        self.lm_head = None if args.tie_embeddings else nn.Linear(args.dim, args.vocab_size, bias=False)
        self._inv_freq = rope_frequencies(args.head_dim, args.rope_theta, args.rope_scaling)
        self._rope_cache: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}
        if not any(p.is_meta for p in self.parameters()):
            self.apply(_init_weights)

    @classmethod
    def from_checkpoint(
        cls, ckpt: Checkpoint, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"
    ) -> Transformer:
        """Load a checkpoint's weights, streaming one tensor at a time (never two copies of the model).

        Parameters come back with ``requires_grad=False`` (inference); call ``requires_grad_()`` to
        train. The head is tied when ``args.tie_embeddings`` says so (a stored ``lm_head.weight`` is
        then ignored, as Hugging Face does) or when the checkpoint has no ``lm_head.weight``.
        """
        if ckpt.args is None or ckpt.adapter is not None:
            raise UnsupportedError(
                "a LoRA adapter has no forward pass of its own; merge it into its base", ckpt.path
            )
        args = dataclasses.replace(ckpt.args, tie_embeddings=ckpt.args.tie_embeddings or LM_HEAD not in ckpt)
        try:
            with torch.device("meta"):
                model = cls(args)
        except UnsupportedError as e:
            raise UnsupportedError(str(e), ckpt.path) from None
        except FormatError as e:
            raise FormatError(str(e), ckpt.path) from None
        for name, meta in list(model.named_parameters()):
            shape = ckpt.info(name).shape
            if shape != tuple(meta.shape):
                raise FormatError(
                    f"tensor {name} has shape {shape}, the configuration implies {tuple(meta.shape)}",
                    ckpt.path,
                )
            owner, _, attr = name.rpartition(".")
            value = ckpt.get(name).to(device=device, dtype=dtype)
            setattr(model.get_submodule(owner), attr, nn.Parameter(value, requires_grad=False))
        return model.eval()

    @property
    def device(self) -> torch.device:
        """Where the weights live (inputs must be there too)."""
        return self.model.embed_tokens.weight.device

    def _rope(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and signed sin [*positions.shape, Hd] from a table per (device, dtype), grown on demand."""
        device = positions.device
        need = int(positions.max()) + 1 if positions.numel() else 1
        cached = self._rope_cache.get((device, dtype))
        if cached is not None and cached[0].shape[0] >= need:
            cos, sin = cached
        else:
            length = 1 << max(need - 1, 255).bit_length()  # next power of two, at least 256
            inv_freq = self._inv_freq.to(device)
            steps = torch.arange(length, device=device, dtype=torch.float32)
            freqs = torch.outer(steps, inv_freq)  # [L, Hd/2]
            cos = torch.cat((freqs.cos(), freqs.cos()), dim=-1).to(dtype)  # [L, Hd]
            sin = torch.cat((-freqs.sin(), freqs.sin()), dim=-1).to(dtype)  # sign of rotate-half folded in
            self._rope_cache[(device, dtype)] = (cos, sin)
        return cos[positions], sin[positions]

    def forward(
        self,
        tokens: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_hidden: bool = False,
        output_mlp: bool = False,
        cache: KVCache | None = None,
    ) -> ForwardOutput:
        """Logits for ``tokens`` [B, T] (long). ``attention_mask`` [B, T] (1 = real token, 0 = padding,
        left or right) gives each row the positions and keys it would have alone. ``cache`` continues a
        single unpadded sequence (see :func:`greedy_generate`)."""
        T = tokens.shape[1]
        device = tokens.device
        past = cache.length if cache is not None else 0
        allowed = None  # bool [B or 1, 1, T, past+T], True = query may attend to key; None = plain causal
        if attention_mask is None:
            positions = torch.arange(past, past + T, device=device)  # [T]
            if past and T > 1:  # a chunk after cached tokens: query i sees keys <= past + i
                allowed = torch.arange(past + T, device=device) <= positions[:, None]
        else:
            if cache is not None:
                raise ValueError("a KV cache continues one unpadded sequence; pass attention_mask=None")
            real = attention_mask.to(device=device, dtype=torch.bool)  # [B, T]
            positions = (real.long().cumsum(-1) - 1).clamp(min=0)  # [B, T]: padding does not count
            causal = torch.ones(T, T, dtype=torch.bool, device=device).tril()
            # padded queries may see themselves, so no row is fully masked (which would give NaN)
            diagonal = torch.eye(T, dtype=torch.bool, device=device)
            allowed = (causal & (real[:, None, :] | diagonal))[:, None]  # [B, 1, T, T]
        x = self.model.embed_tokens(tokens)  # [B, T, D]
        mask = None
        if allowed is not None:  # additive form (0 / -inf): SDPA's CPU kernels run it faster than bool
            mask = torch.zeros(allowed.shape, dtype=x.dtype, device=device)
            mask.masked_fill_(~allowed, float("-inf"))
        cos, sin = self._rope(positions, x.dtype)  # [T, Hd] or [B, T, Hd]
        if cos.dim() == 3:
            cos, sin = cos[:, None], sin[:, None]  # [B, 1, T, Hd], broadcast over heads
        hidden = [x] if output_hidden else None
        acts: list[torch.Tensor] | None = [] if output_mlp else None
        for block in self.model.blocks():
            x, act = block(x, cos, sin, mask, cache)
            if hidden is not None:
                hidden.append(x)
            if acts is not None:
                acts.append(act)
        x = self.model.norm(x)
        if hidden is not None:
            hidden[-1] = x  # HF convention: the last hidden state is taken after the final norm
        if cache is not None:
            cache.length += T
        weight = self.model.embed_tokens.weight if self.lm_head is None else self.lm_head.weight
        return ForwardOutput(F.linear(x, weight), hidden, acts)  # logits [B, T, V]


def _init_weights(module: nn.Module) -> None:
    # Small normal weights (HF's initializer_range 0.02) so a freshly built model trains stably.
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


@torch.inference_mode()
def greedy_generate(
    model: Transformer, input_ids: list[int], max_new_tokens: int, eos_id: int | Collection[int] | None = None
) -> list[int]:
    """Greedy decoding with a KV cache. Returns only the new tokens, stopping before ``eos_id``."""
    if not input_ids:
        raise ValueError("greedy_generate needs at least one prompt token")
    stop = {eos_id} if isinstance(eos_id, int) else set(eos_id or ())
    weight = model.model.embed_tokens.weight
    cache = KVCache(model.args, 1, len(input_ids) + max_new_tokens, weight.dtype, weight.device)
    tokens = torch.tensor([input_ids], dtype=torch.long, device=weight.device)  # [1, T]
    out: list[int] = []
    for _ in range(max_new_tokens):
        logits = model(tokens, cache=cache).logits  # [1, T, V]
        next_id = int(logits[0, -1].argmax())
        if next_id in stop:
            break
        out.append(next_id)
        tokens = torch.tensor([[next_id]], dtype=torch.long, device=weight.device)
    return out
