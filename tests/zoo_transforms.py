"""Weight-space transforms the test zoo applies to real models (file formats: tests.exporters).

Every function takes a canonical state dict (Hugging Face LLaMA names, rotate-half Q/K rows, no
``lm_head.weight`` when tied) plus its :class:`ModelArgs` and returns new ones; inputs are never
modified. The function-preserving ones (:func:`permute`, :func:`fold_norms`, :func:`rotate`) rest on
exact symmetries of the LLaMA block, spelled out next to each; ``tests/test_zoo.py`` checks them with
our engine.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

from provenance.checkpoint.base import EMBED, FINAL_NORM, LM_HEAD, layer_name
from provenance.modelargs import ModelArgs

State = dict[str, torch.Tensor]

IN_PROJ = ("self_attn.q_proj.weight", "self_attn.k_proj.weight", "self_attn.v_proj.weight",
           "mlp.gate_proj.weight", "mlp.up_proj.weight")  # read the residual stream: [out, D]
OUT_PROJ = ("self_attn.o_proj.weight", "mlp.down_proj.weight")  # write the residual stream: [D, in]
NORMS = ("input_layernorm.weight", "post_attention_layernorm.weight")


def _layer_of(name: str) -> tuple[int, str] | None:
    if not name.startswith("model.layers."):
        return None
    idx, _, suffix = name[len("model.layers."):].partition(".")
    return int(idx), suffix


def _untie(state: State, args: ModelArgs) -> tuple[State, ModelArgs]:
    """Give a tied model its own ``lm_head.weight`` (needed once head and embedding differ)."""
    if not args.tie_embeddings:
        return dict(state), args
    return {**state, LM_HEAD: state[EMBED].clone()}, dataclasses.replace(args, tie_embeddings=False)


def rel_change(before: State, after: State) -> dict[str, float]:
    """||after - before|| / ||before|| over all tensors both share by name and shape (global and max)."""
    num = den = 0.0
    worst = 0.0
    for k, a in before.items():
        b = after.get(k)
        if b is None or b.shape != a.shape:
            continue
        d2, a2 = float((b.double() - a.double()).pow(2).sum()), float(a.double().pow(2).sum())
        num, den = num + d2, den + a2
        if a2 > 0:
            worst = max(worst, (d2 / a2) ** 0.5)
    return {"global": (num / den) ** 0.5 if den else 0.0, "max_tensor": worst}


# -- function-preserving symmetries -------------------------------------------------------------

def _log_uniform(n: int, gen: torch.Generator, span: float = 2.0) -> torch.Tensor:
    return torch.exp((torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1) * np.log(span)).float()


def permute(state: State, args: ModelArgs, gen: torch.Generator) -> State:
    """Permute residual dims, KV groups, query heads within a group, value dims within a head and MLP
    neurons, and rescale q/k, v/o and up/down reciprocally. The function is unchanged because:

    * RMSNorm commutes with a permutation of its input (the gain is permuted alike);
    * attention sums over heads, and a query head only needs its own KV group to move with it;
    * rotary turns each (i, i + Hd/2) plane of q and k by the same angle, so scaling that plane of
      every query head of a group by s and the group's key plane by 1/s leaves every score unchanged;
    * values enter the output linearly (v dims may be scaled and permuted if o's columns follow);
    * SwiGLU is linear in ``up``: scaling a neuron's up row by u and its down column by 1/u cancels.
    """
    a = args
    hd, n_kv, group = a.head_dim, a.n_kv_heads, a.n_heads // a.n_kv_heads
    res = torch.randperm(a.dim, generator=gen)
    out: State = {}
    for name, w in state.items():
        loc = _layer_of(name)
        if name in (EMBED, LM_HEAD):
            out[name] = w[:, res]
        elif name == FINAL_NORM or (loc and loc[1] in NORMS):
            out[name] = w[res]
        elif loc and loc[1] in IN_PROJ:
            out[name] = w[:, res]
        elif loc and loc[1] in OUT_PROJ:
            out[name] = w[res]
        else:
            out[name] = w.clone()
    for i in range(a.n_layers):
        n = lambda s, i=i: layer_name(i, s)  # noqa: E731
        kv_order = torch.randperm(n_kv, generator=gen)
        q_heads = torch.cat([kv * group + torch.randperm(group, generator=gen) for kv in kv_order.tolist()])
        qk_scale = _log_uniform(n_kv * hd // 2, gen).view(n_kv, hd // 2).repeat(1, 2)  # [K, Hd], per plane
        v_perm = torch.stack([torch.randperm(hd, generator=gen) for _ in range(n_kv)])  # [K, Hd]
        v_scale = _log_uniform(n_kv * hd, gen).view(n_kv, hd)
        for suffix, heads, scale in (("q_proj", q_heads, qk_scale.repeat_interleave(group, 0)),
                                     ("k_proj", kv_order, 1 / qk_scale)):
            for kind in ("weight", "bias"):
                key = n(f"self_attn.{suffix}.{kind}")
                if key in out:
                    w = out[key].view(-1, hd, *out[key].shape[1:])[heads]  # [heads, Hd, ...]
                    out[key] = (w * scale.view(*scale.shape, *([1] * (w.dim() - 2)))).reshape(out[key].shape)
        v_rows = (kv_order[:, None] * hd + v_perm[kv_order]).reshape(-1)  # new row r of v <- old row
        for kind in ("weight", "bias"):
            key = n(f"self_attn.v_proj.{kind}")
            if key in out:
                w = out[key][v_rows]
                out[key] = w * v_scale.reshape(-1).view(-1, *([1] * (w.dim() - 1)))
        # o_proj columns follow the query heads, and within a head the value dims of its KV group.
        o = out[n("self_attn.o_proj.weight")].view(a.dim, a.n_heads, hd)[:, q_heads]  # [D, H, Hd]
        src_group = torch.arange(n_kv).repeat_interleave(group)  # new head -> its new KV group
        o = torch.stack([o[:, h, v_perm[kv_order[src_group[h]]]] for h in range(a.n_heads)], dim=1)
        out[n("self_attn.o_proj.weight")] = (o / v_scale.repeat_interleave(group, 0)).reshape(a.dim, -1)
        mlp = torch.randperm(a.hidden_dim, generator=gen)
        up_scale = _log_uniform(a.hidden_dim, gen)
        out[n("mlp.gate_proj.weight")] = out[n("mlp.gate_proj.weight")][mlp]
        out[n("mlp.up_proj.weight")] = out[n("mlp.up_proj.weight")][mlp] * up_scale[:, None]
        out[n("mlp.down_proj.weight")] = out[n("mlp.down_proj.weight")][:, mlp] / up_scale
    return out


def fold_norms(state: State, args: ModelArgs) -> tuple[State, ModelArgs]:
    """Fold every RMSNorm gain into the linears that read its output and set the gains to 1.

    ``g * x / rms(x)`` feeds only linears, so ``W (g * n) = (W diag g) n``. The final norm's gain goes
    into the output head, which then differs from the embedding: a tied model comes back untied.
    """
    out, args = _untie(state, args)
    for i in range(args.n_layers):
        for norm, readers in (("input_layernorm.weight", IN_PROJ[:3]),
                              ("post_attention_layernorm.weight", IN_PROJ[3:])):
            g = out[layer_name(i, norm)]
            for r in readers:
                out[layer_name(i, r)] = out[layer_name(i, r)] * g[None, :]
            out[layer_name(i, norm)] = torch.ones_like(g)
    out[LM_HEAD] = out[LM_HEAD] * out[FINAL_NORM][None, :]
    out[FINAL_NORM] = torch.ones_like(out[FINAL_NORM])
    return out, args


def random_orthogonal(n: int, gen: torch.Generator) -> torch.Tensor:
    """A Haar-random orthogonal matrix (QR of a Gaussian, signs fixed by R's diagonal)."""
    q, r = torch.linalg.qr(torch.randn(n, n, generator=gen, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))[None, :]).float()


def rotate(state: State, args: ModelArgs, q: torch.Tensor) -> State:
    """Rotate the residual stream, ``h -> h Q``, of a model whose norm gains are all 1 (see
    :func:`fold_norms`): RMSNorm commutes with an orthogonal map (it keeps the norm), readers become
    ``W Q``, writers ``Q^T W``, embedding rows ``e Q``, the head ``L Q``."""
    gains = [FINAL_NORM] + [layer_name(i, s) for i in range(args.n_layers) for s in NORMS]
    if any(not torch.all(state[g] == 1) for g in gains) or args.tie_embeddings:
        raise ValueError("rotate() needs folded norms and an untied head: call fold_norms() first")
    out: State = {}
    for name, w in state.items():
        loc = _layer_of(name)
        if name in (EMBED, LM_HEAD) or (loc and loc[1] in IN_PROJ):
            out[name] = w @ q
        elif loc and loc[1] in OUT_PROJ:
            out[name] = q.T @ w
        else:
            out[name] = w.clone()
    return out


# -- structural edits (not function-preserving) -------------------------------------------------

def prune_mlp(state: State, args: ModelArgs, keep: dict[int, torch.Tensor]) -> tuple[State, ModelArgs]:
    """Keep MLP neurons ``keep[layer]`` (sorted indices, same count in every layer)."""
    widths = {len(k) for k in keep.values()}
    if len(widths) != 1 or set(keep) != set(range(args.n_layers)):
        raise ValueError("prune_mlp needs one equally long index list per layer")
    out = dict(state)
    for i, idx in keep.items():
        for s in ("mlp.gate_proj.weight", "mlp.up_proj.weight"):
            out[layer_name(i, s)] = state[layer_name(i, s)][idx].clone()
        out[layer_name(i, "mlp.down_proj.weight")] = state[layer_name(i, "mlp.down_proj.weight")][:, idx].clone()
    return out, dataclasses.replace(args, hidden_dim=widths.pop())


def select_layers(state: State, args: ModelArgs, layers: Sequence[int]) -> tuple[State, ModelArgs]:
    """A model whose layer j is a copy of layer ``layers[j]``: drops layers when shorter, stacks
    repeated ranges (SOLAR-style depth up-scaling) when longer."""
    out = {k: v.clone() for k, v in state.items() if _layer_of(k) is None}
    for j, src in enumerate(layers):
        for k, v in state.items():
            loc = _layer_of(k)
            if loc and loc[0] == src:
                out[layer_name(j, loc[1])] = v.clone()
    return out, dataclasses.replace(args, n_layers=len(layers))


def extend_vocab(state: State, args: ModelArgs, pieces: Sequence[Sequence[int]]) -> tuple[State, ModelArgs]:
    """Append one embedding (and head) row per new token, initialised as the mean of the rows of the
    old tokens that spelled it (the usual initialisation for vocabulary extension)."""
    out = dict(state)
    for key in (EMBED,) + (() if args.tie_embeddings else (LM_HEAD,)):
        w = state[key]
        new = torch.stack([w[list(p)].mean(0) for p in pieces])
        out[key] = torch.cat([w, new])
    return out, dataclasses.replace(args, vocab_size=args.vocab_size + len(pieces))


def add_noise(state: State, rel_std: float, gen: torch.Generator) -> State:
    """Add Gaussian noise of ``rel_std`` times each tensor's own standard deviation (norm gains too)."""
    return {k: v + torch.randn(v.shape, generator=gen) * (rel_std * float(v.std())) for k, v in state.items()}


def average(states: Sequence[State], weights: Sequence[float] | None = None) -> State:
    """Weighted average of same-shaped state dicts (a "model soup" merge)."""
    weights = list(weights or [1.0 / len(states)] * len(states))
    return {k: sum(w * s[k] for w, s in zip(weights, states, strict=True)) for k in states[0]}


def lora_merge(state: State, pairs: dict[str, tuple[torch.Tensor, torch.Tensor]], scale: float) -> State:
    """``W + scale * B @ A`` for each canonical weight name with a LoRA pair (A [r, in], B [out, r])."""
    out = dict(state)
    for name, (a, b) in pairs.items():
        out[name] = state[name] + scale * (b @ a)
    return out
