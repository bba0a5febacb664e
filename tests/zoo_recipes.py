"""How each test-zoo model is made (the registry's cache, API and CLI live in ``tests/zoo.py``).

Each ``make_*`` function receives a :class:`tests.zoo.Build` (entry, scratch folder, result dict),
writes the model files and records what it measured: losses before/after training, the relative
weight change from the parent, and for function-preserving transforms the max |logit difference|.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from provenance.checkpoint import open_checkpoint
from provenance.checkpoint.base import layer_name
from provenance.engine.model import Transformer
from provenance.modelargs import ModelArgs
from tests import zoo_data as data
from tests import zoo_transforms as T
from tests.exporters import save_gguf, save_meta
from tests.models import fetch

if TYPE_CHECKING:
    from tests.zoo import Build, Entry

SMOL_BATCH = {"batch": 2, "seq": 64}  # one AdamW step of SmolLM2: 1.2 s on 2 idle cores, 2.3 s on 1
TINY_BATCH = {"batch": 16, "seq": 128}
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _train(b: Build, model: torch.nn.Module, **kw: Any) -> None:
    p = b.p
    b.result["data"] = data.stream(p["data"]).describe()
    b.result.update(data.train(model, data.stream(p["data"]), steps=p["steps"], lr=p["lr"], seed=p["seed"],
                               batch=p["batch"], seq=p["seq"], weight_decay=p.get("weight_decay", 0.0),
                               warmup=p.get("warmup", 0), **kw))


def _check_function(b: Build, before: tuple[T.State, ModelArgs], after: tuple[T.State, ModelArgs]) -> None:
    ref = b.entry.reference
    delta = data.max_logit_delta(before, after, ref)
    b.result["max_abs_logit_delta"] = delta
    if not delta <= data.FUNCTION_TOL[ref]:
        raise AssertionError(f"{b.entry.name}: logits moved by {delta:.3g} > {data.FUNCTION_TOL[ref]}")


# -- makers -------------------------------------------------------------------------------------

def make_format(b: Build) -> None:
    """The parent's weights unchanged, written as an HF safetensors folder."""
    with open_checkpoint(data.base_path(b.entry.parents[0])) as ck:
        state, args = dict(ck.items()), ck.args
    b.save(state, args)
    with open_checkpoint(b.dir) as back:
        _check_function(b, (state, args), (dict(back.items()), back.args))


def make_finetune(b: Build) -> None:
    """Full-parameter AdamW from the parent, or from a seeded random init when there is none."""
    p = b.p
    if b.entry.parents:
        state, args = b.parent()
        model = data.engine(state, args)
    else:
        args = data.args_of(b.entry.reference)
        torch.manual_seed(p["init_seed"])
        model, state = Transformer(args), None
    teacher = data.engine(*data.load(p["distill_from"])) if "distill_from" in p else None
    if p["steps"]:
        _train(b, model, teacher=teacher)
    else:
        b.result["eval_loss"] = data.eval_loss(model, data.stream(p["data"]), 4, p["seq"])
    after = data.state_of(model)
    if state is not None:
        b.result["rel_weight_change"] = T.rel_change(state, after)
    b.save(after, args)


def make_lora(b: Build) -> None:
    """Train LoRA pairs on the frozen parent; write a PEFT adapter folder declaring its base."""
    p = b.p
    state, args = b.parent()
    model = data.engine(state, args)
    gen = _gen(p["seed"])
    pairs: dict[str, tuple[torch.nn.Parameter, torch.nn.Parameter]] = {}
    for name in state:
        module = name.removesuffix(".weight")
        if module.rsplit(".", 1)[-1] in LORA_TARGETS:
            w = state[name]
            bound = 1 / w.shape[1] ** 0.5  # PEFT's kaiming-uniform A; B starts at zero
            a = torch.nn.Parameter((torch.rand(p["r"], w.shape[1], generator=gen) * 2 - 1) * bound)
            pairs[name] = (a, torch.nn.Parameter(torch.zeros(w.shape[0], p["r"])))
    attach_lora(model, pairs, p["alpha"] / p["r"])
    _train(b, model, params=[t for pair in pairs.values() for t in pair])
    from safetensors.torch import save_file

    tensors = {}
    for name, (a, bb) in pairs.items():
        module = name.removesuffix(".weight")
        tensors[f"base_model.model.{module}.lora_A.weight"] = a.detach().clone()
        tensors[f"base_model.model.{module}.lora_B.weight"] = bb.detach().clone()
    save_file(tensors, str(b.dir / "adapter_model.safetensors"), {"format": "pt"})
    config = {"base_model_name_or_path": p["base_model"], "bias": "none", "fan_in_fan_out": False,
              "inference_mode": True, "lora_alpha": p["alpha"], "lora_dropout": 0.0, "peft_type": "LORA",
              "r": p["r"], "target_modules": list(LORA_TARGETS), "task_type": "CAUSAL_LM"}
    (b.dir / "adapter_config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def attach_lora(model: torch.nn.Module, pairs: dict[str, tuple[torch.Tensor, torch.Tensor]], scale: float) -> None:
    """Add ``scale * B A x`` to the output of each linear named in ``pairs`` (unmerged LoRA)."""
    for name, (a, bb) in pairs.items():
        module = model.get_submodule(name.removesuffix(".weight"))
        module.register_forward_hook(lambda m, inp, out, a=a, bb=bb: out + scale * F.linear(F.linear(inp[0], a), bb))


def read_adapter(folder: Path) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], float]:
    """LoRA pairs by canonical weight name, and the merge scale alpha / r, from a PEFT folder we wrote."""
    from safetensors.torch import load_file

    config = json.loads((folder / "adapter_config.json").read_text())
    raw = load_file(str(folder / "adapter_model.safetensors"))
    pairs = {}
    for key, a in raw.items():
        if key.endswith(".lora_A.weight"):
            module = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
            pairs[f"{module}.weight"] = (a, raw[key.replace("lora_A", "lora_B")])
    return pairs, config["lora_alpha"] / config["r"]


