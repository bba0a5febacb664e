"""Residual-basis alignment between two checkpoints through the embeddings of shared tokens.

Why: after RMSNorm gains are folded into the linears that read the residual stream, a transformer's
function is unchanged by any orthogonal map of that stream (``h -> Q h``) and by a global scale. A
descendant may have been rotated, permuted or sign-flipped on purpose, so every weight comparison
first recovers that map. Token embeddings (input rows, and output rows folded with the final norm
gain) are residual-stream vectors indexed by something both models share: the token's *surface
string*. An orthogonal Procrustes fit on those rows recovers ``Q``; a fit judged on held-out tokens
says how well it generalises (descendants ~0.99, independent models trained on the same data ~0.6).

Tokens are matched by their bytes (``Tokenizer.token_bytes``), so a vocabulary that was extended,
reordered or came from a different tokenizer family still aligns on what it shares. Without a
tokenizer on either side, identical vocabulary sizes fall back to matching by id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from provenance.checkpoint.base import EMBED, FINAL_NORM, Checkpoint

#: Held-out split: every ``HELDOUT_EVERY``-th anchor (in key order) is kept out of the fit.
HELDOUT_EVERY = 5
#: Fit rows (evenly spaced) the reported fit cosine is measured on.
FIT_COSINE_ROWS = 4096
#: Rows whose norm is below this fraction of the median are untrained (reserved tokens, padding).
MIN_ROW_NORM = 0.1


def token_keys(ckpt: Checkpoint) -> tuple[list[bytes | None], str]:
    """Per token id, the key used to match it across models, and how keys were made.

    Keys are surface bytes (``"string"``); ids whose bytes repeat an earlier id's are ``None``
    (byte-fallback duplicates, specials sharing a spelling). Without a tokenizer the key is the id
    itself (``"id"``), meaningful only against a model with the same vocabulary.
    """
    n = ckpt.info(EMBED).shape[0]
    tok = ckpt.tokenizer
    if tok is None:
        return [f"#{i}".encode() for i in range(n)], "id"
    seen: set[bytes] = set()
    keys: list[bytes | None] = []
    n_tok = len(tok.tokens)
    for i in range(n):
        if i >= n_tok:
            keys.append(None)  # padding rows beyond the tokenizer
            continue
        b = tok.token_bytes(i)
        if not b or b in seen:
            keys.append(None)
            continue
        seen.add(b)
        keys.append(b)
    return keys, "string"


def usable_rows(embed: np.ndarray) -> np.ndarray:
    """Boolean mask of rows that were trained (norm not negligible against the median)."""
    norms = np.linalg.norm(embed, axis=1)
    return norms > MIN_ROW_NORM * float(np.median(norms))


def head_rows(ckpt: Checkpoint, ids: np.ndarray, embed_rows: np.ndarray) -> np.ndarray:
    """Output-projection rows for ``ids`` with the final norm gain folded in (a residual covector).

    For tied models the output rows are the embedding rows; the gain still differs, so folding it
    keeps tied and untied descendants comparable.
    """
    gain = ckpt.get(FINAL_NORM).numpy() if FINAL_NORM in ckpt else None
    name = ckpt.output_weight_name()
    rows = embed_rows if name == EMBED else ckpt.get(name).numpy()[ids]
    return rows * gain[None, :] if gain is not None else rows


@dataclass
class Alignment:
    """A map from model B's residual basis into model A's: ``x_a ≈ scale * x_b @ q.T``.

    ``q`` is [D_a, D_b] with orthonormal rows or columns (a rotation when widths agree, a partial
    isometry when one model is narrower).
    """

    q: np.ndarray
    scale: float
    anchors_by: str  # "string" or "id"
    n_shared: int
    n_fit: int
    n_heldout: int
    fit_cosine: float
    heldout_cosine: float
    transform: str  # identity | permutation | signed-permutation | rotation
    sign_flips: int
    moved_dims: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary (the matrix itself is omitted)."""
        return {
            "transform": self.transform,
            "scale": round(self.scale, 6),
            "moved_dims": self.moved_dims,
            "sign_flips": self.sign_flips,
            "anchors_by": self.anchors_by,
            "shared_tokens": self.n_shared,
            "fit_tokens": self.n_fit,
            "heldout_tokens": self.n_heldout,
            "fit_cosine": round(self.fit_cosine, 6),
            "heldout_cosine": round(self.heldout_cosine, 6),
        }


