"""A probe frame defined by tokens: per-layer invariants two fingerprints can compare directly.

Why: a sketch's per-layer maps ``Pᵀ M P`` go through a fixed *random* probe ``P``. Against a
checkpoint that is enough (the candidate is probed with ``Qᵀ P`` after aligning its basis), but two
fingerprints cannot be aligned that way: once a descendant's residual basis is rotated or permuted,
its ``Pᵀ M P`` and its parent's describe different subspaces and no fingerprint holds the weights to
re-probe. A frame made of *token embeddings* moves with the basis instead.

For a fixed list of token strings (:data:`CANONICAL`: letters, digits, punctuation, which every
byte-level or SentencePiece vocabulary holds; evenly spaced ids for a model without a tokenizer) take
their embedding rows ``X`` [K, D] and store, per layer and invariant kind, the bilinear form
``F = X M Xᵀ`` (gains folded as in :mod:`provenance.evidence.weights.invariants`) and the Gram matrix
``G = X Xᵀ``. Under any orthogonal change of residual basis (``X -> X R``, ``M -> Rᵀ M R``) both are
unchanged, and their entries are indexed by token strings, so two fingerprints compare entry by entry
on the tokens they share. Each form then loses its component along ``G`` (the frame's image of the
identity, which every trained model shares: :func:`~provenance.evidence.weights.invariants.normalise` does the
same in an orthonormal frame) and goes through the layer centring and score ``T`` of a checkpoint
comparison (:mod:`provenance.evidence.weights.sketch`).

Why not orthonormalise the token rows first (``P = Xᵀ G^-1/2``, or a QR): embedding rows share a large
common direction, ``G`` is ill-conditioned and whitening amplifies a fine-tune's small drift of the
rows. Measured on stories260K vs its 100-step fine-tune: ``T`` = 0.025 whitened, 0.58 / 0.73 with
the eigenvalue floor at 1% / 10%, 0.67 with the raw forms (rotated copies: 0.995 / 1.000 / 1.000 /
1.000), and the raw forms need no eigendecomposition (20x faster).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import torch

from provenance.errors import FormatError
from provenance.evidence.weights import invariants as inv

#: Frame tokens kept at most (never more than the width).
FRAME_TOKENS = 64
#: Fewer shared frame tokens than this: no frame comparison.
MIN_SHARED = 16
#: Token strings tried in this order (surface bytes, as :func:`provenance.evidence.weights.alignment.token_keys`).
CANONICAL: tuple[bytes, ...] = tuple(
    s.encode()
    for s in [*string.ascii_lowercase, *string.digits, *(" " + c for c in string.ascii_lowercase),
              *string.ascii_uppercase, *string.punctuation]
)


@dataclass
class TokenFrame:
    """Frame tokens (surface bytes, or ``b"#<id>"`` when the model has no tokenizer), their Gram matrix
    ``gram`` [K, K] f32 (scaled to unit mean diagonal) and bilinear forms ``forms`` [L, 4, K, K] f16
    (each map scaled to unit Frobenius norm: only directions matter downstream)."""

    keys: list[bytes]
    gram: np.ndarray
    forms: np.ndarray

    def to_arrays(self) -> dict[str, np.ndarray]:
        offsets = np.zeros(len(self.keys) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(k) for k in self.keys])
        return {"frame_bytes": np.frombuffer(b"".join(self.keys), dtype=np.uint8).copy(),
                "frame_offsets": offsets, "frame_gram": self.gram.astype(np.float32),
                "frame_forms": self.forms.astype(np.float16)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], n_layers: int) -> TokenFrame:
        """Rebuild and validate; FormatError on any inconsistency."""
        raw, off = arrays.get("frame_bytes"), arrays.get("frame_offsets")
        gram, forms = arrays.get("frame_gram"), arrays.get("frame_forms")
        if raw is None or off is None or gram is None or forms is None:
            raise FormatError("weight sketch: frame arrays incomplete")
        k = off.shape[0] - 1
        checks = [(raw, np.uint8, None), (off, np.int64, (k + 1,)), (gram, np.float32, (k, k)),
                  (forms, np.float16, (n_layers, len(inv.KINDS), k, k))]
        for a, dtype, shape in checks:
            if a.dtype != dtype or (shape is not None and a.shape != shape):
                raise FormatError(f"weight sketch: frame array not {np.dtype(dtype)}{shape}")
        if k < 1 or off[0] != 0 or np.any(np.diff(off) < 0) or off[-1] != raw.shape[0]:
            raise FormatError("weight sketch: frame offsets out of range")
        if not (np.all(np.isfinite(gram)) and np.all(np.isfinite(forms))):
            raise FormatError("weight sketch: frame holds non-finite values")
        data = raw.tobytes()
        keys = [data[a:b] for a, b in zip(off[:-1].tolist(), off[1:].tolist())]
        if len(set(keys)) != k:
            raise FormatError("weight sketch: repeated frame tokens")
        return cls(keys, gram, forms)

    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.to_arrays().values())


def choose(keys: list[bytes], ids: np.ndarray, by: str, vocab_size: int, dim: int) -> tuple[list[bytes], np.ndarray]:
    """Frame tokens of a model from its usable (key, id) pairs: canonical strings it holds, or (keyed
    by id) evenly spaced ids, so models with one vocabulary pick the same tokens."""
    k = max(1, min(FRAME_TOKENS, dim))
    where = dict(zip(keys, ids.tolist()))
    if by == "string":
        picked = [c for c in CANONICAL if c in where][:k]
    else:
        spaced = np.linspace(0, vocab_size - 1, min(vocab_size, 4 * k)).round().astype(np.int64)
        picked = [key for key in dict.fromkeys(f"#{i}".encode() for i in spaced.tolist()) if key in where][:k]
    return picked, np.array([where[c] for c in picked], dtype=np.int64)


def build(keys: list[bytes], rows: np.ndarray, forms: torch.Tensor) -> TokenFrame:
    """The frame from its token rows [K, D] and raw layer forms [L, 4, K, K] (``X M Xᵀ``)."""
    x = rows.astype(np.float64)
    gram = x @ x.T
    gram /= max(float(np.mean(np.diag(gram))), 1e-30)
    f = forms.double()
    f = f / f.flatten(-2).norm(dim=-1).clamp_min(1e-30)[..., None, None]
    return TokenFrame(keys, gram.astype(np.float32), f.numpy().astype(np.float16))


def shared(a: TokenFrame, b: TokenFrame) -> tuple[np.ndarray, np.ndarray]:
    """Indices into ``a`` and ``b`` of the frame tokens both hold (in ``a``'s order)."""
    if a.keys == b.keys:  # one tokenizer: the common case
        return np.arange(len(a.keys)), np.arange(len(b.keys))
    where = {key: i for i, key in enumerate(b.keys)}
    pairs = [(i, where[key]) for i, key in enumerate(a.keys) if key in where]
    return np.array([p[0] for p in pairs], dtype=np.int64), np.array([p[1] for p in pairs], dtype=np.int64)


def maps(frame: TokenFrame, sel: np.ndarray) -> torch.Tensor:
    """Forms [L, 4, S, S] on frame tokens ``sel``: component along the Gram removed, unit norm, centred
    over layers (what :func:`~provenance.evidence.weights.invariants.similarity` compares)."""
    g = torch.from_numpy(frame.gram[np.ix_(sel, sel)].astype(np.float64))
    g = g / g.norm().clamp_min(1e-30)
    f = torch.from_numpy(frame.forms[:, :, sel][:, :, :, sel].astype(np.float64))
    f = f - (f * g).sum((-2, -1), keepdim=True) * g
    f = f / f.flatten(-2).norm(dim=-1).clamp_min(1e-30)[..., None, None]
    return inv.centre_layers(f)


def gram_signature(frame: TokenFrame, sel: np.ndarray) -> np.ndarray:
    """Unit vector of the token correlations off the diagonal (rotation-invariant, a cheap pre-filter)."""
    g = frame.gram[np.ix_(sel, sel)].astype(np.float64)
    d = np.sqrt(np.maximum(np.diag(g), 1e-30))
    c = (g / d[:, None] / d[None, :])[np.triu_indices(len(sel), 1)]
    c = c - c.mean()
    return c / max(float(np.linalg.norm(c)), 1e-30)

