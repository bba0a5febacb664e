"""Behavioural evidence: next-token distributions on the canary set, compared through token strings.

Running (:func:`run_canaries`): every canary of :mod:`provenance.canaries` is tokenized with the
model's own tokenizer and run through :class:`provenance.model.Transformer` once, without sampling.
At each scored position the full next-token log-probability vector is mapped onto token *keys*
(surface bytes; ids sharing bytes are added), so models with different or extended vocabularies can
be compared. A live run keeps the whole distribution; a fingerprint keeps the top-k keys and the
log-probabilities of a seeded sample of keys (:meth:`ProbeResults.compact`).

Comparing (:func:`compare_behaviour`) uses four per-position statistics (:func:`position_stats`);
the verdict rests on one of them, the tail correlation, against a null measured on independent
models (constants below). Behaviour is reported apart from weights: a distilled student imitates
its teacher's behaviour with weights of its own, a heavily fine-tuned descendant keeps the weights
and may drift in behaviour (:func:`lineage_phrase` words the four combinations).

Entry points: :func:`behaviour_against` (a candidate checkpoint against reference fingerprints'
results, the audit path), :func:`run_canaries` + :func:`compare_behaviour` (two results).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy.stats import norm, rankdata

from provenance.canaries import (
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
from provenance.checkpoint.base import Checkpoint
from provenance.errors import ProvenanceError, UnsupportedError
from provenance.evidence import Evidence, Strength

if TYPE_CHECKING:
    from provenance.model import Transformer

Progress = Callable[[str, int, int], None]

#: Bytes of float32 logits one forward batch may produce ([B, T, V]); bounds peak memory.
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
            for i, lp in zip(self.topk[p], self.topk_logprobs[p]):
                j = column.get(self.keys[int(i)])
                if j is not None:
                    out[p, j] = lp
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
    from provenance.model import Transformer, resolve_device  # heavy import only when behaviour is measured

    if ckpt.args is None or not ckpt.args.runnable:
        arch = ckpt.args.arch if ckpt.args else "adapter"
        raise UnsupportedError(f"behavioural probes need a forward pass, unsupported for {arch!r}", ckpt.path)
    if dtype is None:
        dtype = torch.float32 if ckpt.n_params < 2_000_000_000 else torch.bfloat16
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


# -- comparing ----------------------------------------------------------------------------------

# -- calibration: every number that turns canary agreement into a verdict --------------------------
# Measured by ``python benchmarks/study_behaviour.py --optin`` (canaries v1; zoo of tests/zoo.py;
# references = the shipped fingerprints; score = mean deep-tail correlation, see position_stats):
#   text mode, SmolLM2 reference, descendants: ft-light 0.985, cpt 0.886, LoRA 0.868, Q8_0 0.999,
#     Q4_0 0.802, vocab-ext 0.955, upscaled 0.763, averaged 0.734, noise 0.744, permuted/rotated
#     1.000, heavy SFT (lr 1e-3) 0.505, pruned+healed 0.502 (the weakest);
#   text mode, independent pairs (8): random init 0.015, from scratch -0.001, Qwen2.5-Coder 0.200,
#     and with other references (scratch, Qwen) 0.011, -0.013, 0.208, 0.031, 0.209 (the strongest):
#     mean 0.083, std 0.103;
#   id mode, stories260K reference: fine-tuned 0.286, distilled student 0.205, permuted/rotated 1.000;
#     independent pairs (7, incl. two seeds on the same data): mean 0.001, std 0.004, max 0.009.
MIN_SHARED_KEYS = 32  # sampled keys both models know, for a position's tail correlation to count
MIN_POSITIONS = 16  # positions with a tail correlation, for a verdict other than inconclusive
#: Share of a position's sampled keys, least likely first, that the tail correlation uses. The upper
#: half of even a random sample holds tokens any competent model ranks alike; the lower half is where
#: the weights' idiosyncrasy dominates. Measured (SmolLM2 reference): Qwen2.5-Coder 0.355 -> 0.200,
#: heavy SFT 0.618 -> 0.505, pruned+healed 0.646 -> 0.502, 4-bit 0.883 -> 0.802 (all keys -> half).
DEEP_TAIL = 0.5
#: Null distribution of the score for independent models, per probing mode: Normal(mean, std), the
#: independent pairs above. Text canaries: capable language models agree on part of any text (Qwen
#: vs SmolLM2 0.20); id probes (a tokenizer-less reference's own greedy sequences) are idiosyncratic.
NULL = {"text": (0.083, 0.103), "ids": (0.001, 0.004)}
#: No null narrower than this is trusted: the id-mode spread (0.004) comes from 260K-parameter models
#: only. With it, "imitates" needs 0.15 in id mode (distilled student 0.205).
NULL_STD_FLOOR = 0.05
#: z at or above which behaviour "imitates" (text: score >= 0.39; weakest descendant 0.50, z = 4.1),
#: at or below which it is "independent" (text: <= 0.29; strongest independent 0.21, z = 1.2).
Z_IMITATES = 3.0
Z_INDEPENDENT = 2.0


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


def _js_bits(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float((kl_p + kl_q) / 2)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def position_stats(reference: ProbeResults, candidate: ProbeResults) -> dict[str, np.ndarray]:
    """Per aligned position (reference order): ``top1`` (same most likely key), ``overlap`` (share of
    the reference's top-k keys in the candidate's top-k), ``js`` (Jensen-Shannon divergence in bits
    between the two distributions coarsened to the reference's top-k keys + "everything else") and
    ``tail`` (Spearman correlation of the log-probabilities of the sampled keys in the reference's
    deep tail (the ``DEEP_TAIL`` least likely at that position), each model's per-key mean over
    positions removed first, so a shared unigram prior does not count as agreement).

    Positions are matched by name; keys by bytes. ``position`` lists the matched names.
    """
    cand_pos = {n: i for i, n in enumerate(candidate.positions)}
    ref_rows = [i for i, n in enumerate(reference.positions) if n in cand_pos]
    cand_rows = [cand_pos[reference.positions[i]] for i in ref_rows]
    k = reference.topk.shape[1]
    sample = [reference.keys[i] for i in reference.sample]
    ref_tail = reference.sample_logprobs[ref_rows].astype(np.float64)
    cand_tail = candidate.lookup(sample)[cand_rows]
    shared = np.isfinite(cand_tail).all(axis=0)  # keys the candidate knows at every position
    ref_tail, cand_tail = ref_tail[:, shared], cand_tail[:, shared]
    deep = ref_tail <= np.quantile(ref_tail, DEEP_TAIL, axis=1, keepdims=True) if ref_tail.size else ref_tail > 0
    ref_tail -= ref_tail.mean(axis=0) if len(ref_rows) else 0
    cand_tail -= cand_tail.mean(axis=0) if len(ref_rows) else 0
    top_keys = sorted({reference.keys[i] for i in reference.topk[ref_rows].ravel().tolist()})
    column = {key: j for j, key in enumerate(top_keys)}
    cand_top = candidate.lookup(top_keys)  # unknown (NaN) = below the candidate's top-k: "everything else"
    out: dict[str, list[float]] = {"top1": [], "overlap": [], "js": [], "tail": []}
    for r, c in zip(ref_rows, cand_rows):
        ref_keys = [reference.keys[i] for i in reference.topk[r]]
        cand_keys = {candidate.keys[i] for i in candidate.topk[c][:k]}
        out["top1"].append(float(ref_keys[0] == candidate.keys[candidate.topk[c][0]]))
        out["overlap"].append(len(cand_keys.intersection(ref_keys)) / k)
        p = np.exp(reference.topk_logprobs[r].astype(np.float64))
        q = np.exp(np.nan_to_num(cand_top[c, [column[key] for key in ref_keys]], nan=-np.inf))
        out["js"].append(_js_bits(np.append(p, max(0.0, 1 - p.sum())), np.append(q, max(0.0, 1 - q.sum()))))
    n_shared = int(shared.sum())
    for j in range(len(ref_rows)):
        d = deep[j]
        out["tail"].append(_spearman(ref_tail[j, d], cand_tail[j, d]) if n_shared >= MIN_SHARED_KEYS else float("nan"))
    stats = {key: np.array(v, dtype=np.float64) for key, v in out.items()}
    stats["n_shared"] = np.array([n_shared])
    stats["row"] = np.array(ref_rows, dtype=np.int64)
    return stats


@dataclass
class BehaviourResult:
    """How closely a candidate's behaviour follows a reference's, reported apart from weights.

    ``verdict``: ``imitates`` (agreement far above what independent models reach: a descendant or
    a distilled student; the weights tell which), ``independent`` (within the range of independent
    models) or ``inconclusive`` (between the two, or too little to compare: ``reason`` says).
    ``score`` is the mean tail correlation; ``z`` its distance from the null in null standard
    deviations and ``p_value`` the one-sided probability of reaching it independently.
    """

    reference: str
    verdict: str
    score: float | None
    z: float | None
    p_value: float | None
    top1: float | None
    overlap: float | None
    js: float | None
    n_positions: int
    n_shared_keys: int
    mode: str
    reason: str
    per_kind: dict[str, dict[str, float]] = field(default_factory=dict)
    per_position: list[dict[str, object]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return dict(vars(self))

    def to_evidence(self) -> Evidence:
        """As lineage evidence (``behaviour.agreement``)."""
        supports = {"imitates": "derived", "independent": "independent"}.get(self.verdict)
        if self.verdict == "inconclusive" or self.score is None:
            summary = f"behaviour vs {self.reference}: inconclusive ({self.reason})"
        else:
            summary = (
                f"behaviour {'imitates' if self.verdict == 'imitates' else 'is independent of'} {self.reference}: "
                f"tail agreement {self.score:.2f} (z = {self.z:.1f}), top-1 agreement {self.top1:.0%} "
                f"on {self.n_positions} canary positions"
            )
        details = {k: v for k, v in self.to_dict().items() if k != "per_position"}
        return Evidence("behaviour.agreement", "behaviour", Strength.STRONG, self.score, supports, summary, details)


def _mean(x: np.ndarray) -> float | None:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else None


def without_path(e: ProvenanceError) -> str:
    """An error's message without the path prefix (for results that must not depend on where files are)."""
    text = str(e)
    return text.removeprefix(f"{e.path}: ") if e.path else text


def _inconclusive(reference: str, mode: str, reason: str, n_pos: int = 0, n_shared: int = 0) -> BehaviourResult:
    return BehaviourResult(reference, "inconclusive", None, None, None, None, None, None, n_pos, n_shared, mode, reason)


def compare_behaviour(reference: ProbeResults, candidate: ProbeResults, reference_name: str = "reference") -> BehaviourResult:
    """Compare a candidate's canary results with a reference's (either may be compact)."""

    if reference.canary_version != candidate.canary_version or reference.mode != candidate.mode:
        return _inconclusive(
            reference_name, reference.mode, f"measured on different canaries ({reference.canary_version}/{reference.mode} vs "
            f"{candidate.canary_version}/{candidate.mode})"
        )
    st = position_stats(reference, candidate)
    n_shared = int(st["n_shared"][0])
    tail = st["tail"]
    valid = int(np.isfinite(tail).sum())
    if valid < MIN_POSITIONS:
        why = f"only {n_shared} sampled tokens shared" if n_shared < MIN_SHARED_KEYS else f"{valid} comparable positions"
        return _inconclusive(reference_name, reference.mode, why, valid, n_shared)
    score = _mean(tail)
    assert score is not None
    mean, std = NULL[reference.mode]
    z = (score - mean) / max(std, NULL_STD_FLOOR)
    verdict = "imitates" if z >= Z_IMITATES else "independent" if z <= Z_INDEPENDENT else "inconclusive"
    reason = {
        "imitates": f"agreement {z:.1f} null standard deviations above independent models",
        "independent": "agreement within the range of independent models",
        "inconclusive": f"agreement {z:.1f} null standard deviations above independent models: between thresholds",
    }[verdict]
    kinds = np.array([reference.kinds[r] for r in st["row"]])
    per_kind = {
        kind: {m: v for m in ("top1", "overlap", "js", "tail") if (v := _mean(st[m][kinds == kind])) is not None}
        for kind in dict.fromkeys(kinds.tolist())
    }
    per_position = [
        {"position": reference.positions[r], **{m: _finite(st[m][j]) for m in ("top1", "overlap", "js", "tail")}}
        for j, r in enumerate(st["row"].tolist())
    ]
    return BehaviourResult(
        reference_name, verdict, score, z, float(norm.sf(z)), _mean(st["top1"]), _mean(st["overlap"]),
        _mean(st["js"]), valid, n_shared, reference.mode, reason, per_kind, per_position,
    )


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


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
            out.append(_inconclusive(name, "text", "the reference fingerprint has no behavioural results"))
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
            out.append(_inconclusive(name, ref.mode, without_path(run)))
        else:
            out.append(compare_behaviour(ref, run, name))
    return out


def lineage_phrase(reference: str, weights_verdict: str | None, behaviour: BehaviourResult) -> str:
    """One sentence combining a weight verdict (derived/independent/inconclusive/None) with behaviour."""
    b = behaviour.verdict
    if weights_verdict == "derived":
        tail = {"imitates": "and its behaviour follows it", "independent": "but its behaviour has drifted away"}
        return f"weights derive from {reference} " + tail.get(b, "(behaviour inconclusive)")
    if weights_verdict == "independent":
        if b == "imitates":
            return f"behaviour imitates {reference}, weights independent (distilled from or trained on its outputs)"
        return f"independent of {reference}" + ("" if b == "independent" else " (behaviour inconclusive)")
    if b == "imitates":
        return f"behaviour imitates {reference} (weights not compared)"
    return f"behaviour {'is independent of' if b == 'independent' else 'inconclusive against'} {reference}"