def _prepare(rows: np.ndarray) -> np.ndarray:
    """Centre (removes the shared mean direction every embedding has) and unit-normalise rows."""
    x = rows.astype(np.float32)
    x = x - x.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _procrustes(cov: np.ndarray) -> np.ndarray:
    """Orthogonal ``q`` [D_a, D_b] maximising <xa, xb @ q.T>, from the cross-covariance xaᵀ xb.

    float32 SVD through torch: at D = 4096 it takes 8 s on 2 cores where numpy's float64 takes 17 s,
    and the map only has to be orthogonal to float32 precision."""
    u, _, vt = torch.linalg.svd(torch.from_numpy(np.ascontiguousarray(cov, dtype=np.float32)), full_matrices=False)
    return (u @ vt).double().numpy()


def _row_cosine(xa: np.ndarray, xb_mapped: np.ndarray) -> float:
    num = np.sum(xa * xb_mapped, axis=1)
    den = np.linalg.norm(xa, axis=1) * np.linalg.norm(xb_mapped, axis=1)
    return float(np.mean(num / np.maximum(den, 1e-12)))


def _describe(q: np.ndarray) -> tuple[str, int, int]:
    """Name the recovered map: identity, a (signed) permutation, or a general rotation."""
    if q.shape[0] != q.shape[1]:
        return "rotation", q.shape[0], 0
    big = np.abs(q).max(axis=1)
    if float(big.min()) < 0.9:
        return "rotation", q.shape[0], 0
    idx = np.abs(q).argmax(axis=1)
    signs = np.sign(q[np.arange(q.shape[0]), idx])
    moved = int(np.sum(idx != np.arange(q.shape[0])))
    flips = int(np.sum(signs < 0))
    if moved == 0 and flips == 0:
        return "identity", 0, 0
    return ("signed-permutation" if flips else "permutation"), moved, flips


def fit_alignment(
    rows_a: Sequence[np.ndarray], rows_b: Sequence[np.ndarray], anchors_by: str, norm_ratio: float
) -> Alignment:
    """Fit the residual map on paired anchor rows (one or more row blocks: embeddings, heads).

    Each block is centred and normalised on its own; ``q`` is fitted on all rows but every
    ``HELDOUT_EVERY``-th, which are held out to measure how it generalises (one SVD: refitting on
    all rows would change q by little and cost a second D x D SVD). ``norm_ratio`` is the median
    embedding-norm ratio A/B, reported as the residual scale.
    """
    xa = np.concatenate([_prepare(r) for r in rows_a])
    xb = np.concatenate([_prepare(r) for r in rows_b])
    n = xa.shape[0]
    held = np.zeros(n, dtype=bool)
    held[::HELDOUT_EVERY] = True
    fit_a, fit_b = xa[~held], xb[~held]
    q = _procrustes(fit_a.T @ fit_b)  # float32 products: the sums are over rows of unit vectors
    qt = q.T.astype(np.float32)
    heldout = _row_cosine(xa[held], xb[held] @ qt)
    some = slice(None, None, max(1, len(fit_a) // FIT_COSINE_ROWS))  # a report figure: a sample will do
    fit = _row_cosine(fit_a[some], fit_b[some] @ qt)
    transform, moved, flips = _describe(q)
    return Alignment(
        q=q,
        scale=norm_ratio,
        anchors_by=anchors_by,
        n_shared=rows_a[0].shape[0],
        n_fit=int(n - held.sum()),
        n_heldout=int(held.sum()),
        fit_cosine=fit,
        heldout_cosine=heldout,
        transform=transform,
        sign_flips=flips,
        moved_dims=moved,
    )
