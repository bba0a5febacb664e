"""The forward engine against exact references: transformers' own implementations of the same
architectures (tiny seeded configurations, all weights re-drawn at a realistic scale) and the real
SmolLM2-135M-Instruct GGUF, plus padding, bfloat16, generation and training behaviour.

Measured (float32, CPU, torch 2.13, transformers 5.24): the tiny configurations match transformers'
eager implementation to max |delta logit| 2e-6 (untied heads, logits ~4) and 2e-5 (tied, logits ~65);
SmolLM2 and Qwen2.5-Coder from our GGUF loader match transformers' GGUF path exactly (0.0) on
prompts of 5 to 318 tokens. The asserted bound is 1e-4.
"""

from __future__ import annotations

import hashlib
from functools import cache

import pytest
import torch

from provenance.checkpoint import open_checkpoint
from provenance.checkpoint.base import LM_HEAD, from_state_dict
from provenance.engine.device import resolve_device
from provenance.engine.model import ForwardOutput, Transformer, greedy_generate
from provenance.errors import FormatError, ProvenanceError, UnsupportedError
from provenance.modelargs import ModelArgs, RopeScaling
from tests.models import cache_dir, fetch

transformers = pytest.importorskip("transformers")

TOL = 1e-4  # max |delta logit|, and |delta| of tiny models' hidden states
REL_TOL = 1e-5  # SmolLM2's hidden states and MLP activations, relative to their largest magnitude

# -- tiny configurations against transformers ---------------------------------------------------

TINY = dict(dim=64, n_layers=3, n_heads=4, vocab_size=211, hidden_dim=160, max_seq_len=512, norm_eps=1e-5)
CONFIGS = {
    "llama1-mha-untied": ModelArgs(**TINY, n_kv_heads=4, head_dim=16),
    "llama2-gqa": ModelArgs(**TINY, n_kv_heads=2, head_dim=16),
    "llama3-gqa-theta": ModelArgs(**TINY, n_kv_heads=1, head_dim=16, rope_theta=500000.0),
    # original context 32 < test length 120, so all three frequency bands of the rescaling are used
    "llama3.1-rope-scaling": ModelArgs(
        **TINY, n_kv_heads=2, head_dim=16, rope_theta=500000.0, rope_scaling=RopeScaling(8.0, 1.0, 4.0, 32)
    ),
    "llama3.2-tied": ModelArgs(
        **TINY, n_kv_heads=2, head_dim=16, tie_embeddings=True, rope_scaling=RopeScaling(32.0, 1.0, 4.0, 32)
    ),
    "head-dim-override": ModelArgs(**TINY, n_kv_heads=2, head_dim=24),
    "linear-rope-scaling": ModelArgs(**TINY, n_kv_heads=2, head_dim=16, rope_scaling=RopeScaling(4.0, rope_type="linear")),
    "mistral": ModelArgs(**TINY, arch="mistral", n_kv_heads=2, head_dim=16, rope_theta=1e6),
    "qwen2-bias-tied": ModelArgs(
        **TINY, arch="qwen2", n_kv_heads=2, head_dim=16, qkv_bias=True, tie_embeddings=True, rope_theta=1e6
    ),
}


def _hf_reference(args: ModelArgs, seed: int = 0) -> torch.nn.Module:
    """A transformers model of ``args`` (eager attention: an independent code path from ours) whose
    weights are re-drawn at the scale of trained models, so logits are O(1-10), not ~0."""
    cfg = args.to_hf_config()
    if args.arch == "qwen2":
        config, cls = transformers.Qwen2Config(**cfg), transformers.Qwen2ForCausalLM
    elif args.arch == "mistral":
        config, cls = transformers.MistralConfig(**cfg, sliding_window=None), transformers.MistralForCausalLM
    else:
        config, cls = transformers.LlamaConfig(**cfg), transformers.LlamaForCausalLM
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = cls(config).eval()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:  # q/k/v biases
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            elif "embed" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[1] ** 0.5)
    return model