def make_lora_merged(b: Build) -> None:
    """Merge the adapter into its base: ``W + (alpha / r) B A``; logits must match the unmerged pair."""
    state, args = b.parent(0)
    pairs, scale = read_adapter(data.zoo_dir() / b.entry.parents[1])
    merged = T.lora_merge(state, pairs, scale)
    unmerged = data.engine(state, args)
    attach_lora(unmerged, pairs, scale)
    x = data.probe(b.entry.reference)
    with torch.no_grad():
        delta = unmerged(x).logits - data.logits(merged, args, x)
    b.result["max_abs_logit_delta_vs_unmerged"] = float(delta.abs().max())
    b.result["rel_weight_change"] = T.rel_change(state, merged)
    b.save(merged, args)


def make_gguf(b: Build) -> None:
    """Quantize every matrix to ``qtype`` in a llama.cpp-layout GGUF (SmolLM2's tokenizer and general.*
    metadata kept), then read it back with our loader and compare."""
    state, args = b.parent()
    path = b.dir / b.entry.file
    with open_checkpoint(fetch(data.SMOL)) as src:
        tokenizer_kv = {k: v for k, v in src.header.items() if k.startswith("tokenizer.")}
        save_gguf(state, path, b.p["qtype"], args, metadata=src.metadata, tokenizer_kv=tokenizer_kv)
    with open_checkpoint(path) as ck:
        back = dict(ck.items())
    b.result["rel_weight_error"] = T.rel_change(state, back)
    x = data.probe(b.entry.reference)
    la, lb = data.logits(state, args, x), data.logits(back, args, x)
    b.result["max_abs_logit_delta"] = float((la - lb).abs().max())
    b.result["top1_agreement"] = float((la.argmax(-1) == lb.argmax(-1)).float().mean())


def make_vocab_ext(b: Build) -> None:
    """Add the most useful code identifiers as whole tokens (rows = mean of their old pieces), train."""
    p = b.p
    state, args = b.parent()
    base = data.smol_tokenizer()
    docs = data.corpus("code")
    counts = Counter(w for d in docs for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]{5,}", d))
    pieces = {w: base.encode(w, add_bos=False) for w in counts}
    new = sorted((w for w in counts if len(pieces[w]) >= 3), key=lambda w: (-counts[w] * (len(pieces[w]) - 1), w))
    new = new[: p["new_tokens"]]
    tok = copy.deepcopy(data.hf_tokenizer())  # the cached one stays SmolLM2's
    tok.add_tokens(new)
    state, args = T.extend_vocab(state, args, [pieces[w] for w in new])
    if len(tok) != args.vocab_size:
        raise AssertionError(f"tokenizer has {len(tok)} tokens, model {args.vocab_size}")
    s = data.token_stream("code+new-tokens", docs, lambda t: tok.encode(t, add_special_tokens=False), 0)
    model = data.engine(state, args)
    b.result.update(data.train(model, s, steps=p["steps"], lr=p["lr"], seed=p["seed"], batch=p["batch"], seq=p["seq"]))
    b.result["new_tokens"] = new
    b.result["new_token_share_of_data"] = float((s.tokens >= args.vocab_size - len(new)).float().mean())
    b.result["data"] = s.describe()
    b.save(data.state_of(model), args, tokenizer=tok)


