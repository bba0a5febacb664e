"""ggml types the ``gguf`` package cannot dequantize: ours agree bit for bit with llama.cpp's formulas
(transcribed in ``ggml_reference``), real stories260K tensors stored in them read back, and bytes that
are not valid blocks are refused by name, never read as noise."""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import pytest
import torch

from provenance.checkpoint import Checkpoint, ggml_types, open_checkpoint
from provenance.errors import FormatError, UnsupportedError
from tests.checkpoint import ggml_reference as ref

Q = gguf.GGMLQuantizationType
UP = "blk.0.ffn_up.weight"  # [172, 64] in PyTorch order: rows of 64 = two Q8_1 blocks


def test_the_types_are_exactly_those_gguf_cannot_dequantize() -> None:
    lacking = set()
    for t in Q:
        size = gguf.GGML_QUANT_SIZES[t][1]
        try:
            gguf.quants.dequantize(np.zeros((1, size), np.uint8), t)
        except NotImplementedError:
            lacking.add(t)
    assert lacking == set(ggml_types.TYPES)


def _random_rows(qtype: gguf.GGMLQuantizationType, rng: np.random.Generator, n_rows: int = 3) -> np.ndarray:
    """Valid rows of ``qtype``: random quants, finite scales (NaN payloads are not what is compared)."""
    block, size = ggml_types.block_layout(qtype)
    blocks = 1024 // block if block > 1 else 64
    if qtype == Q.Q8_1:  # blocks from the reference quantizer, s included
        x = (rng.standard_normal((n_rows, blocks * 32)) * rng.uniform(1e-3, 30, (n_rows, 1))).astype(np.float32)
        x[0, :32] = 0.0  # an all-zero block: d = s = 0
        return ref.quantize_q8_1(x)
    raw = rng.integers(0, 256, (n_rows, blocks * size), dtype=np.uint8)
    if qtype == Q.Q8_K:  # f32 d: anything finite, subnormals and signed zeros included
        d = np.concatenate([rng.standard_normal(blocks * n_rows - 3) * 10.0 ** rng.integers(-40, 36, blocks * n_rows - 3),
                            [0.0, -0.0, 1e-45]]).astype("<f4")
        raw.reshape(-1, size)[:, :4] = d.view(np.uint8).reshape(-1, 4)
    elif qtype == Q.Q1_0:  # fp16 d with a finite exponent
        raw.reshape(-1, size)[:, 1] &= 0xFB
    elif qtype == Q.F64:
        vals = rng.standard_normal(raw.size // 8) * 10.0 ** rng.integers(-50, 50, raw.size // 8)
        vals[:4] = [3.4028235677973366e38, 1e39, -1e300, 5e-324]  # float32 max, overflow, underflow
        raw = vals.astype("<f8").view(np.uint8).reshape(n_rows, -1)
    elif qtype == Q.I64:  # near 2^53..2^63, where rounding to float32 matters
        vals = rng.integers(-(2**63), 2**63 - 1, raw.size // 8, dtype=np.int64)
        vals[:3] = [2**24 + 1, 2**60 + 2**36 + 1, -(2**63)]
        raw = vals.astype("<i8").view(np.uint8).reshape(n_rows, -1)
    return raw


@pytest.mark.parametrize("qtype", sorted(ggml_types.TYPES, key=lambda t: t.value), ids=lambda t: t.name)
def test_dequantization_is_bit_exact_against_the_reference_formulas(qtype: gguf.GGMLQuantizationType) -> None:
    rows = _random_rows(qtype, np.random.default_rng(qtype.value))
    ours = ggml_types.dequantize(rows, qtype)
    assert ours.dtype == np.float32 and ours.shape[0] == rows.shape[0]
    want = np.array([ref.dequantize_row(qtype, r.tobytes()) for r in rows], dtype=np.float32)
    assert ours.shape == want.shape
    assert np.array_equal(ours.view(np.uint32), want.view(np.uint32))  # bits: signed zeros and infs too


def test_q8_1_round_trip_is_within_half_a_step() -> None:
    x = np.random.default_rng(0).standard_normal((4, 256)).astype(np.float32)
    back = ggml_types.dequantize(ref.quantize_q8_1(x), Q.Q8_1)
    step = np.abs(x.reshape(-1, 32)).max(axis=1) / 127
    assert np.all(np.abs(back - x).reshape(-1, 32) <= step[:, None] * 0.5 * (1 + 2.0**-9))


def test_q8_1_blocks_whose_sum_disagrees_are_refused() -> None:
    rows = ref.quantize_q8_1(np.random.default_rng(1).standard_normal((1, 64)).astype(np.float32))
    rows[0, 36 + 5] ^= 0x40  # one quant of the second block changed: s no longer d * sum
    with pytest.raises(ggml_types.BlockError, match="Q8_1 block 1 is not ggml's"):
        ggml_types.dequantize(rows, Q.Q8_1)


def test_stories_with_a_q8_1_tensor_reads_back(stories: Checkpoint, tmp_path: Path) -> None:
    """Real weights in ggml's 36-byte Q8_1 block (written with the tensor's own shape): read back as
    the reference formula says, within half a quantization step of the original."""
    up = stories.get("model.layers.0.mlp.up_proj.weight").numpy()
    blocks = ref.quantize_q8_1(up)
    path = ref.save_gguf_with(stories, tmp_path / "q81.gguf", {UP: (Q.Q8_1, blocks.view(np.int8))})
    ck = open_checkpoint(path)
    assert ck.info("model.layers.0.mlp.up_proj.weight").dtype == "Q8_1"
    got = ck.get("model.layers.0.mlp.up_proj.weight")
    want = torch.tensor([ref.dequantize_row(Q.Q8_1, r.tobytes()) for r in blocks])
    assert torch.equal(got, want)
    assert float((got - torch.from_numpy(up)).abs().max()) <= float(np.abs(up).max()) / 127 / 2 * 1.01
    assert torch.equal(ck.get("model.layers.0.mlp.gate_proj.weight"), stories.get("model.layers.0.mlp.gate_proj.weight"))


def test_q8_1_in_the_gguf_package_layout_is_refused_by_name(stories: Checkpoint, tmp_path: Path) -> None:
    """40-byte blocks (the ``gguf`` package's table) are not ggml's 36: read as ggml's they would be
    noise, so the tensor is refused, naming it and the type; the rest of the file stays readable."""
    up = stories.get("model.layers.0.mlp.up_proj.weight").numpy()
    path = ref.save_gguf_with(stories, tmp_path / "q81-40.gguf", {UP: (Q.Q8_1, ref.quantize_q8_1_gguf_py(up))})
    ck = open_checkpoint(path)
    with pytest.raises(UnsupportedError, match=r"tensor 'blk\.0\.ffn_up\.weight' refused: Q8_1 block 0 is not ggml's"):
        ck.get("model.layers.0.mlp.up_proj.weight")
    assert torch.equal(ck.get("model.layers.0.mlp.gate_proj.weight"), stories.get("model.layers.0.mlp.gate_proj.weight"))


def _retype(path: Path, name: str, raw_type: int) -> None:
    """Rewrite the ggml type of tensor ``name`` in the tensor table (name, n_dims, dims, type, offset)."""
    data = bytearray(path.read_bytes())
    at = data.index(len(name).to_bytes(8, "little") + name.encode()) + 8 + len(name)
    n_dims = int.from_bytes(data[at : at + 4], "little")
    at += 4 + 8 * n_dims
    data[at : at + 4] = raw_type.to_bytes(4, "little")
    path.write_bytes(bytes(data))


def test_types_llama_cpp_removed_are_refused_by_name(stories: Checkpoint, tmp_path: Path) -> None:
    from tests.exporters import save_gguf

    path = save_gguf(stories, tmp_path / "arm.gguf", "Q4_0")
    _retype(path, UP, 31)  # Q4_0_4_4: Q4_0's block size, so only the type id tells
    with pytest.raises(FormatError, match=r"'blk\.0\.ffn_up\.weight' has ggml type 31 \(Q4_0_4_4, removed .* requantize"):
        open_checkpoint(path)
    _retype(path, UP, 99)
    with pytest.raises(FormatError, match="unknown ggml type 99"):
        open_checkpoint(path)
