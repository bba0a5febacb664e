"""The test zoo keeps its promises: transforms that claim to preserve the function do (checked with our
engine), trainings really moved the weights and lowered the loss, manifests are deterministic.

Fast tests apply the transforms to stories260K and to small random models with q/k/v biases and
untied heads; the ``slow`` ones open the built zoo (``python -m tests.zoo build --all``).
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from provenance.checkpoint import merge_lora, open_checkpoint
from provenance.checkpoint.base import layer_name
from provenance.engine.model import Transformer
from provenance.modelargs import ModelArgs
from tests import zoo
from tests import zoo_data as data
from tests import zoo_transforms as T
from tests.zoo_recipes import attach_lora, read_adapter

TOY = ModelArgs(dim=48, n_layers=3, n_heads=6, n_kv_heads=2, vocab_size=97, hidden_dim=64, head_dim=8,
                norm_eps=1e-5, rope_theta=10000.0, max_seq_len=128)


def _toy(qkv_bias: bool, tie: bool) -> tuple[T.State, ModelArgs]:
    """A random model whose norm gains and biases are far from trivial (so folding matters)."""
    args = dataclasses.replace(TOY, qkv_bias=qkv_bias, tie_embeddings=tie)
    torch.manual_seed(0)
    state = data.state_of(Transformer(args))
    for k, v in state.items():
        if k.endswith("norm.weight"):
            state[k] = torch.rand(v.shape) + 0.5
        elif k.endswith(".bias"):
            state[k] = torch.randn(v.shape) * 0.1
    return state, args


def _stories() -> tuple[T.State, ModelArgs]:
    if data.stories260k() is None:
        pytest.skip("stories260K needs ../shared (absent)")
    return data.load(data.STORIES)


MODELS = {
    "stories260k": _stories,
    "toy-bias-untied": lambda: _toy(True, False),
    "toy-tied": lambda: _toy(False, True),
}


def _delta(a: tuple[T.State, ModelArgs], b: tuple[T.State, ModelArgs], vocab: int) -> float:
    x = torch.randint(3, vocab, (2, 40), generator=torch.Generator().manual_seed(1))
    return float((data.logits(*a, x) - data.logits(*b, x)).abs().max())


def _least_matrix_change(a: T.State, b: T.State) -> float:
    return min(float((b[k] - v).norm() / v.norm()) for k, v in a.items() if v.dim() == 2)


TOL = data.FUNCTION_TOL[data.STORIES]  # float32 models of this size


@pytest.mark.parametrize("model", MODELS)
def test_permutation_and_rescaling_preserve_logits(model: str) -> None:
    state, args = MODELS[model]()
    out = T.permute(state, args, torch.Generator().manual_seed(3))
    assert _delta((state, args), (out, args), args.vocab_size) < TOL
    assert _least_matrix_change(state, out) > 0.5  # every matrix really is different


@pytest.mark.parametrize("model", MODELS)
def test_fold_norms_and_rotation_preserve_logits(model: str) -> None:
    state, args = MODELS[model]()
    folded, fargs = T.fold_norms(state, args)
    assert not fargs.tie_embeddings and all(
        torch.all(v == 1) for k, v in folded.items() if k.endswith("norm.weight")
    )
    assert _delta((state, args), (folded, fargs), args.vocab_size) < TOL
    rotated = T.rotate(folded, fargs, T.random_orthogonal(args.dim, torch.Generator().manual_seed(4)))
    assert _delta((state, args), (rotated, fargs), args.vocab_size) < TOL
    assert _least_matrix_change(folded, rotated) > 1.0  # a rotation moves every matrix (~sqrt 2)


def test_rotation_needs_folded_norms() -> None:
    state, args = _toy(False, False)
    with pytest.raises(ValueError, match="fold_norms"):
        T.rotate(state, args, torch.eye(args.dim))


def test_the_tolerance_catches_small_changes() -> None:
    """Negative control: noise of 1% of each tensor's std already moves the logits past the tolerance."""
    state, args = _toy(True, False)
    noisy = T.add_noise(state, 0.01, torch.Generator().manual_seed(5))
    assert _delta((state, args), (noisy, args), args.vocab_size) > 10 * TOL


@pytest.mark.parametrize("model", MODELS)
def test_lora_merge_equals_unmerged_adapter(model: str) -> None:
    state, args = MODELS[model]()
    gen = torch.Generator().manual_seed(6)
    pairs = {
        layer_name(i, s): (torch.randn(4, state[layer_name(i, s)].shape[1], generator=gen) * 0.1,
                           torch.randn(state[layer_name(i, s)].shape[0], 4, generator=gen) * 0.1)
        for i in range(args.n_layers) for s in ("self_attn.q_proj.weight", "mlp.down_proj.weight")
    }
    unmerged = data.engine(state, args)
    attach_lora(unmerged, pairs, 2.0)
    merged = T.lora_merge(state, pairs, 2.0)
    x = torch.randint(3, args.vocab_size, (2, 40), generator=gen)
    with torch.no_grad():
        delta = float((unmerged(x).logits - data.logits(merged, args, x)).abs().max())
        moved = float((data.logits(state, args, x) - data.logits(merged, args, x)).abs().max())
    assert delta < TOL < moved