def make_pruned(b: Build) -> None:
    """Keep the MLP neurons with the largest mean |activation| x ||down column||, drop the layers whose
    output is most similar to their input (block influence), then heal with a few steps."""
    p = b.p
    state, args = b.parent()
    x = data.stream(p["data"]).batch(_gen(p["seed"]), 4, 64)
    with torch.no_grad():
        out = data.engine(state, args)(x, output_hidden=True, output_mlp=True)
    keep = {}
    for i, act in enumerate(out.mlp_activations):
        score = act.abs().mean((0, 1)) * state[layer_name(i, "mlp.down_proj.weight")].norm(dim=0)
        keep[i] = score.topk(p["hidden_dim"]).indices.sort().values
    h = out.hidden_states  # h[i] is the input of layer i; the last entry is normed, so skip the last layer
    influence = {i: float(1 - F.cosine_similarity(h[i], h[i + 1], dim=-1).mean()) for i in range(1, args.n_layers - 1)}
    drop = sorted(sorted(influence, key=lambda i: (influence[i], i))[: p["drop_layers"]])
    state, args = T.prune_mlp(state, args, keep)
    state, args = T.select_layers(state, args, [i for i in range(args.n_layers) if i not in drop])
    b.result["dropped_layers"] = drop
    model = data.engine(state, args)
    _train(b, model)
    b.save(data.state_of(model), args)


def make_upscaled(b: Build) -> None:
    """SOLAR depth up-scaling: layers [0, n - k) then [k, n) stacked, then a few healing steps."""
    p = b.p
    state, args = b.parent()
    n, k = args.n_layers, p["overlap_cut"]
    state, args = T.select_layers(state, args, list(range(n - k)) + list(range(k, n)))
    model = data.engine(state, args)
    if p["steps"]:
        _train(b, model)
    b.save(data.state_of(model), args)


def make_average(b: Build) -> None:
    states = [b.parent(i) for i in range(len(b.entry.parents))]
    merged = T.average([s for s, _ in states])
    base, _ = data.load(b.p["base"])
    b.result["rel_weight_change"] = T.rel_change(base, merged)
    b.save(merged, states[0][1])


def make_noise(b: Build) -> None:
    state, args = b.parent()
    noisy = T.add_noise(state, b.p["rel_std"], _gen(b.p["seed"]))
    b.result["rel_weight_change"] = T.rel_change(state, noisy)
    b.save(noisy, args)


def make_permuted(b: Build) -> None:
    state, args = b.parent()
    out = T.permute(state, args, _gen(b.p["seed"]))
    _check_function(b, (state, args), (out, args))
    b.result["rel_weight_change"] = T.rel_change(state, out)
    b.save(out, args)


def make_rotated(b: Build) -> None:
    state, args = b.parent()
    folded, fargs = T.fold_norms(state, args)
    rotated = T.rotate(folded, fargs, T.random_orthogonal(args.dim, _gen(b.p["seed"])))
    b.result["max_abs_logit_delta_fold_only"] = data.max_logit_delta((state, args), (folded, fargs), b.entry.reference)
    _check_function(b, (state, args), (rotated, fargs))
    b.result["rel_weight_change"] = T.rel_change(state, rotated)
    b.save(rotated, fargs)


def make_meta(b: Build) -> None:
    """Meta's format: params.json + model-parallel consolidated.NN.pth shards (Meta names, interleaved
    Q/K); read back with our loader, the logits must be unchanged."""
    state, args = b.parent()
    save_meta(state, b.dir, n_shards=b.p["shards"], args=args)
    with open_checkpoint(b.dir) as ck:
        _check_function(b, (state, args), (dict(ck.items()), ck.args))


# -- the registry -------------------------------------------------------------------------------