def _canonical(hf: torch.nn.Module, args: ModelArgs) -> dict[str, torch.Tensor]:
    state = hf.state_dict()
    if args.tie_embeddings:  # canonical checkpoints have no lm_head when tied
        state.pop(LM_HEAD)
    return state


def _down_proj_inputs(hf: torch.nn.Module) -> tuple[list[torch.Tensor], list]:
    """Capture what each HF down_proj receives (the exact reference for our mlp_activations)."""
    seen: list[torch.Tensor] = []
    hooks = [
        layer.mlp.down_proj.register_forward_pre_hook(lambda _m, a: seen.append(a[0].detach()))
        for layer in hf.model.layers
    ]
    return seen, hooks


def _maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()


def _reldiff(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| relative to max |b|: SmolLM2's residual stream reaches ~2e4 ("massive activations"),
    where one float32 ulp is ~2e-3, so an absolute bound would only measure its magnitude."""
    return _maxdiff(a, b) / b.abs().max().item()


@pytest.mark.parametrize("name", list(CONFIGS))
def test_tiny_matches_transformers(name: str) -> None:
    args = CONFIGS[name]
    hf = _hf_reference(args)
    ours = Transformer.from_checkpoint(from_state_dict(_canonical(hf, args), args))
    tokens = torch.randint(0, args.vocab_size, (2, 120), generator=torch.Generator().manual_seed(1))
    seen, hooks = _down_proj_inputs(hf)
    with torch.no_grad():
        ref = hf(tokens, output_hidden_states=True)
        out = ours(tokens, output_hidden=True, output_mlp=True)
    for h in hooks:
        h.remove()
    assert isinstance(out, ForwardOutput)
    assert out.logits.shape == (2, 120, args.vocab_size)
    assert ref.logits.abs().max() > 1.0  # a meaningful comparison, not two near-zero tensors
    assert _maxdiff(out.logits, ref.logits) <= TOL
    assert len(out.hidden_states) == len(ref.hidden_states) == args.n_layers + 1
    for ours_h, ref_h in zip(out.hidden_states, ref.hidden_states, strict=True):
        assert _maxdiff(ours_h, ref_h) <= TOL
    assert len(out.mlp_activations) == len(seen) == args.n_layers
    for ours_a, ref_a in zip(out.mlp_activations, seen, strict=True):
        assert ours_a.shape == (2, 120, args.hidden_dim)
        assert _maxdiff(ours_a, ref_a) <= TOL


def test_left_padding_matches_transformers_with_its_positions() -> None:
    args = CONFIGS["llama3.1-rope-scaling"]
    hf = _hf_reference(args)
    ours = Transformer.from_checkpoint(from_state_dict(_canonical(hf, args), args))
    tokens = torch.randint(0, args.vocab_size, (2, 50), generator=torch.Generator().manual_seed(2))
    mask = torch.ones(2, 50, dtype=torch.long)
    mask[1, :17] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        ref = hf(tokens, attention_mask=mask, position_ids=positions).logits
        out = ours(tokens, attention_mask=mask).logits
    assert _maxdiff(out[0], ref[0]) <= TOL
    assert _maxdiff(out[1, 17:], ref[1, 17:]) <= TOL


def test_tied_head_is_the_embedding_and_state_dict_is_canonical() -> None:
    args = CONFIGS["qwen2-bias-tied"]
    hf = _hf_reference(args)
    state = _canonical(hf, args)
    model = Transformer.from_checkpoint(from_state_dict(state, args))
    assert model.lm_head is None
    assert set(model.state_dict()) == set(state)
    # A tied checkpoint that still stores lm_head (HF state dicts do) is read as tied, like HF does.
    again = Transformer.from_checkpoint(from_state_dict(hf.state_dict(), args))
    assert again.lm_head is None
    weight = model.model.embed_tokens.weight
    assert not weight.requires_grad and weight.dtype == torch.float32


def test_inconsistent_checkpoint_is_a_format_error() -> None:
    args = CONFIGS["llama2-gqa"]
    state = _canonical(_hf_reference(args), args)
    name = "model.layers.1.self_attn.k_proj.weight"
    wrong = dict(state, **{name: state[name][:-1]})
    with pytest.raises(FormatError, match=name):
        Transformer.from_checkpoint(from_state_dict(wrong, args))
    missing = {k: v for k, v in state.items() if k != name}
    with pytest.raises(FormatError, match=name):
        Transformer.from_checkpoint(from_state_dict(missing, args))


def test_unsupported_architecture_is_refused() -> None:
    with pytest.raises(UnsupportedError, match="gemma3"):
        Transformer(ModelArgs(arch="gemma3", dim=64, n_layers=1, n_heads=4, n_kv_heads=1, head_dim=16))


def test_fresh_model_trains_and_round_trips() -> None:
    """Real optimizer steps on a fixed batch lower the loss; the trained weights reload exactly."""
    args = CONFIGS["llama3.2-tied"]
    torch.manual_seed(0)
    model = Transformer(args)
    tokens = torch.randint(0, args.vocab_size, (4, 33), generator=torch.Generator().manual_seed(3))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(20):
        logits = model(tokens[:, :-1]).logits
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, args.vocab_size), tokens[:, 1:].reshape(-1)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    reloaded = Transformer.from_checkpoint(from_state_dict(model.state_dict(), args))
    with torch.no_grad():
        assert torch.equal(reloaded(tokens).logits, model(tokens).logits)


def test_kv_cache_decoding_matches_full_recompute() -> None:
    args = CONFIGS["head-dim-override"]
    model = Transformer.from_checkpoint(from_state_dict(_canonical(_hf_reference(args), args), args))
    prompt = torch.randint(0, args.vocab_size, (20,), generator=torch.Generator().manual_seed(4)).tolist()
    new = greedy_generate(model, prompt, 15)
    ids = list(prompt)
    with torch.no_grad():
        for _ in range(15):  # no cache: recompute the whole sequence each step
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    assert new == ids[len(prompt) :]
    assert greedy_generate(model, prompt, 15, eos_id=new[3]) == new[: new.index(new[3])]


# -- SmolLM2-135M-Instruct from its real GGUF ---------------------------------------------------

PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    if n < 2:\n        return n\n",
    # long prompt (> 256 tokens), written for this test
    " ".join(
        [
            "Bread is one of the oldest prepared foods. Archaeologists have found charred crumbs at",
            "hearths that are more than fourteen thousand years old, long before farming began, which",
            "suggests that people ground wild grains and tubers into flour and baked flat cakes on hot",
            "stones. When wheat and barley were domesticated in the Fertile Crescent, bread became a",
            "daily staple. Leavened loaves appeared in Egypt, where bakers learned that dough left to",
            "stand would rise as wild yeasts fed on its sugars and released carbon dioxide. Roman cities",
            "had public bakeries with large stone mills turned by donkeys, and the state handed out",
            "grain or loaves to citizens. In medieval Europe the colour of one's bread marked one's",
            "class: white loaves of finely sifted wheat for the wealthy, dark rye and mixed-grain bread",
            "for everyone else. Laws fixed the weight and price of a loaf, and bakers who cheated could",
            "be fined or publicly shamed. The industrial revolution brought roller mills, commercial",
            "yeast and, in the twentieth century, sliced bread wrapped in wax paper. Today the range is",
            "enormous, from sourdough and baguettes to naan, injera, tortillas and steamed buns, yet the",
            "basic recipe remains flour, water, salt and a raising agent, mixed, rested, shaped and",
            "baked. Home baking surged again in recent years as people rediscovered slow fermentation,",
            "which develops flavour and makes the loaf keep longer. A good crust forms when steam in",
            "the oven delays setting of the surface, letting the loaf expand before the sugars brown.",
        ]
    ),
]
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@cache
def _smollm2_checkpoint():
    return open_checkpoint(fetch("smollm2"))


@cache
def _hf_smollm2():
    path = fetch("smollm2")
    return transformers.AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32
    ).eval()


def _encode(text: str) -> list[int]:
    return _smollm2_checkpoint().tokenizer.encode(text)


def _reference(kind: str, ids: list[int], compute) -> dict[str, torch.Tensor]:
    """transformers' outputs for ``ids``, computed once and cached (loading the GGUF in HF is slow)."""
    key = hashlib.sha256(repr((kind, ids, transformers.__version__)).encode()).hexdigest()[:24]
    path = cache_dir() / "test_model" / f"smollm2-{kind}-{key}.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    with torch.no_grad():
        value = compute(_hf_smollm2(), torch.tensor([ids]))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(value, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)
    return value


def _hf_logits(hf, x):
    out = hf(x, output_hidden_states=True)
    return {"logits": out.logits[0], "hidden": torch.stack(out.hidden_states)[:, 0]}


@pytest.fixture(scope="module")
def smollm2() -> Transformer:
    return Transformer.from_checkpoint(_smollm2_checkpoint())


@pytest.mark.slow
def test_smollm2_matches_transformers(smollm2: Transformer) -> None:
    lengths = []
    for text in PROMPTS:
        ids = _encode(text)
        lengths.append(len(ids))
        ref = _reference("logits", ids, _hf_logits)
        with torch.no_grad():
            out = smollm2(torch.tensor([ids]), output_hidden=True)
        assert _maxdiff(out.logits[0], ref["logits"]) <= TOL
        assert _reldiff(torch.stack(out.hidden_states)[:, 0], ref["hidden"]) <= REL_TOL
    assert max(lengths) >= 256


@pytest.mark.slow
def test_smollm2_padded_batch_equals_each_prompt_alone(smollm2: Transformer) -> None:
    rows = [_encode(t) for t in PROMPTS]
    width = max(map(len, rows))
    with torch.no_grad():
        alone = [smollm2(torch.tensor([ids]), output_mlp=True) for ids in rows]
    for side in ("left", "right"):
        tokens = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for i, ids in enumerate(rows):
            cols = slice(width - len(ids), width) if side == "left" else slice(0, len(ids))
            tokens[i, cols], mask[i, cols] = torch.tensor(ids), 1
        with torch.no_grad():
            batch = smollm2(tokens, attention_mask=mask, output_mlp=True)
        assert torch.isfinite(batch.logits).all()
        for i, one in enumerate(alone):
            real = mask[i].bool()
            assert _maxdiff(batch.logits[i, real], one.logits[0]) <= TOL
            for ours_a, ref_a in zip(batch.mlp_activations, one.mlp_activations, strict=True):
                assert _reldiff(ours_a[i, real], ref_a[0]) <= REL_TOL


@pytest.mark.slow
def test_smollm2_bfloat16_close_to_float32(smollm2: Transformer) -> None:
    """Measured on the 313-token prompt: top-1 agreement 0.962, max |delta logit| 1.25 (logits reach ~39);
    the short prompts agree on every top-1 with max |delta| 0.68-0.77. Bounds leave room for other CPUs'
    bfloat16 kernels."""
    bf16 = Transformer.from_checkpoint(_smollm2_checkpoint(), dtype=torch.bfloat16)
    assert bf16.model.embed_tokens.weight.dtype == torch.bfloat16
    ids = torch.tensor([_encode(PROMPTS[2])])
    with torch.no_grad():
        ref = smollm2(ids).logits[0]
        out = bf16(ids).logits[0]
    assert out.dtype == torch.bfloat16
    agree = (out.float().argmax(-1) == ref.argmax(-1)).float().mean().item()
    assert agree >= 0.9
    assert _maxdiff(out, ref) <= 2.5


def _hf_generate(hf, x):
    return {"ids": hf.generate(x, max_new_tokens=24, do_sample=False)[0, x.shape[1] :]}


@pytest.mark.slow
def test_smollm2_answers_capital_of_france(smollm2: Transformer) -> None:
    tok = _smollm2_checkpoint().tokenizer
    ids = tok.encode(tok.apply_chat_template(QUESTION), add_bos=False)
    new = greedy_generate(smollm2, ids, 24, eos_id=tok.token_to_id("<|im_end|>"))
    assert "Paris" in tok.decode(new)
    ref = _reference("generate", ids, _hf_generate)["ids"].tolist()
    assert new == ref[: len(new)]  # the same greedy path as transformers' generate


# -- opt-in real models -------------------------------------------------------------------------


@pytest.mark.optin("large download")
def test_gemma3_forward_is_unsupported() -> None:
    with open_checkpoint(fetch("gemma3")) as ckpt, pytest.raises(UnsupportedError, match="gemma3"):
        Transformer.from_checkpoint(ckpt)


@pytest.mark.optin("large download")
@pytest.mark.slow
def test_qwen25_coder_matches_transformers_and_writes_code() -> None:
    path = fetch("qwen2.5-coder")
    with open_checkpoint(path) as ckpt:
        ours = Transformer.from_checkpoint(ckpt)
        tok = ckpt.tokenizer
    assert ours.args.arch == "qwen2" and ours.args.qkv_bias
    ids = torch.tensor([tok.encode(PROMPTS[1])])
    hf = transformers.AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32
    )
    with torch.no_grad():
        assert _maxdiff(ours(ids).logits, hf(ids).logits) <= TOL
    del hf
    chat = [{"role": "user", "content": "Write a Python function that returns the sum of two numbers."}]
    prompt = tok.encode(tok.apply_chat_template(chat), add_bos=False)
    text = tok.decode(greedy_generate(ours, prompt, 40, eos_id=tok.token_to_id("<|im_end|>")))
    assert "def " in text and "return" in text


