"""A candidate checkpoint's behaviour against reference fingerprints' canary results (the audit path)."""

from __future__ import annotations

import torch

from provenance.checkpoint.base import Checkpoint
from provenance.domain import Progress
from provenance.engine.model import Transformer
from provenance.errors import UnsupportedError, without_path
from provenance.evidence.behaviour.probes import ProbeResults, candidate_results, engine
from provenance.evidence.behaviour.score import (
    NO_REFERENCE_RESULTS,
    BehaviourResult,
    compare_behaviour,
    inconclusive,
)


def behaviour_against(
    ckpt: Checkpoint,
    references: list[tuple[str, ProbeResults | None]],
    progress: Progress | None = None,
    device: str | torch.device = "cpu",
) -> list[BehaviourResult]:
    """Compare ``ckpt`` with each named reference's canary results (``None``: not measured).

    The candidate runs once per distinct way the references were probed (text canaries of a version,
    or one set of id prompts); what cannot run (no tokenizer, no forward pass) gives ``inconclusive``.
    """
    runs: dict[tuple[str, str, bytes], ProbeResults | UnsupportedError] = {}
    out = []
    model: Transformer | None = None  # built on first use, shared by every run
    for name, ref in references:
        if ref is None:
            out.append(inconclusive(name, "text", NO_REFERENCE_RESULTS))
            continue
        key = (ref.canary_version, ref.mode, ref.prompts.tobytes())
        if key not in runs:
            try:
                if model is None:
                    model = engine(ckpt, device=device)
                runs[key] = candidate_results(ckpt, ref, progress, model=model)
            except UnsupportedError as e:
                runs[key] = e
        run = runs[key]
        if isinstance(run, UnsupportedError):
            out.append(inconclusive(name, ref.mode, without_path(run)))
        else:
            out.append(compare_behaviour(ref, run, name))
    return out
