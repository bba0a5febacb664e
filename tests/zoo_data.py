"""Model I/O, training data, training loops and sampling for the test zoo (see ``tests/zoo.py``).

No data set is available offline, so the text is the Python standard library this interpreter ships:
docstrings (turned into prose and into chat-formatted question/answer pairs) and source code. It is
real English and real code, deterministic for a given Python version, and its hash goes into every
zoo manifest. stories260K has no tokenizer file; its models train on its own samples or on the same
English text spelled as its byte tokens (ids 3..258, SentencePiece byte fallback).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from provenance.checkpoint import open_checkpoint
from provenance.checkpoint.base import from_state_dict
from provenance.engine.model import KVCache, Transformer
from provenance.modelargs import ModelArgs
from tests.models import cache_dir, fetch, stories260k

State = dict[str, torch.Tensor]
SMOL, STORIES = "smollm2", "stories260k"
OPTIN = ("qwen2.5-coder", "gemma3")  # real other families, large downloads: PROVENANCE_OPTIN=1
# Max |logit difference| a function-preserving transform may cause (float32 rounding), by reference.
# Measured: SmolLM2 (logits within about +-25) permuted <= 9.5e-5, folded <= 8.2e-5, folded + rotated
# <= 1.4e-4 (1 or 2 threads); stories260K 3.8e-5 / 2.5e-5 / 4.6e-5 (each manifest's result). ~7x margin.
FUNCTION_TOL = {SMOL: 1e-3, STORIES: 5e-4}

# Modules whose docstrings make the prose and chat data; another set whose source makes the code data.
DOC_MODULES = (
    "argparse", "calendar", "collections", "csv", "datetime", "difflib", "fractions", "functools",
    "heapq", "inspect", "ipaddress", "json", "logging", "pathlib", "pprint", "random", "shutil",
    "statistics", "string", "textwrap", "typing", "urllib.parse", "zipfile", "configparser", "enum",
)  # fmt: skip
CODE_MODULES = (
    "asyncio.tasks", "email.message", "http.client", "tarfile", "unittest.case", "smtplib", "ftplib",
    "dataclasses", "_pydecimal", "xml.etree.ElementTree",
)  # fmt: skip
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
QUESTIONS = ("What does `{}` do?", "Explain `{}` in Python.", "How do I use `{}`?", "Describe `{}`.")
BYTE_OFFSET = 3  # stories260K (SentencePiece, byte fallback): <unk>, <s>, </s>, then <0x00>..<0xFF>


def _source(module: str) -> tuple[str, str]:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"stdlib module {module} has no source file")
    return module, Path(spec.origin).read_text(encoding="utf-8")


def docstrings(modules: Sequence[str] = DOC_MODULES) -> list[tuple[str, str]]:
    """(qualified name, cleaned docstring) of every documented public module, class and function."""
    out: list[tuple[str, str]] = []
    for module, text in map(_source, modules):
        tree = ast.parse(text)
        doc = ast.get_docstring(tree)
        if doc:
            out.append((module, doc))

        def walk(node: ast.AST, prefix: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                    if child.name.startswith("_"):
                        continue
                    name = f"{prefix}.{child.name}"
                    d = ast.get_docstring(child)
                    if d and len(d) >= 40:
                        out.append((name, inspect.cleandoc(d)))
                    if isinstance(child, ast.ClassDef):
                        walk(child, name)

        walk(tree, module)
    return out


def corpus(kind: str) -> list[str]:
    """Documents of one kind: ``docs`` (docstring prose), ``chat`` (SmolLM2 chat turns asking about
    an API, answered by its docstring), ``code`` (module source)."""
    if kind == "docs":
        return [f"{name}\n\n{doc}\n" for name, doc in docstrings()]
    if kind == "chat":
        return [
            f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{QUESTIONS[i % len(QUESTIONS)].format(name)}"
            f"<|im_end|>\n<|im_start|>assistant\n{doc[:1200]}<|im_end|>\n"
            for i, (name, doc) in enumerate(docstrings())
            if "." in name
        ]
    if kind == "code":
        return [text for _, text in map(_source, CODE_MODULES)]
    raise ValueError(f"unknown corpus {kind!r}")


@dataclass
class Stream:
    """A token stream; the last ``holdout`` fraction is only ever used for evaluation. Windows start at
    multiples of ``align`` (a stream of fixed-length samples keeps every window at a sample's start)."""

    name: str
    tokens: torch.Tensor  # [N] long
    holdout: float = 0.1
    align: int = 1

    @property
    def split(self) -> int:
        return int(len(self.tokens) * (1 - self.holdout)) // self.align * self.align

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.tokens.to(torch.int32).numpy().tobytes()).hexdigest()

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "tokens": len(self.tokens), "sha256": self.sha256}

    def _windows(self, starts: list[int], t: int) -> torch.Tensor:
        return torch.stack([self.tokens[s : s + t + 1] for s in starts])

    def batch(self, gen: torch.Generator, b: int, t: int) -> torch.Tensor:
        """``b`` random training windows of ``t + 1`` tokens."""
        slots = (self.split - t - 2) // self.align + 1  # starts 0 .. split - t - 2 when align is 1
        return self._windows((torch.randint(0, slots, (b,), generator=gen) * self.align).tolist(), t)

    def eval_batch(self, b: int, t: int) -> torch.Tensor:
        """The first ``b`` disjoint windows of the held-out part (the same every time)."""
        step = -(-(t + 1) // self.align) * self.align
        if self.split + (b - 1) * step + t + 1 > len(self.tokens):
            raise ValueError(f"{self.name}: held-out part too short for {b} x {t + 1}")
        return self._windows([self.split + i * step for i in range(b)], t)


def token_stream(name: str, docs: Sequence[str], encode: Callable[[str], list[int]], eos: int) -> Stream:
    ids: list[int] = []
    for d in docs:
        ids.extend(encode(d))
        ids.append(eos)
    return Stream(name, torch.tensor(ids, dtype=torch.long))


@cache
def byte_stream(kind: str = "docs") -> Stream:
    """English text as stories260K byte tokens (one token per UTF-8 byte)."""
    data = "\n".join(corpus(kind)).encode("utf-8")
    return Stream(f"{kind}-bytes", torch.tensor(list(data), dtype=torch.long) + BYTE_OFFSET)


@torch.inference_mode()
def sample(model: Transformer, n: int, length: int, seed: int, bos: int, temperature: float = 1.0) -> torch.Tensor:
    """``n`` sequences of ``length`` tokens sampled from ``model`` after a BOS token [n, length]."""
    gen = torch.Generator().manual_seed(seed)
    cache_ = KVCache(model.args, n, length, torch.float32, torch.device("cpu"))
    tok = torch.full((n, 1), bos, dtype=torch.long)
    out = [tok]
    for _ in range(length - 1):
        logits = model(tok, cache=cache_).logits[:, -1].float() / temperature
        tok = torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)
        out.append(tok)
    return torch.cat(out, dim=1)


