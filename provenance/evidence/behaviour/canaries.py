"""Versioned canary prompts: the fixed inputs on which behavioural fingerprints are measured.

A canary set is frozen once published: ``provenance/data/canaries-<version>.json`` is pinned by its
sha256 in :data:`CANARY_SETS`, so fingerprints made by different versions of the tool stay comparable
(a fingerprint records the canary version it was measured on). Changing a prompt means a new version.

Each model renders the set with its *own* tokenizer and chat template; models are later compared
through token *surface bytes* (see :func:`vocabulary_keys`), never token ids, so a descendant with an
extended or re-numbered vocabulary still lines up with its parent. Five kinds of probe, each for a
reason:

``text``
    Short natural-language prefixes written for this project across domains (science, law, code,
    children's stories, French, Chinese, ...), each cut at three word boundaries. The next-token
    distribution after ordinary text carries the bulk of what a model learned; its *tail* (how the
    model ranks thousands of unlikely tokens) is idiosyncratic to the weights and survives
    fine-tuning, while two independently trained models agree only on the head.
``identity``
    "I was trained by", "My name is", ... Creators teach their models a name and a maker; a
    fine-tune usually keeps the answer and a distilled student copies it.
``knowledge``
    Creator-specific knowledge and shared quirks (who makes which model family, letter counting,
    arithmetic): errors are inherited, correct answers are not evidence of anything.
``chat``
    Questions rendered with the model's own chat template (plain ``User:/Assistant:`` text when it
    has none), optionally with the start of an answer. Instruction tuning and the system prompt a
    template injects shape these distributions; a descendant of an instruct model keeps them.
``random``
    Sequences of tokens drawn deterministically from the model's own vocabulary (by a seeded hash of
    each token's bytes, so models sharing a vocabulary draw the same sequence). Out-of-distribution
    inputs have no "right" continuation, so agreement there is the hardest thing to reach without
    sharing weights: independent models trained on the same data still diverge.
``ids``
    Only for checkpoints without a tokenizer (llama2.c exports): no text can be rendered, so the
    reference's own greedy continuations of seeded start ids are the probes, keyed by id. They are
    in-distribution for the reference, which is where a student distilled from its outputs learned
    to agree with it; a candidate is run on the very same ids (stored in the fingerprint).

The set also fixes ``topk`` (keys kept per position) and the seeded sample of ``sample.size`` keys
whose log-probabilities are kept (bottom-k min-hash of key bytes, see :func:`sample_keys`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from provenance.errors import FormatError
from provenance.tokenizer.chat import TemplateRefused

if TYPE_CHECKING:
    from provenance.tokenizer.vocab import Tokenizer

#: Published canary sets and the sha256 of their JSON file (edits need a new version).
CANARY_SETS = {"v1": "b394e468e5ef3e2aeed151da03462d320d2c349809cf48ab09d1be39c611b2c6"}
CANARY_VERSION = "v1"

#: Prefix of the key of a special/control token: such tokens have no surface text, so they are named
#: by their token string (0xff never occurs in UTF-8, so no ordinary token's bytes start with it).
SPECIAL_PREFIX = b"\xffspecial:"

#: Prefix of the key of a token known only by its id (no tokenizer): comparable only in id space.
ID_PREFIX = b"\xffid:"

KINDS = ("text", "identity", "knowledge", "chat", "random", "ids")


@dataclass(frozen=True)
class Probe:
    """One canary input, before tokenization.

    ``text`` is the prompt for text/identity/knowledge probes, the user message for chat probes (with
    ``prefix``, the start of the assistant's answer), and unused for random probes (``index`` is the
    sequence number). ``scored`` trailing positions get their next-token distribution recorded.
    """

    id: str
    kind: str
    text: str = ""
    prefix: str = ""
    index: int = 0
    scored: int = 1


@dataclass(frozen=True)
class CanarySet:
    """A versioned set of probes plus the seeds that make the model-specific parts deterministic."""

    version: str
    topk: int
    sample_seed: str
    sample_size: int
    random_seed: str
    random_length: int
    ids_seed: str
    ids_starts: int
    ids_length: int
    probes: tuple[Probe, ...]

    @property
    def n_positions(self) -> int:
        return sum(p.scored for p in self.probes)


@dataclass(frozen=True)
class RenderedProbe:
    """A probe tokenized for one model: the token ids to run and how many trailing positions to score."""

    probe: Probe
    ids: tuple[int, ...]


def load_canaries(version: str = CANARY_VERSION) -> CanarySet:
    """Load and verify a published canary set."""
    if version not in CANARY_SETS:
        raise FormatError(f"unknown canary set {version!r} (known: {', '.join(CANARY_SETS)})")
    raw = resources.files("provenance").joinpath("data", f"canaries-{version}.json").read_bytes()
    if hashlib.sha256(raw).hexdigest() != CANARY_SETS[version]:
        raise FormatError(f"canary set {version} was modified; publish changes as a new version")
    return _parse(json.loads(raw))


def _parse(d: dict[str, Any]) -> CanarySet:
    probes: list[Probe] = []
    cuts = int(d["text_cuts"])
    for item in d["text"]:
        for j, prefix in enumerate(_cut(item["text"], cuts), start=1):
            probes.append(Probe(f"text/{item['id']}@{j}", "text", text=prefix))
    for kind in ("identity", "knowledge"):
        probes += [Probe(f"{kind}/{item['id']}", kind, text=item["text"]) for item in d[kind]]
    probes += [Probe(f"chat/{i['id']}", "chat", text=i["user"], prefix=i["prefix"]) for i in d["chat"]]
    rnd = d["random"]
    probes += [
        Probe(f"random/{i}", "random", index=i, scored=int(rnd["score_last"])) for i in range(int(rnd["sequences"]))
    ]
    return CanarySet(
        version=str(d["version"]),
        topk=int(d["topk"]),
        sample_seed=str(d["sample"]["seed"]),
        sample_size=int(d["sample"]["size"]),
        random_seed=str(rnd["seed"]),
        random_length=int(rnd["length"]),
        ids_seed=str(d["ids"]["seed"]),
        ids_starts=int(d["ids"]["starts"]),
        ids_length=int(d["ids"]["length"]),
        probes=tuple(probes),
    )


def _cut(text: str, n: int) -> list[str]:
    """``n`` prefixes of ``text`` ending at evenly spaced word boundaries (the last is the whole text).

    A prefix stops just before a space, so the next token starts a new word in every tokenizer.
    Text without spaces (Chinese) is cut between characters.
    """
    bounds = [i for i, c in enumerate(text) if c == " "] or list(range(1, len(text)))
    picks = [bounds[(len(bounds) * j) // n] for j in range(1, n)]
    return [text[:b] for b in picks] + [text]


# -- vocabulary keys ---------------------------------------------------------------------------


def vocabulary_keys(tok: Tokenizer) -> list[bytes]:
    """The comparison key of every token id: its surface bytes, or a tagged name for special tokens.

    Several ids may share a key (SentencePiece byte-fallback ``<0x41>`` and ``A``); their
    probabilities are added when a distribution is mapped onto keys.
    """
    keys = []
    for i, s in enumerate(tok.tokens):
        surface = tok.token_bytes(i)
        keys.append(surface if surface else SPECIAL_PREFIX + s.encode("utf-8", "surrogatepass"))
    return keys


def id_keys(n: int) -> list[bytes]:
    """Keys of a vocabulary known only by size (a checkpoint without tokenizer): the ids themselves."""
    return [ID_PREFIX + b"%d" % i for i in range(n)]


def key_hashes(keys: list[bytes], seed: str) -> np.ndarray:
    """A seeded 64-bit hash of each key (uint64): the same key gets the same hash in every vocabulary."""
    salt = seed.encode("utf-8")
    return np.array(
        [int.from_bytes(hashlib.blake2b(k, digest_size=8, key=salt[:64]).digest(), "little") for k in keys],
        dtype=np.uint64,
    )


def ordinary(keys: list[bytes]) -> np.ndarray:
    """Mask of keys that are real text (not special tokens, not empty)."""
    return np.array([bool(k) and not k.startswith(SPECIAL_PREFIX) for k in keys], dtype=bool)


def sample_keys(canaries: CanarySet, keys: list[bytes]) -> list[bytes]:
    """The ``sample_size`` ordinary keys with the smallest seeded hash (bottom-k min-hash).

    Two vocabularies that share most keys share most of their samples, so tail statistics of a model
    and its vocabulary-extended descendant are measured on (nearly) the same tokens.
    """
    uniq = sorted({k for k, ok in zip(keys, ordinary(keys)) if ok})
    h = key_hashes(uniq, canaries.sample_seed)
    return [uniq[i] for i in np.argsort(h, kind="stable")[: canaries.sample_size].tolist()]


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finalizer, vectorised (uint64 arithmetic wraps)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def random_sequences(canaries: CanarySet, keys: list[bytes], count: int) -> list[list[int]]:
    """Token ids of the first ``count`` random sequences: each position takes the ordinary token whose
    salted key hash is smallest (a min-hash draw), so vocabularies sharing keys draw the same tokens."""
    ids = np.flatnonzero(ordinary(keys))
    h = key_hashes([keys[i] for i in ids], canaries.random_seed)
    out = []
    for index in range(count):
        salts = _splitmix(np.array([(index << 32) | pos for pos in range(canaries.random_length)], dtype=np.uint64))
        out.append([int(ids[int(np.argmin(_splitmix(h ^ salt)))]) for salt in salts])
    return out


def id_starts(canaries: CanarySet, vocab_size: int, avoid: set[int]) -> list[int]:
    """First tokens of the id-space probes of a model without tokenizer: a seeded min-hash choice of
    ids (BOS/EOS avoided), identical for every model with the same vocabulary size."""
    keys = id_keys(vocab_size)
    ids = [i for i in range(vocab_size) if i not in avoid]
    h = key_hashes([keys[i] for i in ids], canaries.ids_seed)
    return [ids[i] for i in np.argsort(h, kind="stable")[: canaries.ids_starts].tolist()]


def render(canaries: CanarySet, tok: Tokenizer) -> list[RenderedProbe]:
    """Tokenize every probe for one model (its own tokenizer and chat template)."""
    n_random = sum(p.kind == "random" for p in canaries.probes)
    draws = random_sequences(canaries, vocabulary_keys(tok), n_random)
    bos = [tok.bos_id] if tok.add_bos and tok.bos_id is not None else []
    chats = _chat_prompts(canaries, tok)
    out = []
    for p in canaries.probes:
        if p.kind == "random":
            ids = bos + draws[p.index]
        elif p.kind == "chat" and chats is not None:  # a template spells out the BOS it wants
            ids = tok.encode(chats[p.id] + p.prefix, add_bos=False)
        elif p.kind == "chat":
            ids = tok.encode(f"User: {p.text}\nAssistant:" + (f" {p.prefix}" if p.prefix else ""))
        else:
            ids = tok.encode(p.text)
        if len(ids) < p.scored:
            raise FormatError(f"canary {p.id} tokenized to {len(ids)} tokens")
        out.append(RenderedProbe(p, tuple(ids)))
    return out


def _chat_prompts(canaries: CanarySet, tok: Tokenizer) -> dict[str, str] | None:
    """The chat probes rendered by the model's own template (one sandboxed child for all of them);
    ``None`` without a template, or when the template is refused: the probes then fall back to plain
    text and ``tok.chat_refusal`` says why (see :func:`template_notes`)."""
    chat = [p for p in canaries.probes if p.kind == "chat"]
    if not tok.chat_template or not chat:
        return None
    try:
        rendered = tok.apply_chat_templates([[{"role": "user", "content": p.text}] for p in chat])
    except TemplateRefused:
        return None
    return {p.id: text for p, text in zip(chat, rendered)}


def template_notes(*tokenizers: Tokenizer | None) -> list[str]:
    """A note for each tokenizer whose chat template was refused ("chat template refused: ..."):
    evidence about the file, reported beside the verdict rather than failing the audit."""
    return [t.chat_refusal for t in tokenizers if t is not None and t.chat_refusal]
