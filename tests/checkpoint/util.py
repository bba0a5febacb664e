"""Assertions shared by the checkpoint tests."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from provenance.checkpoint import Checkpoint


def assert_identical(ckpt: Checkpoint, reference: Mapping[str, torch.Tensor]) -> None:
    """Same canonical names in the same order, and bitwise-equal float32 tensors."""
    assert ckpt.names() == list(reference)
    for name, value in ckpt.items():
        assert value.dtype == torch.float32, name
        assert torch.equal(value, reference[name]), f"{name}: max |diff| {(value - reference[name]).abs().max()}"


def max_abs_diff(ckpt: Checkpoint, reference: Mapping[str, torch.Tensor]) -> float:
    """Largest elementwise difference over all tensors of ``ckpt``."""
    return max((value - reference[name].float()).abs().max().item() for name, value in ckpt.items())