def test_stories260k_from_llama2c_matches_transformers() -> None:
    """The real llama2.c model (Meta-interleaved rotary on disk) runs like transformers on the same weights."""
    from tests.models import stories260k

    path = stories260k() or pytest.skip("../shared (stories260K) absent")
    with open_checkpoint(path) as ckpt:
        args = ckpt.args
        state = dict(ckpt.items())
        ours = Transformer.from_checkpoint(ckpt).eval()
    cfg = transformers.LlamaConfig(**{k: v for k, v in args.to_hf_config().items() if k != "architectures"})
    ref = transformers.LlamaForCausalLM(cfg).eval()
    ref.load_state_dict(state, strict=False)
    if args.tie_embeddings:
        ref.tie_weights()
    tokens = torch.randint(0, args.vocab_size, (2, 96), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        delta = (ours(tokens).logits - ref(tokens).logits).abs().max().item()
    assert delta <= TOL, delta


def test_devices_are_checked_before_any_work() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    for bad in ("tpu", "meta", "cuda:x"):
        with pytest.raises(ProvenanceError, match="device"):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(ProvenanceError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_unknown_rope_scaling_is_kept_and_refused_by_name() -> None:
    """A config's YaRN scaling survives reading (it used to be dropped, so the model ran with wrong
    positions); the engine then refuses it by name instead of computing something else."""
    cfg = {**CONFIGS["llama2-gqa"].to_hf_config(), "rope_scaling": {"rope_type": "yarn", "factor": 4.0,
                                                                    "original_max_position_embeddings": 4096}}
    args = ModelArgs.from_hf_config(cfg)
    assert args.rope_scaling is not None and args.rope_scaling.rope_type == "yarn"
    assert args.rope_scaling.original_max_position_embeddings == 4096
    with pytest.raises(UnsupportedError, match="'yarn' is not supported"):
        Transformer(args)
    linear = ModelArgs.from_hf_config({**cfg, "rope_scaling": {"type": "linear", "factor": 2.0}})
    assert linear.rope_scaling is not None and (linear.rope_scaling.rope_type, linear.rope_scaling.factor) == ("linear", 2.0)
