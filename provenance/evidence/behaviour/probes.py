"""Running the canaries: next-token distributions of one model, keyed by token strings.

Every canary of :mod:`provenance.evidence.behaviour.canaries` is tokenized with the model's own
tokenizer and run through :class:`provenance.engine.model.Transformer` once, without sampling. At
each scored position the full next-token log-probability vector is mapped onto token *keys*
(surface bytes; ids sharing bytes are added), so models with different or extended vocabularies can
be compared. A live run keeps the whole distribution; a fingerprint keeps the top-k keys and the
log-probabilities of a seeded sample of keys (:meth:`ProbeResults.compact`). The statistics are in
:mod:`provenance.evidence.behaviour.score`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from provenance.checkpoint.base import Checkpoint
from provenance.domain import Progress
from provenance.engine.device import probe_dtype, resolve_device
from provenance.engine.model import Transformer
from provenance.errors import UnsupportedError
from provenance.evidence.behaviour.canaries import (
    CanarySet,
    Probe,
    RenderedProbe,
    id_keys,
    id_starts,
    load_canaries,
    render,
    sample_keys,
    vocabulary_keys,
)

LOGIT_BUDGET = 1 << 28


@dataclass
class ProbeResults:
    """Next-token log-probabilities of one model on one canary set, indexed by scored position.

    ``keys`` is the key table (token surface bytes). ``topk``/``topk_logprobs`` [P, k] hold the k most
    likely keys per position (indices into ``keys``). ``sample`` [S] indexes the sampled keys and
    ``sample_logprobs`` [P, S] their log-probabilities. A live run also has ``full`` [P, len(keys)].
    ``positions`` names each scored position ``probe_id#j`` (j counts back from the end).
    """

    canary_version: str
    positions: list[str]
    kinds: list[str]
    keys: list[bytes]
    topk: np.ndarray
    topk_logprobs: np.ndarray
    sample: np.ndarray
    sample_logprobs: np.ndarray
    mode: str = "text"
    prompts: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.int32))
    full: np.ndarray | None = field(default=None, repr=False)

    def lookup(self, wanted: list[bytes]) -> np.ndarray:
        """Log-probabilities [P, len(wanted)] of ``wanted`` keys; NaN where this result does not know
        them (a compact result knows its top-k and its sample only; a full one every key it has,
        and -inf for keys its vocabulary lacks)."""
        index = {k: i for i, k in enumerate(self.keys)}
        column = {k: j for j, k in enumerate(wanted)}
        out = np.full((len(self.positions), len(wanted)), np.nan, dtype=np.float64)
        if self.full is not None:
            for j, k in enumerate(wanted):
                out[:, j] = self.full[:, index[k]] if k in index else -np.inf
            return out
        col = {int(s): j for j, s in enumerate(self.sample)}
        for j, k in enumerate(wanted):
            i = index.get(k)
            if i is not None and i in col:
                out[:, j] = self.sample_logprobs[:, col[i]]
        for p in range(len(self.positions)):
            for key, lp in zip(self.topk[p], self.topk_logprobs[p]):
                c = column.get(self.keys[int(key)])
                if c is not None:
                    out[p, c] = lp
        return out

    def compact(self) -> ProbeResults:
        """The stored form: key table reduced to the top-k and sampled keys, no full distribution."""
        used = sorted(set(self.topk.ravel().tolist()) | set(self.sample.tolist()), key=lambda i: self.keys[i])
        remap = np.full(len(self.keys), -1, dtype=np.int64)
        remap[used] = np.arange(len(used))
        return ProbeResults(
            self.canary_version,
            list(self.positions),
            list(self.kinds),
            [self.keys[i] for i in used],
            remap[self.topk].astype(np.int32),
            self.topk_logprobs.astype(np.float32),
            remap[self.sample].astype(np.int32),
            self.sample_logprobs.astype(np.float32),
            mode=self.mode,
            prompts=self.prompts,
        )


def _schedule(rendered: list[RenderedProbe]) -> tuple[list[tuple[int, ...]], list[tuple[int, int]]]:
    """Deduplicate prefixes: a probe whose ids start a longer probe's ids is read from that run
    (a causal model's output at position t depends only on tokens <= t).

    Returns the sequences to run and, per probe, (sequence index, length of the probe)."""
    order = sorted(range(len(rendered)), key=lambda i: -len(rendered[i].ids))
    seqs: list[tuple[int, ...]] = []
    where: dict[int, tuple[int, int]] = {}
    for i in order:
        ids = rendered[i].ids
        host = next((s for s, seq in enumerate(seqs) if seq[: len(ids)] == ids), None)
        if host is None:
            seqs.append(ids)
            host = len(seqs) - 1
        where[i] = (host, len(ids))
    return seqs, [where[i] for i in range(len(rendered))]


def _key_index(keys: list[bytes]) -> tuple[list[bytes], torch.Tensor]:
    """Unique keys (sorted) and, per token id, the index of its key."""
    uniq = sorted(set(keys))
    pos = {k: i for i, k in enumerate(uniq)}
    return uniq, torch.tensor([pos[k] for k in keys], dtype=torch.long)


def _to_keys(logprobs: torch.Tensor, key_of: torch.Tensor, n_keys: int) -> torch.Tensor:
    """Map [N, V] token log-probs to [N, n_keys] key log-probs (log of summed probabilities)."""
    peak = logprobs.max(dim=-1, keepdim=True).values
    probs = (logprobs - peak).double().exp()
    summed = torch.zeros(logprobs.shape[0], n_keys, dtype=torch.float64).index_add_(1, key_of, probs)
    return (summed.log() + peak.double()).float()


@torch.inference_mode()
def run_canaries(
    ckpt: Checkpoint,
    canaries: CanarySet | None = None,
    progress: Progress | None = None,
    dtype: torch.dtype | None = None,
    prompts: np.ndarray | None = None,
    device: str | torch.device = "cpu",
    model: Transformer | None = None,
) -> ProbeResults:
    """Run the canary set through ``ckpt``; full key log-probabilities at every scored position.

    Text mode (the model has a tokenizer): the canaries rendered by :func:`canaries.render`, keyed by
    surface bytes. Id mode (no tokenizer, or ``prompts`` given): ``prompts`` [N, L] of token ids, by
    default made by greedy continuation of seeded start tokens, keyed by id; scored at every
    position after the start token. Compare id-mode results only with the same ``prompts``.

    ``dtype`` defaults to float32 below 2B parameters and bfloat16 above (a 7B model in float32 does
    not fit a 24 GiB machine). ``device`` runs the engine there (``cuda``); results come back on the
    CPU. ``model``: the engine already built from ``ckpt`` by :func:`engine` (several runs share it;
    ``dtype`` and ``device`` are then ignored). Raises :class:`UnsupportedError` when the
    architecture cannot run.
    """
    cs = canaries or load_canaries()
    if model is None:
        model = engine(ckpt, dtype, device)
    vocab = model.args.vocab_size
    tok = ckpt.tokenizer if prompts is None else None
    if tok is not None:
        mode, rendered, token_keys = "text", render(cs, tok), vocabulary_keys(tok)[:vocab]
        # Rows beyond the tokenizer (padding) get an unmatchable key each.
        token_keys += [b"\xffunused:%d" % i for i in range(len(token_keys), vocab)]
        prompts = np.zeros((0, 0), dtype=np.int32)
    else:
        mode, token_keys = "ids", id_keys(vocab)
        if prompts is None:
            prompts = _greedy_prompts(model, cs)
        if prompts.size and (prompts.min() < 0 or prompts.max() >= vocab):
            raise UnsupportedError(f"id probes use ids up to {prompts.max()}, the model has {vocab}", ckpt.path)
        rendered = [
            RenderedProbe(Probe(f"ids/{n}", "ids", scored=prompts.shape[1] - 2), tuple(row[:-1].tolist()))
            for n, row in enumerate(prompts)
        ]
    keys, key_of = _key_index(token_keys)
    rows = _score(model, rendered, key_of, len(keys), progress)
    names = [f"{r.probe.id}#{j}" for r in rendered for j in reversed(range(r.probe.scored))]
    kinds = [r.probe.kind for r in rendered for _ in range(r.probe.scored)]
    full = torch.cat(rows).numpy()
    key_pos = {k: i for i, k in enumerate(keys)}
    sampled = np.array(sorted(key_pos[k] for k in sample_keys(cs, token_keys)), dtype=np.int32)
    top = np.argsort(-full, axis=1, kind="stable")[:, : cs.topk].astype(np.int32)
    return ProbeResults(
        cs.version, names, kinds, keys, top, np.take_along_axis(full, top, axis=1), sampled, full[:, sampled],
        mode=mode, prompts=prompts.astype(np.int32), full=full,
    )


def engine(ckpt: Checkpoint, dtype: torch.dtype | None = None, device: str | torch.device = "cpu") -> Transformer:
    """Our engine loaded with ``ckpt``'s weights for probing (see :func:`run_canaries` for ``dtype``)."""
    if ckpt.args is None or not ckpt.args.runnable:
        arch = ckpt.args.arch if ckpt.args else "adapter"
        raise UnsupportedError(f"behavioural probes need a forward pass, unsupported for {arch!r}", ckpt.path)
    if dtype is None:
        dtype = probe_dtype(ckpt.n_params)
    return Transformer.from_checkpoint(ckpt, dtype=dtype, device=resolve_device(device))


def _greedy_prompts(model: Transformer, cs: CanarySet) -> np.ndarray:
    """[N, L] id prompts: BOS (when declared), a seeded start id, then the model's greedy continuation.

    All prompts grow together, one batched forward per step (no padding: equal lengths)."""
    args = model.args
    bos = [args.bos_token_id] if args.bos_token_id is not None and 0 <= args.bos_token_id < args.vocab_size else []
    avoid = {i for i in (args.bos_token_id, args.eos_token_id) if i is not None}
    starts = [[*bos, s] for s in id_starts(cs, args.vocab_size, avoid)]
    tokens = torch.tensor(starts, dtype=torch.long, device=model.device)
    for _ in range(cs.ids_length):
        nxt = model(tokens).logits[:, -1].float().argmax(dim=-1, keepdim=True)
        tokens = torch.cat([tokens, nxt], dim=1)
    return tokens.cpu().numpy().astype(np.int32)


def _score(
    model: Transformer, rendered: list[RenderedProbe], key_of: torch.Tensor, n_keys: int, progress: Progress | None
) -> list[torch.Tensor]:
    """Key log-probabilities [scored, n_keys] per probe, running shared prefixes once, in batches."""
    seqs, where = _schedule(rendered)
    wanted: dict[int, set[int]] = {}
    for r, (s, n) in zip(rendered, where):
        wanted.setdefault(s, set()).update(range(n - r.probe.scored, n))
    vocab = model.args.vocab_size
    rows: dict[tuple[int, int], torch.Tensor] = {}
    order = sorted(range(len(seqs)), key=lambda s: len(seqs[s]))
    done = 0
    while done < len(order):
        batch = [order[done]]  # sequences sorted by length: the last of a batch is the widest
        while done + len(batch) < len(order):
            if (len(batch) + 1) * len(seqs[order[done + len(batch)]]) * vocab * 4 > LOGIT_BUDGET:
                break
            batch.append(order[done + len(batch)])
        width = len(seqs[batch[-1]])
        tokens = torch.zeros(len(batch), width, dtype=torch.long)
        mask = torch.zeros(len(batch), width, dtype=torch.long)
        for b, s in enumerate(batch):  # left padding: every sequence ends at the last column
            tokens[b, width - len(seqs[s]) :] = torch.tensor(seqs[s])
            mask[b, width - len(seqs[s]) :] = 1
        logits = model(tokens.to(model.device), attention_mask=mask.to(model.device)).logits
        for b, s in enumerate(batch):
            pos = sorted(wanted[s])
            lp = torch.log_softmax(logits[b, [width - len(seqs[s]) + t for t in pos]].float(), dim=-1).cpu()
            rows.update(((s, t), row) for t, row in zip(pos, _to_keys(lp, key_of, n_keys)))
        done += len(batch)
        if progress:
            progress("canaries", done, len(order))
    return [torch.stack([rows[(s, t)] for t in range(n - r.probe.scored, n)]) for r, (s, n) in zip(rendered, where)]


def candidate_results(
    ckpt: Checkpoint,
    reference: ProbeResults,
    progress: Progress | None = None,
    device: str | torch.device = "cpu",
    model: Transformer | None = None,
) -> ProbeResults:
    """Run ``ckpt`` the way ``reference`` was measured (same canary version; same id prompts in id mode).

    ``model``: an engine already built from ``ckpt`` (see :func:`run_canaries`)."""
    cs = load_canaries(reference.canary_version)
    if reference.mode == "ids":
        return run_canaries(ckpt, cs, progress=progress, prompts=reference.prompts, device=device, model=model)
    if ckpt.tokenizer is None:
        raise UnsupportedError("the reference was probed with text; this model has no tokenizer", ckpt.path)
    return run_canaries(ckpt, cs, progress=progress, device=device, model=model)