def _loss(model: torch.nn.Module, x: torch.Tensor, teacher: Transformer | None) -> torch.Tensor:
    logits = model(x[:, :-1]).logits
    if teacher is None:
        return F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten())
    with torch.no_grad():
        target = F.log_softmax(teacher(x[:, :-1]).logits, -1).flatten(0, 1)
    # Forward KL(teacher || student) per token: the student learns the full next-token distribution.
    return F.kl_div(F.log_softmax(logits, -1).flatten(0, 1), target, log_target=True, reduction="batchmean")


@torch.no_grad()
def eval_loss(model: torch.nn.Module, stream: Stream, b: int, t: int) -> float:
    """Mean next-token cross-entropy on the held-out windows."""
    x = stream.eval_batch(b, t)
    return float(F.cross_entropy(model(x[:, :-1]).logits.flatten(0, 1), x[:, 1:].flatten()))


def train(
    model: torch.nn.Module,
    stream: Stream,
    *,
    steps: int,
    lr: float,
    seed: int,
    batch: int,
    seq: int,
    params: Sequence[torch.nn.Parameter] | None = None,
    weight_decay: float = 0.0,
    warmup: int = 0,
    teacher: Transformer | None = None,
    eval_windows: int = 4,
) -> dict[str, float]:
    """AdamW on random windows of ``stream`` (cross-entropy, or distillation from ``teacher``).

    Returns held-out loss before and after, and the mean training loss of the first and last 5 steps.
    """
    params = list(params if params is not None else model.parameters())
    for p in params:
        p.requires_grad_(True)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay)
    before = eval_loss(model, stream, eval_windows, seq)
    losses: list[float] = []
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / max(warmup, 1))
        loss = _loss(model, stream.batch(gen, batch, seq), teacher)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
    for p in params:
        p.requires_grad_(False)
    k = min(5, len(losses))
    return {
        "eval_loss_before": before,
        "eval_loss_after": eval_loss(model, stream, eval_windows, seq),
        "train_loss_first": sum(losses[:k]) / max(k, 1),
        "train_loss_last": sum(losses[-k:]) / max(k, 1),
    }


