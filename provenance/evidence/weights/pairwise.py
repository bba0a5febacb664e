"""Fingerprint-to-fingerprint weight comparison: two weight sketches, no checkpoint.

Two tests, because no single one is both exact and blind to a change of residual basis:

* :func:`sign_test`, **exact under a stated null**. Flipping the sign of one residual coordinate (its
  embedding column, the columns that read it and the rows that write it) leaves a model's function
  unchanged, and for a model trained independently of the other from a sign-symmetric random init
  with a coordinate-wise optimizer (SGD, Adam) its distribution too. So, for two independent models,
  the signs of the per-coordinate overlaps ``c_j`` (cosine of embedding column ``j`` over the anchor
  tokens both sketches carry) are fair coins given their sizes, and Hoeffding's inequality bounds
  ``P(Σ c_j ≥ s) ≤ exp(-t²/2)`` with ``t = Σ c_j / √Σ c_j²``. A descendant that kept its parent's
  coordinates (fine-tunes, quantization, pruning of heads, neurons or layers, vocabulary extension)
  has nearly all ``c_j > 0``: ``t ≈ √D``. A descendant whose basis was rotated or permuted is
  invisible to it (its p-value is then an honest coin toss, never evidence of independence).
* :func:`frame_score`, **calibrated, not exact**: the score ``T`` of :mod:`provenance.evidence.weights`
  computed on the token-frame maps of :mod:`provenance.evidence.weights.frame`, which no orthogonal change
  of basis moves. It sees rotated and permuted descendants; its null is the measured spread of
  independent pairs (:mod:`provenance.calibration`), so it is reported apart from the exact test.

:func:`signature_cosine` is a cheap rotation-invariant pre-filter (cosine of the frame tokens'
correlation patterns) that decides which pairs are worth the two tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from provenance import calibration as cal
from provenance.evidence.weights import frame as fr
from provenance.evidence.weights.sketch import WeightSketch, _statistic

#: The null the sign test's p-value is computed under (reported with every p-value).
SIGN_TEST_NULL = ("the two models were trained independently from sign-symmetric random inits "
                  "(signs of per-coordinate embedding overlaps are fair coins; Hoeffding bound)")


@dataclass(frozen=True)
class SignTest:
    """Outcome of :func:`sign_test`: ``t`` and its p-value bound, over ``n_tokens`` x ``n_coords``."""

    t: float
    p_value: float
    n_tokens: int
    n_coords: int


class View:
    """A sketch with what the pairwise tests derive from it alone, computed once (a registry compares
    each model many times; most pairs share a tokenizer, so the full-anchor forms are reused)."""

    def __init__(self, sketch: WeightSketch) -> None:
        self.sketch = sketch
        self.frame = sketch.frame
        self._cols: np.ndarray | None = None
        self._maps: np.ndarray | None = None
        self._index: dict[bool, dict[bytes | int, int]] = {}

    def index(self, by_string: bool) -> dict[bytes | int, int]:
        """Anchor key -> anchor index, keyed by surface string or by token id."""
        if by_string not in self._index:
            s = self.sketch
            keys: list[bytes | int] = list(s.anchor_keys) if by_string else s.anchor_ids.tolist()
            self._index[by_string] = {k: i for i, k in enumerate(keys)}
        return self._index[by_string]

    def columns(self, sel: np.ndarray | None) -> np.ndarray:
        """Embedding columns over anchors ``sel`` (all when None), centred and of unit norm."""
        if sel is None and self._cols is not None:
            return self._cols
        x = self.sketch.embed if sel is None else self.sketch.embed[sel]
        x = x.astype(np.float64)
        x -= x.mean(0)  # centring a column commutes with flipping its sign
        x /= np.maximum(np.linalg.norm(x, axis=0), 1e-30)
        if sel is None:
            self._cols = x
        return x

    def frame_maps(self, sel: np.ndarray) -> np.ndarray:
        """:func:`frame.maps` on frame tokens ``sel`` as [4, L, S*S] rows (cached for the full token set)."""
        assert self.frame is not None
        full = len(sel) == len(self.frame.keys) and np.array_equal(sel, np.arange(len(sel)))
        if full and self._maps is not None:
            return self._maps
        m = fr.maps(self.frame, sel)
        rows = m.permute(1, 0, 2, 3).reshape(m.shape[1], m.shape[0], -1).numpy()
        if full:
            self._maps = rows
        return rows


def shared_anchors(a: View, b: View) -> tuple[np.ndarray, np.ndarray] | None:
    """Indices into ``a``'s and ``b``'s anchors of the tokens both carry (``None``: all of them, in
    one order): by surface string when both have one, else by id when the vocabularies have one size
    (ids mean nothing across vocabularies)."""
    sa, sb = a.sketch, b.sketch
    by_string = sa.anchors_by == "string" and sb.anchors_by == "string"
    if not by_string and sa.vocab_size != sb.vocab_size:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    ka, kb = a.index(by_string), b.index(by_string)
    if len(ka) == len(kb) and list(ka) == list(kb):
        return None
    pairs = [(i, kb[k]) for k, i in ka.items() if k in kb]
    return np.array([p[0] for p in pairs], dtype=np.int64), np.array([p[1] for p in pairs], dtype=np.int64)


def sign_testable(a: View, b: View) -> bool:
    """Whether :func:`sign_test` could run (equal widths, and anchors keyed alike), without matching them."""
    sa, sb = a.sketch, b.sketch
    return sa.dim == sb.dim and ((sa.anchors_by == "string" and sb.anchors_by == "string") or sa.vocab_size == sb.vocab_size)


def hoeffding_p(c: np.ndarray) -> tuple[float, float]:
    """(t, p): ``t = Σc/√Σc²`` and the bound ``exp(-t²/2)`` on ``P(Σ ε_j |c_j| ≥ Σ c_j)`` for fair signs ε."""
    c = c.astype(np.float64)
    norm = math.sqrt(float(np.sum(c * c)))
    if norm == 0.0:
        return 0.0, 1.0
    t = float(np.sum(c)) / norm
    return t, (math.exp(-t * t / 2) if t > 0 else 1.0)


def sign_test(a: View, b: View) -> SignTest | None:
    """The exact sign test (module docstring); ``None`` when widths differ or too few anchors are shared."""
    if a.sketch.dim != b.sketch.dim:
        return None
    shared = shared_anchors(a, b)
    n = len(a.sketch.anchor_keys) if shared is None else len(shared[0])
    if n < cal.MIN_ANCHORS:
        return None
    x = a.columns(None if shared is None else shared[0])
    y = b.columns(None if shared is None else shared[1])
    t, p = hoeffding_p(np.einsum("ij,ij->j", x, y))
    return SignTest(t, max(p, 1e-300), n, a.sketch.dim)


def frame_score(a: View, b: View) -> float | None:
    """Score ``T`` of the two sketches' token-frame maps on the frame tokens they share; ``None``
    without frames (version-1 fingerprints) or with fewer than :data:`frame.MIN_SHARED` shared tokens."""
    if a.frame is None or b.frame is None:
        return None
    ia, ib = fr.shared(a.frame, b.frame)
    if len(ia) < fr.MIN_SHARED:
        return None
    # the cosines of invariants.similarity, as one batched product per kind
    sim = np.clip(a.frame_maps(ia) @ b.frame_maps(ib).transpose(0, 2, 1), -1.0, 1.0).mean(0)
    return _statistic(sim)


def signature_cosine(a: View, b: View) -> float | None:
    """Cosine of the two frames' token-correlation signatures (the pre-filter); ``None`` without frames."""
    if a.frame is None or b.frame is None:
        return None
    ia, ib = fr.shared(a.frame, b.frame)
    if len(ia) < fr.MIN_SHARED:
        return None
    return float(fr.gram_signature(a.frame, ia) @ fr.gram_signature(b.frame, ib))
