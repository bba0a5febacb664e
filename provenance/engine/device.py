"""Where and in which precision the engine runs: the device and dtype policy."""

from __future__ import annotations

import torch

from provenance.calibration import HALF_PRECISION_FROM_PARAMS
from provenance.errors import ProvenanceError


def resolve_device(name: str | torch.device) -> torch.device:
    """``name`` ("cpu", "cuda", "cuda:1", ...) as a torch device that exists on this machine.

    Raises :class:`ProvenanceError` (a usage error, never turned into a "not measured" note the way
    :class:`UnsupportedError` is) for an unknown name or an absent GPU."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ProvenanceError(f"unknown device {str(name)!r} (use cpu or cuda[:N])") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ProvenanceError(f"device {str(name)!r} requested, but torch sees no CUDA GPU on this machine")
    if device.type not in ("cpu", "cuda"):
        raise ProvenanceError(f"device {str(name)!r} is not supported (use cpu or cuda[:N])")
    return device


def probe_dtype(n_params: int) -> torch.dtype:
    """float32 below :data:`~provenance.calibration.HALF_PRECISION_FROM_PARAMS` parameters, bfloat16
    from there (a 7B model in float32 would need 28 GB)."""
    return torch.float32 if n_params < HALF_PRECISION_FROM_PARAMS else torch.bfloat16