# -- where models live, and how they are read and written ---------------------------------------

class ZooUnavailable(Exception):
    """The entry's source model is absent (../shared missing) or opt-in and not enabled."""


def zoo_dir() -> Path:
    d = cache_dir() / "zoo"
    d.mkdir(parents=True, exist_ok=True)
    return d


def base_path(name: str) -> Path:
    """The original file of a base model or an opt-in family (raises ZooUnavailable when absent)."""
    if name == STORIES:
        path = stories260k()
        if path is None:
            raise ZooUnavailable("stories260K needs ../shared/data/models/stories260K.bin, which is absent")
        return path
    if name in OPTIN and os.environ.get("PROVENANCE_OPTIN") != "1":
        raise ZooUnavailable(f"{name} is a large opt-in download: set PROVENANCE_OPTIN=1")
    return fetch(name)


def load(name: str) -> tuple[State, ModelArgs]:
    """Canonical float32 weights and args of a base (its original file) or a built zoo entry."""
    path = base_path(name) if name in (SMOL, STORIES) else zoo_dir() / name
    with open_checkpoint(path) as ck:
        assert ck.args is not None
        return dict(ck.items()), ck.args


def args_of(name: str) -> ModelArgs:
    """The architecture of a base model (headers only)."""
    with open_checkpoint(base_path(name)) as ck:
        assert ck.args is not None
        return ck.args


def engine(state: State, args: ModelArgs) -> Transformer:
    """Our forward pass over a copy of ``state`` (gradients off until :func:`train` turns them on)."""
    return Transformer.from_checkpoint(from_state_dict({k: v.clone() for k, v in state.items()}, args))


def state_of(model: torch.nn.Module) -> State:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@cache
def smol_tokenizer() -> Any:
    """SmolLM2's tokenizer as our product reads it from the GGUF."""
    with open_checkpoint(fetch(SMOL)) as ck:
        return ck.tokenizer


@cache
def hf_tokenizer() -> Any:
    """transformers' reading of the same GGUF tokenizer: it can grow a vocabulary and write tokenizer.json."""
    from transformers import AutoTokenizer

    path = fetch(SMOL)
    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


@cache
def stream(kind: str) -> Stream:
    """Token streams by name: SmolLM2-tokenized ``chat``/``docs``/``code``/``docs+code``, stories260K
    byte tokens ``docs-bytes``, or ``stories-samples`` (1024 samples of 256 tokens from stories260K)."""
    if kind == "docs-bytes":
        return byte_stream("docs")
    if kind == "stories-samples":
        return Stream(kind, sample(engine(*load(STORIES)), 1024, 256, seed=0, bos=1).flatten(), align=256)
    tok = smol_tokenizer()
    docs = [d for k in kind.split("+") for d in corpus(k)]
    return token_stream(kind, docs, lambda t: tok.encode(t, add_bos=False), tok.token_to_id("<|endoftext|>"))


def probe(reference: str) -> torch.Tensor:
    """Fixed real-text inputs for logit comparisons [2, 64]."""
    return stream("docs" if reference == SMOL else "docs-bytes").eval_batch(2, 63)


@torch.no_grad()
def logits(state: State, args: ModelArgs, tokens: torch.Tensor) -> torch.Tensor:
    return engine(state, args)(tokens).logits


def max_logit_delta(a: tuple[State, ModelArgs], b: tuple[State, ModelArgs], reference: str) -> float:
    """Max |logit difference| of two models on the reference's probe."""
    x = probe(reference)
    return float((logits(*a, x) - logits(*b, x)).abs().max())
