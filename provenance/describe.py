"""What a checkpoint is, without judging it: the data behind ``provenance inspect``."""

from __future__ import annotations

from collections import Counter
from typing import Any

from provenance import __version__
from provenance.checkpoint.base import Checkpoint


def describe_checkpoint(ckpt: Checkpoint, hashes: bool = True) -> dict[str, Any]:
    """A JSON-able description: format, architecture, sizes, storage types, tokenizer, declared metadata.

    ``hashes`` adds the sha256 of every source file (reads each file once).
    """
    dtypes = Counter(ckpt.info(n).dtype for n in ckpt.names())
    out: dict[str, Any] = {
        "path": str(ckpt.path),
        "format": ckpt.format,
        "quantization": ckpt.quantization,
        "architecture": ckpt.args.to_dict() if ckpt.args else None,
        "runnable": bool(ckpt.args and ckpt.args.runnable),
        "n_tensors": len(ckpt.names()),
        "n_params": ckpt.n_params,
        "dtypes": dict(sorted(dtypes.items())),
        "files": [
            {"path": str(f.path), "size": f.size, **({"sha256": f.sha256} if hashes else {})}
            for f in ckpt.files
        ],
        "tokenizer": describe_tokenizer(ckpt),
        "declared": ckpt.metadata.to_dict(),
        "tool": {"name": "provenance", "version": __version__},
    }
    if ckpt.adapter is not None:
        out["adapter"] = {
            "base_model": ckpt.adapter.base_model,
            "r": ckpt.adapter.r,
            "alpha": ckpt.adapter.alpha,
            "target_modules": list(ckpt.adapter.target_modules),
            "n_pairs": len(ckpt.adapter.pairs),
        }
    return out


def describe_tokenizer(ckpt: Checkpoint) -> dict[str, Any] | None:
    """Type, size and identity hashes of the checkpoint's tokenizer (None when it has none)."""
    tok = ckpt.tokenizer
    if tok is None:
        return None
    return {
        "kind": tok.kind,
        "vocab_size": tok.vocab_size,
        "identity": tok.identity,
        "regular_identity": tok.regular_identity,
        "bos_id": tok.bos_id,
        "eos_id": tok.eos_id,
        "has_chat_template": tok.chat_template is not None,
    }
