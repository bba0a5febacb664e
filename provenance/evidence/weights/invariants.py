"""Per-layer matrices that survive every symmetry of a LLaMA block except a residual rotation.

For each layer we form four residual-by-residual (D x D) maps, with RMSNorm gains folded in:

* ``qk``   = Σ_h diag(g1) Wq_hᵀ Wk_h diag(g1)   (attention scores before positions)
* ``ov``   = Σ_h Wo_h Wv_h diag(g1)              (what attention writes for what it reads)
* ``mlp``  = Wdown Wup diag(g2)                  (MLP read/write through the linear branch)
* ``gate`` = diag(g2) Wgateᵀ Wgate diag(g2)      (which inputs open the MLP's gates)

Permuting heads or neurons, rescaling q against k, v against o or up against down, and any
invertible map inside a head leave all four unchanged; a residual rotation ``Q`` conjugates them
(``M -> Q M Qᵀ``) and a residual scale multiplies them, which a cosine ignores.

D can be 8192, so we never form D x D: each map is compressed to k x k through a fixed orthonormal
probe ``P`` [D, k] of the reference model (``Pᵀ M P``). For a candidate aligned by ``x_a = x_b Qᵀ``
the same entries are ``(Qᵀ P)ᵀ M_b (Qᵀ P)``, so the candidate is probed with ``Qᵀ P`` instead: the cost
is O(D·F·k) per layer and only one weight tensor is in memory at a time.
"""

from __future__ import annotations

import numpy as np
import torch

from provenance.checkpoint.base import Checkpoint, layer_name
from provenance.modelargs import ModelArgs

#: Invariant kinds, in the order they are stored.
KINDS = ("qk", "ov", "mlp", "gate")


def make_probe(dim: int, k: int, seed: int = 0) -> np.ndarray:
    """A reproducible random orthonormal basis [dim, k] of a k-dimensional subspace."""
    rng = np.random.Generator(np.random.PCG64(seed))
    a = rng.standard_normal((dim, k))
    q, r = np.linalg.qr(a)
    return q * np.sign(np.diag(r))[None, :]


def norm_gain(ckpt: Checkpoint, i: int, norm: str) -> torch.Tensor:
    """RMSNorm gain ``norm`` of layer ``i``; ones where the architecture keeps no canonical norm there
    (e.g. Gemma's norms stay under their own names: their placement and meaning differ)."""
    name = layer_name(i, f"{norm}.weight")
    if name in ckpt:
        return ckpt.get(name)
    return torch.ones(ckpt.info(layer_name(i, "self_attn.q_proj.weight")).shape[1])


def _group_sum(x: torch.Tensor, n_heads: int, n_kv: int, head_dim: int) -> torch.Tensor:
    """Sum the rows of query heads that share a key/value head: [H*hd, k] -> [KV*hd, k]."""
    k = x.shape[1]
    return x.view(n_kv, n_heads // n_kv, head_dim, k).sum(1).reshape(n_kv * head_dim, k)


def layer_invariants(ckpt: Checkpoint, args: ModelArgs, i: int, probes: list[torch.Tensor]) -> list[torch.Tensor]:
    """The four invariants of layer ``i`` seen through each probe [D, k]: one [4, k, k] float64 each.

    Each weight tensor is read once and multiplied by every probe (float32 products, float64 after
    the width-k reduction). Heads are grouped as in Hugging Face GQA (query head h uses key/value
    head h // (H/KV)).
    """
    h, kv, hd = args.n_heads, args.n_kv_heads, args.head_dim
    g1 = norm_gain(ckpt, i, "input_layernorm")
    g2 = norm_gain(ckpt, i, "post_attention_layernorm")
    widths = [p.shape[1] for p in probes]
    probe = torch.cat(probes, dim=1)  # all probes side by side: one product per weight tensor
    p1 = (g1[:, None] * probe).float()  # gains fold into the reading side
    p2 = (g2[:, None] * probe).float()
    pw = probe.float()

    def through(suffix: str, ps: torch.Tensor, transpose: bool = False) -> list[torch.Tensor]:
        w = ckpt.get(layer_name(i, suffix))
        w = w.T if transpose else w
        return list((w @ ps).double().split(widths, dim=1))

    q = [_group_sum(x, h, kv, hd) for x in through("self_attn.q_proj.weight", p1)]
    qk = [a.T @ b for a, b in zip(q, through("self_attn.k_proj.weight", p1))]
    o = [_group_sum(x, h, kv, hd) for x in through("self_attn.o_proj.weight", pw, transpose=True)]
    ov = [a.T @ b for a, b in zip(o, through("self_attn.v_proj.weight", p1))]
    down = through("mlp.down_proj.weight", pw, transpose=True)
    mlp = [a.T @ b for a, b in zip(down, through("mlp.up_proj.weight", p2))]
    gate = [x.T @ x for x in through("mlp.gate_proj.weight", p2)]
    return [torch.stack(m) for m in zip(qk, ov, mlp, gate)]


def normalise(inv: torch.Tensor) -> torch.Tensor:
    """Remove each k x k map's identity component and scale it to unit Frobenius norm.

    The identity part (a multiple of ``Pᵀ P``) is what any two trained models share (copying
    heads, positive-definite Gram matrices); dropping it keeps the cosine about idiosyncrasies.
    """
    k = inv.shape[-1]
    eye = torch.eye(k, dtype=inv.dtype)
    tr = torch.diagonal(inv, dim1=-2, dim2=-1).sum(-1) / k
    x = inv - tr[..., None, None] * eye
    return x / x.flatten(-2).norm(dim=-1).clamp_min(1e-30)[..., None, None]


def centre_layers(maps: torch.Tensor) -> torch.Tensor:
    """Subtract the mean over layers from normalised maps [L, 4, k, k] and renormalise.

    Why: every layer of a trained model reads and writes the same dominant residual directions, and
    models trained on similar data converge on them, so raw cosines of independent same-data models
    sit near 0.2 for *every* layer pair. What a descendant inherits is layer-specific; the shared
    part is removed here (measured: same-data independents 0.205 -> 0.045, descendants unchanged).
    Fewer than three layers leave nothing layer-specific to keep, so they are returned as is.
    """
    if maps.shape[0] < 3:
        return maps
    x = maps - maps.mean(0, keepdim=True)
    return x / x.flatten(-2).norm(dim=-1).clamp_min(1e-30)[..., None, None]


def similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosines between normalised invariants a [La, 4, k, k] and b [Lb, 4, k, k] -> [La, Lb, 4]."""
    return torch.einsum("ikxy,jkxy->ijk", a.double(), b.double()).clamp(-1.0, 1.0)