def recipes(entry: type[Entry]) -> list[Entry]:
    """All zoo entries, in build order (parents first)."""
    S, ST, H = data.SMOL, data.STORIES, "smol-hf"
    smol_ft = {**SMOL_BATCH, "warmup": 3}
    tiny = {**TINY_BATCH, "warmup": 20, "threads": 1}
    return [
        entry("smol-hf", "derived", S, (S,), "SmolLM2 Q4_1 GGUF dequantized to an F32 HF safetensors folder",
              make_format, {"function_preserving": True}),
        entry("smol-ft-light", "derived", S, (H,), "light SFT: 15 AdamW steps, lr 2e-5, chat data",
              make_finetune, {**smol_ft, "data": "chat", "steps": 15, "lr": 2e-5, "seed": 1}),
        entry("smol-ft-heavy", "derived", S, (H,), "heavy SFT: 40 AdamW steps, lr 1e-3, wd 0.1, chat data",
              make_finetune, {**smol_ft, "data": "chat", "steps": 40, "lr": 1e-3, "seed": 2, "weight_decay": 0.1}),
        entry("smol-cpt", "derived", S, (H,), "continued pretraining: 30 steps, lr 1e-4, Python source code",
              make_finetune, {**smol_ft, "data": "code", "steps": 30, "lr": 1e-4, "seed": 3}),
        entry("smol-lora", "derived", S, (H,), "PEFT LoRA adapter (r 8, alpha 16, all linears), 20 steps lr 1e-3",
              make_lora, {**smol_ft, "data": "chat", "steps": 20, "lr": 1e-3, "seed": 4, "r": 8, "alpha": 16,
                          "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct"}),
        entry("smol-lora-merged", "derived", S, (H, "smol-lora"), "smol-lora merged into SmolLM2",
              make_lora_merged),
        entry("smol-q8_0", "derived", S, (H,), "GGUF round trip, every matrix Q8_0", make_gguf,
              {"qtype": "Q8_0"}, file="smol-q8_0.gguf"),
        entry("smol-q4_0", "derived", S, (H,), "GGUF round trip, every matrix Q4_0", make_gguf,
              {"qtype": "Q4_0"}, file="smol-q4_0.gguf"),
        entry("smol-vocab-ext", "derived", S, (H,), "+64 code-identifier tokens (mean-of-pieces rows), 10 steps",
              make_vocab_ext, {**SMOL_BATCH, "new_tokens": 64, "steps": 10, "lr": 1e-4, "seed": 5}),
        entry("smol-pruned", "derived", S, (H,), "MLP 1536->1024, 2 layers dropped, 15 healing steps",
              make_pruned, {**smol_ft, "data": "docs", "hidden_dim": 1024, "drop_layers": 2, "steps": 15,
                            "lr": 1e-4, "seed": 6}),
        entry("smol-upscaled", "derived", S, (H,), "SOLAR depth up-scaling 30->48 layers, 4 healing steps",
              make_upscaled, {**smol_ft, "data": "docs", "overlap_cut": 6, "steps": 4, "lr": 5e-5, "seed": 7}),
        entry("smol-avg", "derived", S, ("smol-ft-heavy", "smol-cpt"), "uniform average of two fine-tunes",
              make_average, {"base": H}),
        entry("smol-noise", "derived", S, (H,), "Gaussian noise, 0.1 x each tensor's std", make_noise,
              {"rel_std": 0.1, "seed": 8}),
        entry("smol-permuted", "derived", S, (H,), "residual/head/neuron permutation + reciprocal q/k, v/o, "
              "up/down rescaling", make_permuted, {"seed": 9, "function_preserving": True}),
        entry("smol-rotated", "derived", S, (H,), "RMSNorm gains folded, residual stream rotated by a random "
              "orthogonal matrix", make_rotated, {"seed": 10, "function_preserving": True}),
        entry("smol-meta", "derived", S, (H,), "Meta format, 2 model-parallel .pth shards (renamed, interleaved Q/K)",
              make_meta, {"shards": 2, "function_preserving": True}),
        entry("smol-random", "independent", S, (), "SmolLM2 config, fresh random init (std 0.02)",
              make_finetune, {**smol_ft, "data": "docs", "steps": 0, "lr": 0.0, "seed": 0, "init_seed": 11}),
        entry("smol-scratch", "independent", S, (), "SmolLM2 architecture trained from scratch: 40 steps lr 1e-3",
              make_finetune, {**SMOL_BATCH, "data": "docs+code", "steps": 40, "lr": 1e-3, "warmup": 10,
                              "seed": 12, "init_seed": 13}),
        entry("stories-hf", "derived", ST, (ST,), "stories260K llama2.c file as an HF safetensors folder",
              make_format, {"function_preserving": True}),
        entry("stories-ft", "derived", ST, (ST,), "stories260K fine-tuned on English byte text, 100 steps",
              make_finetune, {**tiny, "data": "docs-bytes", "steps": 100, "lr": 1e-3, "seed": 21}),
        entry("stories-permuted", "derived", ST, (ST,), "stories260K permuted and rescaled", make_permuted,
              {"seed": 22, "function_preserving": True}),
        entry("stories-rotated", "derived", ST, (ST,), "stories260K norms folded, residual rotated",
              make_rotated, {"seed": 23, "function_preserving": True}),
        entry("stories-indep-a", "independent", ST, (), "stories260K architecture from scratch on byte text, seed A",
              make_finetune, {**tiny, "data": "docs-bytes", "steps": 300, "lr": 3e-3, "seed": 24, "init_seed": 25}),
        entry("stories-indep-b", "independent", ST, (), "same data and recipe as stories-indep-a, seed B",
              make_finetune, {**tiny, "data": "docs-bytes", "steps": 300, "lr": 3e-3, "seed": 26, "init_seed": 27}),
        entry("stories-student", "independent", ST, (), "random init distilled (KL) from stories260K on its samples",
              make_finetune, {**tiny, "batch": 8, "seq": 255, "data": "stories-samples", "steps": 800, "lr": 3e-3,
                              "seed": 28, "init_seed": 29, "distill_from": ST}),
    ]
