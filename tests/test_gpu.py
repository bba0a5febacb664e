"""The ``--device cuda`` path: our engine and the canary probes on a GPU give what they give on the
CPU and what transformers gives on the same GPU. Skipped (marker ``gpu``) where torch sees no GPU;
run on a GPU machine with ``python3 -m pytest -m gpu``. ``benchmarks/gpu_check.py`` adds real-weight
bfloat16 parity and GPU throughput.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from provenance.checkpoint.base import from_state_dict
from provenance.engine.model import Transformer
from provenance.evidence.behaviour.probes import run_canaries
from tests.test_model import CONFIGS, TOL, _canonical, _hf_reference, _maxdiff

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _exact_float32() -> None:
    # TF32 matmuls would measure rounding, not our code
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


@pytest.mark.parametrize("name", list(CONFIGS))
def test_tiny_on_gpu_matches_transformers_and_the_cpu(name: str) -> None:
    args = CONFIGS[name]
    hf = _hf_reference(args)
    ckpt = from_state_dict(_canonical(hf, args), args)
    gpu, cpu = Transformer.from_checkpoint(ckpt, device="cuda"), Transformer.from_checkpoint(ckpt)
    assert gpu.device.type == "cuda"
    tokens = torch.randint(0, args.vocab_size, (2, 120), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = hf.cuda()(tokens.cuda()).logits
        ours = gpu(tokens.cuda()).logits
        on_cpu = cpu(tokens).logits
    assert ref.abs().max() > 1.0
    assert _maxdiff(ours, ref) <= TOL
    assert _maxdiff(ours.cpu(), on_cpu) <= TOL


def test_canaries_on_gpu_equal_the_cpu_run() -> None:
    args = CONFIGS["llama2-gqa"]
    ckpt = from_state_dict(_canonical(_hf_reference(args), args), args)  # no tokenizer: id-mode probes
    cpu = run_canaries(ckpt)
    gpu = run_canaries(ckpt, prompts=cpu.prompts, device="cuda")
    assert gpu.positions == cpu.positions and gpu.keys == cpu.keys
    assert np.abs(gpu.full - cpu.full).max() < 1e-3
    assert (gpu.topk[:, :3] == cpu.topk[:, :3]).mean() > 0.99