def test_structural_edits() -> None:
    state, args = _toy(False, True)
    # Depth up-scaling: layer j is an exact copy of its source; the model still runs.
    up, up_args = T.select_layers(state, args, [0, 1, 1, 2])
    assert up_args.n_layers == 4 and torch.equal(up[layer_name(2, "mlp.up_proj.weight")],
                                                 state[layer_name(1, "mlp.up_proj.weight")])
    # Keeping every neuron in a shuffled-then-sorted order is the identity; keeping fewer changes logits.
    full = {i: torch.arange(args.hidden_dim) for i in range(args.n_layers)}
    same, _ = T.prune_mlp(state, args, full)
    assert _delta((state, args), (same, args), args.vocab_size) == 0
    half = {i: torch.arange(0, args.hidden_dim, 2) for i in range(args.n_layers)}
    pruned, p_args = T.prune_mlp(state, args, half)
    assert p_args.hidden_dim == args.hidden_dim // 2
    assert _delta((state, args), (pruned, p_args), args.vocab_size) > TOL
    # Vocabulary extension: new rows are the mean of their pieces; old tokens' logits are unchanged.
    ext, e_args = T.extend_vocab(state, args, [[5, 6], [7, 8, 9]])
    assert e_args.vocab_size == args.vocab_size + 2
    assert torch.allclose(ext[T.EMBED][-1], state[T.EMBED][[7, 8, 9]].mean(0))
    x = torch.randint(3, args.vocab_size, (2, 20), generator=torch.Generator().manual_seed(2))
    assert torch.allclose(data.logits(ext, e_args, x)[..., : args.vocab_size], data.logits(state, args, x), atol=1e-6)


def test_registry_is_consistent() -> None:
    assert not set(zoo.ZOO_DERIVED) & set(zoo.ZOO_INDEPENDENT)
    seen: set[str] = set(zoo.BASES)
    for name, e in zoo.ENTRIES.items():
        assert e.reference in (data.SMOL, data.STORIES)
        assert all(p in seen for p in e.parents), f"{name}: parents must come earlier"
        seen.add(name)
        assert zoo.recipe_sha(name) == zoo.recipe_sha(name)
    assert zoo.recipe_sha("smol-avg") != zoo.recipe_sha("smol-noise")


