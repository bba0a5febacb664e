"""Neuron matching between two MLPs in an aligned residual basis (full two-checkpoint comparison only).

Idea (after Zhu et al., ICML 2025, "independence tests for language models"): a descendant keeps its
parent's MLP neurons, perhaps shuffled and rescaled, so matching neurons by their *gate* rows and,
separately, by their *up* rows finds the same shuffle twice. For unrelated models the two matchings
have little reason to agree. We match a fixed subset of the reference's neurons against all of the
candidate's (rectangular assignment problem, maximising summed cosine) and count how often the
gate-matching and the up-matching agree.

The textbook null (two unrelated matchings agree with chance 1/F_b per neuron) is wrong for models
trained on the same data: they grow some alike neurons (stories-indep-a vs -b agree on 1.9% of
neurons where 1/F_b = 0.6%, a Fisher p of 0.002). So the per-layer p-value is the binomial tail
with the chance of agreement raised to ``calibration.NEURON_NULL_AGREEMENT``; layers are combined
with Fisher's method. It is supporting evidence only: it needs both models' full MLPs, which a
fingerprint cannot carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.stats import binom, chi2

from provenance import calibration as cal
from provenance.checkpoint.base import Checkpoint, layer_name
from provenance.evidence.weights.invariants import norm_gain

#: Reference neurons matched per layer (evenly spaced); bounds the assignment to m x F_b.
MAX_NEURONS = 768


@dataclass
class NeuronLayer:
    """Outcome for one matched layer pair."""

    a: int
    b: int
    n: int  # reference neurons matched
    agree: int  # neurons whose gate- and up-matchings agree
    mean_cosine: float  # mean gate cosine of the gate-matching
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "neurons": self.n, "agree": self.agree,
                "mean_cosine": round(self.mean_cosine, 6), "p_value": float(f"{self.p_value:.6g}")}


def _rows(ckpt: Checkpoint, i: int, kind: str) -> np.ndarray:
    """MLP read rows (gate or up) of layer ``i`` with the norm gain folded, float32, in ``ckpt``'s basis."""
    w = ckpt.get(layer_name(i, f"mlp.{kind}_proj.weight")) * norm_gain(ckpt, i, "post_attention_layernorm")[None, :]
    return w.numpy()  # float32: cosines to rank neurons need no more


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)


def _match(xa: np.ndarray, xb: np.ndarray) -> tuple[np.ndarray, float]:
    cos = xa @ xb.T
    rows, cols = linear_sum_assignment(cos, maximize=True)
    return cols[np.argsort(rows)], float(cos[rows, cols].mean())


def _aligned(a: Checkpoint, b: Checkpoint, ia: int, ib: int, kind: str, pick: np.ndarray,
             q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows of A's picked neurons and of all B's, in one basis. A read row w_b acts on
    x_b = x_a q, i.e. as w_b qᵀ on x_a; q is orthogonal (equal widths), so rotating A's m picked rows
    by q gives the same cosines as rotating B's F rows by qᵀ, at m/F of the cost."""
    xa, xb = _rows(a, ia, kind)[pick], _rows(b, ib, kind)
    return _unit(xa @ q.astype(np.float32)), _unit(xb)


def neuron_layer(a: Checkpoint, b: Checkpoint, ia: int, ib: int, q: np.ndarray) -> NeuronLayer:
    """Match reference layer ``ia``'s neurons with candidate layer ``ib``'s, by gate and by up rows
    (``q``: the orthogonal residual map between the equal-width models)."""
    fa = a.info(layer_name(ia, "mlp.gate_proj.weight")).shape[0]
    fb = b.info(layer_name(ib, "mlp.gate_proj.weight")).shape[0]
    m = min(MAX_NEURONS, fa, fb)
    pick = np.linspace(0, fa - 1, m).round().astype(int)
    pg, cos_g = _match(*_aligned(a, b, ia, ib, "gate", pick, q))
    pu, _ = _match(*_aligned(a, b, ia, ib, "up", pick, q))
    agree = int(np.sum(pg == pu))
    chance = max(1.0 / fb, cal.NEURON_NULL_AGREEMENT)
    p = float(binom.sf(agree - 1, m, chance)) if agree > 0 else 1.0
    return NeuronLayer(ia, ib, m, agree, cos_g, max(p, 1e-300))


def fisher(p_values: list[float]) -> float:
    """Fisher's combination of independent p-values (floored at 1e-300 so the log stays finite)."""
    stat = -2.0 * float(np.sum(np.log(np.maximum(p_values, 1e-300))))
    return max(float(chi2.sf(stat, 2 * len(p_values))), 1e-300)


def neuron_test(
    a: Checkpoint, b: Checkpoint, pairs: list[tuple[int, int]], q: np.ndarray
) -> tuple[list[NeuronLayer], float]:
    """Run :func:`neuron_layer` on ``pairs`` (reference layer, candidate layer); Fisher-combined p."""
    with torch.no_grad():
        layers = [neuron_layer(a, b, ia, ib, q) for ia, ib in pairs]
    return layers, fisher([x.p_value for x in layers]) if layers else 1.0