def test_missing_shared_skips_cleanly(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("PROVENANCE_CACHE", str(tmp_path))
    monkeypatch.setattr(data, "stories260k", lambda: None)
    with pytest.raises(data.ZooUnavailable, match="shared"):
        zoo.build("stories-permuted")


@pytest.mark.slow
def test_manifests_and_weights_are_deterministic(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Two builds of a transform entry and of a trained entry give the same bytes."""
    _stories()
    monkeypatch.setenv("PROVENANCE_CACHE", str(tmp_path))
    names = ("stories-permuted", "stories-ft")
    first = {}
    for n in names:
        d = zoo.build(n)
        first[n] = {f.name: f.read_bytes() for f in d.iterdir() if f.name != "build.json"}
    for n in names:
        d = zoo.build(n, force=True)
        assert {f.name: f.read_bytes() for f in d.iterdir() if f.name != "build.json"} == first[n]
    manifest = json.loads(first["stories-ft"]["zoo.json"])
    assert manifest["parents"] == [data.STORIES] and manifest["recipe"]["steps"] == 100
    assert manifest["files"]["model.safetensors"] and manifest["result"]["data"]["sha256"]


# -- the built zoo ------------------------------------------------------------------------------

def _open(name: str) -> tuple[T.State, ModelArgs]:
    path = zoo.zoo_model(name)
    with open_checkpoint(path) as ck:
        return dict(ck.items()), ck.args


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.FUNCTION_PRESERVING)
def test_built_transforms_preserve_logits(name: str) -> None:
    e = zoo.ENTRIES[name]
    child = _open(name)
    parent = data.load(e.parents[0])
    assert data.max_logit_delta(parent, child, e.reference) <= data.FUNCTION_TOL[e.reference]


TRAINED = ("smol-ft-light", "smol-ft-heavy", "smol-cpt", "smol-pruned", "smol-upscaled", "stories-ft")
RESHAPED = ("smol-pruned", "smol-upscaled")  # their "before" is the edited model, not the parent


@pytest.mark.slow
@pytest.mark.parametrize("name", TRAINED)
def test_built_fine_tunes_moved_weights_and_lowered_loss(name: str) -> None:
    e = zoo.ENTRIES[name]
    result = zoo.zoo_manifest(name)["result"]
    child, c_args = _open(name)
    parent, p_args = data.load(e.parents[0])
    assert T.rel_change(parent, child)["global"] > 1e-4
    s, seq = data.stream(e.params["data"]), e.params["seq"]
    after = data.eval_loss(data.engine(child, c_args), s, 4, seq)
    assert after == pytest.approx(result["eval_loss_after"], rel=1e-4)  # the manifest describes these weights
    assert result["eval_loss_after"] < result["eval_loss_before"]
    if name not in RESHAPED:
        before = data.eval_loss(data.engine(parent, p_args), s, 4, seq)
        assert before == pytest.approx(result["eval_loss_before"], rel=1e-4)


@pytest.mark.slow
def test_heavy_fine_tune_moves_weights_far_more_than_light() -> None:
    light = zoo.zoo_manifest("smol-ft-light")["result"]["rel_weight_change"]["global"]
    heavy = zoo.zoo_manifest("smol-ft-heavy")["result"]["rel_weight_change"]["global"]
    assert heavy > 10 * light


@pytest.mark.slow
@pytest.mark.parametrize("name", ("smol-scratch", "stories-indep-a", "stories-indep-b", "stories-student"))
def test_independents_learned_from_scratch(name: str) -> None:
    result = zoo.zoo_manifest(name)["result"]
    assert result["eval_loss_after"] < result["eval_loss_before"] - 0.5


@pytest.mark.slow
def test_student_imitates_its_teacher_and_the_independents_do_not() -> None:
    teacher = data.engine(*data.load(data.STORIES))
    # fresh samples (the student trained on seed 0's): imitation must generalise, not be memorised
    x = data.sample(teacher, 8, 256, seed=12345, bos=1)[:, :-1]

    def kl(name: str) -> float:
        with torch.no_grad():
            t = torch.log_softmax(teacher(x).logits, -1)
            s = torch.log_softmax(data.engine(*_open(name))(x).logits, -1)
        return float((t.exp() * (t - s)).sum(-1).mean())

    student, other = kl("stories-student"), kl("stories-indep-a")
    assert student < 0.5 * other


@pytest.mark.slow
def test_lora_adapter_and_merge() -> None:
    folder = zoo.zoo_model("smol-lora")
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and config["r"] == 8
    pairs, scale = read_adapter(folder)
    assert len(pairs) == 7 * 30 and all(float(b.abs().max()) > 0 for _, b in pairs.values())  # B trained
    base, _ = data.load("smol-hf")
    merged, _ = _open("smol-lora-merged")
    name = layer_name(7, "self_attn.v_proj.weight")
    a, b = pairs[name]
    assert torch.allclose(merged[name], base[name] + scale * b @ a, atol=1e-6)
    # The product's loader reads the same adapter and merges it to the same weights.
    with open_checkpoint(folder) as adapter, open_checkpoint(zoo.zoo_model("smol-hf")) as hf:
        assert adapter.adapter is not None and adapter.adapter.r == 8
        product = merge_lora(hf, adapter)
        for n in (name, layer_name(29, "mlp.down_proj.weight"), T.EMBED):
            assert torch.allclose(product.get(n), merged[n], atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "qtype", "max_error"), [("smol-q8_0", 8, 0.01), ("smol-q4_0", 2, 0.25)])
def test_gguf_round_trips(name: str, qtype: int, max_error: float) -> None:
    import gguf

    path = zoo.zoo_model(name)
    reader = gguf.GGUFReader(path)
    types = {t.tensor_type for t in reader.tensors if len(t.shape) == 2}
    assert types == {gguf.GGMLQuantizationType(qtype)}
    base, _ = data.load("smol-hf")
    back, _ = _open(name)
    error = T.rel_change(base, back)["global"]
    assert 0 < error < max_error


@pytest.mark.slow
def test_hf_folders_ship_the_smollm2_vocabulary() -> None:
    with open_checkpoint(data.fetch(data.SMOL)) as gguf_ck:
        original = gguf_ck.tokenizer
    with open_checkpoint(zoo.zoo_model("smol-hf")) as ck:
        assert ck.tokenizer.identity == original.identity
    with open_checkpoint(zoo.zoo_model("smol-vocab-ext")) as ck:
        extended = ck.tokenizer
        assert ck.args.vocab_size == extended.vocab_size == original.vocab_size + 64
    assert extended.tokens[: original.vocab_size] == original.tokens
    new = zoo.zoo_manifest("smol-vocab-ext")["result"]["new_tokens"]
    assert extended.tokens[original.vocab_size :] == new
    assert extended.encode(new[0], add_bos=False) == [original.vocab_size]
