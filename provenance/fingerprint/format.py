"""Fingerprints: the few megabytes of a checkpoint that lineage evidence needs, in one small file.

A fingerprint lets ``provenance`` compare a candidate against a reference model whose weights the
user does not have (or may not redistribute): ``fingerprints/`` ships them for public references and
``provenance registry add`` makes one from a licensed local copy.

File format (version 1)
-----------------------
A safetensors file (no pickle, no code) whose ``__metadata__`` holds exactly one entry,
``"provenance.fingerprint"``: a JSON document (keys sorted, compact) with

* ``format`` = ``"provenance-fingerprint"``, ``format_version`` = 1;
* ``identity``: ``name``, ``family``, ``license``, ``source`` (where the weights came from),
  ``tool`` (``provenance <version>``) and ``created`` (ISO time from ``SOURCE_DATE_EPOCH``, else
  ``null``, so that the same model always gives the same bytes);
* ``files``: name, size and sha256 of each source file (base names only, no local paths);
* ``checkpoint``: storage format, quantization, parameter count;
* ``arch``: the :class:`~provenance.modelargs.ModelArgs` dict; ``declared``: the declared metadata
  (name, base models, license, author) as read from the files;
* ``tokenizer`` (or ``null``): kind, surface convention, identities, special ids, BOS/EOS, chat
  template; the token strings themselves are the tensors ``tokenizer.bytes`` (UTF-8, concatenated)
  and ``tokenizer.offsets`` (int32, n + 1 boundaries) so weights and behaviour can be aligned on
  shared token strings;
* ``weights`` (or ``null``): the JSON half of the weight sketch of
  :mod:`provenance.evidence.weights.sketch`, whose arrays are the tensors ``weights.<name>``;
* ``behaviour`` (or ``null``): canary version, mode, scored position names and kinds; arrays
  ``behaviour.*`` as in :class:`~provenance.evidence.behaviour.ProbeResults` (top-k keys and
  log-probabilities, the sampled keys' log-probabilities, the key table as bytes + offsets);
* ``notes``: why a part is missing (e.g. no forward pass for the architecture).

Reading validates everything before use (sizes, dtypes, shapes, index ranges) and raises
:class:`~provenance.errors.FormatError` on anything else.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors
import safetensors.numpy

from provenance import __version__
from provenance.checkpoint.base import Checkpoint
from provenance.domain import Progress
from provenance.errors import FormatError, UnsupportedError
from provenance.evidence.behaviour.probes import (
    ProbeResults,
    run_canaries,
    without_path,
)
from provenance.fileio import iso_time, source_date
from provenance.modelargs import ModelArgs, RopeScaling

FORMAT = "provenance-fingerprint"
FORMAT_VERSION = 1
META_KEY = "provenance.fingerprint"
SUFFIX = ".fingerprint.safetensors"
#: Bounds for reading untrusted fingerprint files (real ones are < 20 MB; a 128k vocabulary is ~1 MB).
MAX_FILE_BYTES = 256 << 20
MAX_HEADER_BYTES = 64 << 20


@dataclass
class TokenizerInfo:
    """What a fingerprint keeps of a tokenizer: enough to compare vocabularies and align tokens."""

    kind: str
    surface: str
    identity: str
    regular_identity: str
    tokens: list[str]
    special_ids: list[int]
    bos_id: int | None
    eos_id: int | None
    add_bos: bool
    chat_template: str | None

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    def to_json(self) -> dict[str, Any]:
        d = dict(vars(self))
        d["n_tokens"] = len(d.pop("tokens"))
        return d


@dataclass
class Fingerprint:
    """The parts of a checkpoint that lineage evidence needs (see the module docstring)."""

    name: str
    family: str | None = None
    license: str | None = None
    source: str | None = None
    tool: str = f"provenance {__version__}"
    created: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: dict[str, Any] = field(default_factory=dict)
    args: ModelArgs | None = None
    declared: dict[str, Any] = field(default_factory=dict)
    tokenizer: TokenizerInfo | None = None
    weights: Any = None  # provenance.evidence.weights.WeightSketch
    behaviour: ProbeResults | None = None
    notes: list[str] = field(default_factory=list)

    # -- making ---------------------------------------------------------------------------
    @classmethod
    def from_checkpoint(
        cls,
        ckpt: Checkpoint,
        name: str | None = None,
        family: str | None = None,
        license: str | None = None,
        source: str | None = None,
        progress: Progress | None = None,
        behaviour: bool = True,
        weights: bool = True,
        device: str = "cpu",
    ) -> Fingerprint:
        """Fingerprint ``ckpt``: hashes, architecture, tokenizer, weight sketch and canary results.

        Parts that cannot be computed (no forward pass for the architecture, no tokenizer) are left
        ``None`` with a note. ``progress(stage, done, total)`` is called as work proceeds;
        ``device`` is where the canary probes run.
        """
        notes: list[str] = []
        files = []
        for i, f in enumerate(ckpt.files):
            files.append({"name": Path(f.path).name, "size": f.size, "sha256": f.sha256})
            if progress:
                progress("hashing", i + 1, len(ckpt.files))
        declared = ckpt.metadata.to_dict()
        declared.pop("source_fields", None)
        declared.pop("license_file", None)  # a local path
        fp = cls(
            name=name or ckpt.metadata.name or ckpt.path.stem,
            family=family,
            license=license or ckpt.metadata.license,
            source=source,
            created=_created(),
            files=files,
            checkpoint={"format": ckpt.format, "quantization": ckpt.quantization, "n_params": ckpt.n_params},
            args=ckpt.args,
            declared=declared,
            tokenizer=_tokenizer_info(ckpt),
            notes=notes,
        )
        if weights:
            fp.weights = _weight_sketch(ckpt, progress, notes)
        if behaviour:
            try:
                fp.behaviour = run_canaries(ckpt, progress=progress, device=device).compact()
            except UnsupportedError as e:
                notes.append(f"behaviour not measured: {without_path(e)}")
        return fp

    def summary(self, answers: int = 5) -> dict[str, Any]:
        """A JSON-able overview without the arrays (for ``registry show``): identity, files,
        architecture, vocabulary, what the weight sketch and the canary results hold, and the model's
        ``answers`` most likely next tokens on the identity and chat canaries."""
        b = self.behaviour
        top: dict[str, list[str]] = {}
        if b is not None:
            for p, (name, kind) in enumerate(zip(b.positions, b.kinds)):
                if kind in ("identity", "chat"):
                    top[name.split("#")[0]] = [b.keys[i].decode("utf-8", "replace") for i in b.topk[p][:answers]]
        t = self.tokenizer
        w = self.weights
        return {
            "name": self.name, "family": self.family, "license": self.license, "source": self.source,
            "tool": self.tool, "created": self.created, "files": self.files, "checkpoint": self.checkpoint,
            "arch": self.args.to_dict() if self.args else None, "declared": self.declared,
            "tokenizer": None if t is None else {"kind": t.kind, "vocab_size": t.vocab_size, "identity": t.identity,
                                                  "chat_template": t.chat_template is not None},
            "weights": None if w is None else {"anchors": len(w.anchor_keys), "layers": w.n_layers,
                                                "anchors_by": w.anchors_by},
            "behaviour": None if b is None else {"canary_version": b.canary_version, "mode": b.mode,
                                                  "positions": len(b.positions), "top_answers": top},
            "notes": self.notes,
        }

    # -- writing --------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The file's bytes: deterministic (same fingerprint, same bytes)."""
        arrays: dict[str, np.ndarray] = {}
        doc: dict[str, Any] = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "identity": {
                "name": self.name,
                "family": self.family,
                "license": self.license,
                "source": self.source,
                "tool": self.tool,
                "created": self.created,
            },
            "files": self.files,
            "checkpoint": self.checkpoint,
            "arch": self.args.to_dict() if self.args else None,
            "declared": self.declared,
            "tokenizer": None,
            "weights": None,
            "behaviour": None,
            "notes": self.notes,
        }
        if self.tokenizer is not None:
            doc["tokenizer"] = self.tokenizer.to_json()
            arrays.update(_pack_strings("tokenizer", [_utf8(t) for t in self.tokenizer.tokens]))
        if self.weights is not None:
            w_arrays, doc["weights"] = self.weights.to_arrays()
            arrays.update({f"weights.{k}": v for k, v in w_arrays.items()})
        if self.behaviour is not None:
            doc["behaviour"], b_arrays = _behaviour_to_arrays(self.behaviour)
            arrays.update(b_arrays)
        try:
            text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except ValueError as e:
            raise FormatError(f"fingerprint of {self.name} holds a non-finite number: {e}") from None
        # safetensors writes raw memory: every array must be C-ordered (fancy indexing may give F order)
        arrays = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
        return safetensors.numpy.save(arrays, metadata={META_KEY: text})

    def save(self, path: str | Path) -> Path:
        """Write the fingerprint to ``path`` (atomically: a partial file never has the final name)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".partial")
        tmp.write_bytes(self.to_bytes())
        tmp.replace(path)
        return path

    # -- reading --------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Fingerprint:
        """Read and validate a fingerprint file; anything malformed raises :class:`FormatError`."""
        path = Path(path)
        doc = read_header(path)
        try:
            with safetensors.safe_open(str(path), framework="numpy") as f:
                arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open has no items())
        except (safetensors.SafetensorError, OSError, ValueError, MemoryError) as e:
            raise FormatError(f"unreadable fingerprint tensors: {' '.join(str(e).split())[:300]}", path) from None
        try:
            return _from_doc(doc, arrays)
        except FormatError as e:  # from the weight sketch's own validation, which knows no path
            raise FormatError(without_path(e), path) from None
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:  # any shape a hostile document takes
            raise FormatError(f"invalid fingerprint: {type(e).__name__}: {e}", path) from None


def read_header(path: str | Path) -> dict[str, Any]:
    """The JSON document of a fingerprint file, without reading its tensors (for listings)."""
    path = Path(path)
    try:
        if not path.is_file():  # a FIFO or device would block or never end
            raise FormatError("not a regular file", path)
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise FormatError("not a fingerprint (shorter than a safetensors header)", path)
            n = int.from_bytes(head, "little")
            if not 2 <= n <= min(MAX_HEADER_BYTES, size - 8) or size > MAX_FILE_BYTES:
                raise FormatError(f"header of {n} bytes in a {size}-byte file is out of bounds", path)
            header = json.loads(f.read(n))
    except OSError as e:
        raise FormatError(f"cannot read fingerprint: {e.strerror or e}", path) from None
    except (ValueError, RecursionError):  # UnicodeDecodeError, JSONDecodeError, or an int over 4300 digits
        raise FormatError("not a fingerprint (header is not JSON)", path) from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    text = meta.get(META_KEY) if isinstance(meta, dict) else None
    if not isinstance(text, str):
        raise FormatError(f"not a provenance fingerprint (no {META_KEY!r} metadata)", path)
    try:  # written with allow_nan=False: NaN, Infinity or 1e999 in a fingerprint is not ours
        doc = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as e:
        raise FormatError(f"fingerprint metadata is not JSON ({' '.join(str(e).split())[:100]})", path) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise FormatError("not a provenance fingerprint", path)
    if doc.get("format_version") != FORMAT_VERSION:
        raise FormatError(f"fingerprint format version {doc.get('format_version')!r} is not supported", path)
    return doc


# -- helpers ----------------------------------------------------------------------------------
def _no_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} overflows")
    return value



def _created() -> str | None:
    when = source_date()
    return None if when is None else iso_time(when)


def _utf8(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")  # vocabularies may hold lone surrogates


def _pack_strings(prefix: str, items: list[bytes]) -> dict[str, np.ndarray]:
    offsets = np.zeros(len(items) + 1, dtype=np.int32)  # MAX_FILE_BYTES < 2**31
    np.cumsum([len(b) for b in items], out=offsets[1:])
    return {f"{prefix}.bytes": np.frombuffer(b"".join(items), dtype=np.uint8).copy(), f"{prefix}.offsets": offsets}


def _unpack_strings(arrays: dict[str, np.ndarray], prefix: str, n: int) -> list[bytes]:
    blob = _array(arrays, f"{prefix}.bytes", np.uint8, 1)
    off = _array(arrays, f"{prefix}.offsets", np.int32, 1)
    if len(off) != n + 1 or off[0] != 0 or off[-1] != len(blob) or np.any(np.diff(off) < 0):
        raise ValueError(f"{prefix}: {len(off)} offsets do not delimit {n} strings in {len(blob)} bytes")
    raw = blob.tobytes()
    return [raw[a:b] for a, b in zip(off[:-1].tolist(), off[1:].tolist())]


def _array(arrays: dict[str, np.ndarray], name: str, dtype: type, ndim: int) -> np.ndarray:
    a = arrays[name]
    if a.dtype != dtype or a.ndim != ndim:
        raise ValueError(f"tensor {name} is {a.dtype}[{a.ndim}d], expected {np.dtype(dtype)}[{ndim}d]")
    return a


def _tokenizer_info(ckpt: Checkpoint) -> TokenizerInfo | None:
    tok = ckpt.tokenizer
    if tok is None:
        return None
    return TokenizerInfo(
        kind=tok.kind,
        surface=tok.surface,
        identity=tok.identity,
        regular_identity=tok.regular_identity,
        tokens=list(tok.tokens),
        special_ids=sorted(tok.special_ids),
        bos_id=tok.bos_id,
        eos_id=tok.eos_id,
        add_bos=tok.add_bos,
        chat_template=tok.chat_template,
    )


def _weight_sketch(ckpt: Checkpoint, progress: Progress | None, notes: list[str]) -> Any:
    from provenance.evidence.weights.sketch import sketch

    try:
        return sketch(ckpt, progress=progress)
    except UnsupportedError as e:
        notes.append(f"weight sketch not made: {without_path(e)}")
        return None


def _behaviour_to_arrays(b: ProbeResults) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    doc = {
        "canary_version": b.canary_version,
        "mode": b.mode,
        "positions": b.positions,
        "kinds": b.kinds,
        "n_keys": len(b.keys),
    }
    arrays = _pack_strings("behaviour.keys", b.keys)
    arrays.update(
        {
            "behaviour.topk": b.topk.astype(np.int32),
            "behaviour.topk_logprobs": b.topk_logprobs.astype(np.float32),
            "behaviour.sample": b.sample.astype(np.int32),
            "behaviour.sample_logprobs": b.sample_logprobs.astype(np.float32),
            "behaviour.prompts": b.prompts.astype(np.int32),
        }
    )
    return doc, arrays


def _behaviour_from(doc: dict[str, Any], arrays: dict[str, np.ndarray]) -> ProbeResults:
    positions, kinds = _strings(doc["positions"]), _strings(doc["kinds"])
    n_keys = _int(doc["n_keys"])
    keys = _unpack_strings(arrays, "behaviour.keys", n_keys)
    topk = _array(arrays, "behaviour.topk", np.int32, 2)
    topk_lp = _array(arrays, "behaviour.topk_logprobs", np.float32, 2)
    sample = _array(arrays, "behaviour.sample", np.int32, 1)
    sample_lp = _array(arrays, "behaviour.sample_logprobs", np.float32, 2)
    prompts = _array(arrays, "behaviour.prompts", np.int32, 2)
    p = len(positions)
    if len(kinds) != p or topk.shape[0] != p or topk_lp.shape != topk.shape or sample_lp.shape != (p, len(sample)):
        raise ValueError("behaviour arrays disagree on the number of positions")
    for name, idx in (("topk", topk), ("sample", sample)):
        if idx.size and (idx.min() < 0 or idx.max() >= n_keys):
            raise ValueError(f"behaviour.{name} indexes outside the {n_keys}-key table")
    if not (np.isfinite(topk_lp).all() and np.isfinite(sample_lp).all()):
        raise ValueError("behaviour log-probabilities are not finite")
    if str(doc["mode"]) not in ("text", "ids"):
        raise ValueError(f"behaviour mode {doc['mode']!r}")
    return ProbeResults(
        str(doc["canary_version"]), positions, kinds, keys, topk, topk_lp, sample, sample_lp,
        mode=str(doc["mode"]), prompts=prompts,
    )


def _strings(v: Any) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
        raise TypeError("expected a list of strings")
    return list(v)


def _int(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise TypeError(f"expected a non-negative integer, got {v!r}")
    return v


def _opt_str(v: Any) -> str | None:
    if v is not None and not isinstance(v, str):
        raise TypeError(f"expected a string, got {type(v).__name__}")
    return v


def _args_from(d: Any) -> ModelArgs | None:
    """ModelArgs from its dict, each field of the type its default has (a hostile file may lie)."""
    if d is None:
        return None
    if not isinstance(d, dict) or set(d) != {f.name for f in dataclasses.fields(ModelArgs)}:
        raise TypeError("arch does not have the fields of ModelArgs")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(ModelArgs):
        v, default = d[f.name], f.default
        if f.name == "rope_scaling":
            if v is not None and not all(isinstance(x, int | float) and not isinstance(x, bool)
                                         for k, x in v.items() if k != "rope_type"):
                raise TypeError("arch.rope_scaling must hold numbers")
            values[f.name] = None if v is None else RopeScaling(**v)
        elif default is None:  # optional token ids
            values[f.name] = v if v is None else _int(v)
        elif isinstance(default, bool):
            if not isinstance(v, bool):
                raise TypeError(f"arch.{f.name} must be true or false")
            values[f.name] = v
        elif isinstance(default, int):
            values[f.name] = _int(v)
        elif isinstance(default, float):
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise TypeError(f"arch.{f.name} must be a number")
            values[f.name] = float(v)
        else:
            values[f.name] = str(_opt_str(v))
    return ModelArgs(**values)


def _tokenizer_from(t: dict[str, Any], arrays: dict[str, np.ndarray]) -> TokenizerInfo:
    t = dict(t)
    n = _int(t.pop("n_tokens"))
    tokens = [b.decode("utf-8", "surrogatepass") for b in _unpack_strings(arrays, "tokenizer", n)]
    info = TokenizerInfo(tokens=tokens, **t)
    ids = [*info.special_ids, *(i for i in (info.bos_id, info.eos_id) if i is not None)]
    if not all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n for i in ids):
        raise ValueError("tokenizer special/BOS/EOS ids outside the vocabulary")
    texts = (info.kind, info.surface, info.identity, info.regular_identity)
    if not all(isinstance(x, str) for x in texts) or not isinstance(info.add_bos, bool):
        raise TypeError("tokenizer fields have the wrong types")
    _opt_str(info.chat_template)
    return info


def _checkpoint_from(v: Any) -> dict[str, Any]:
    if not isinstance(v, dict) or set(v) != {"format", "quantization", "n_params"}:
        raise TypeError("checkpoint needs exactly format, quantization and n_params")
    _opt_str(v["format"]), _opt_str(v["quantization"]), _int(v["n_params"])
    return v


def _files_from(v: Any) -> list[dict[str, Any]]:
    if not isinstance(v, list):
        raise TypeError("files must be a list")
    for f in v:
        if not isinstance(f, dict) or set(f) != {"name", "size", "sha256"}:
            raise TypeError("each file needs exactly name, size and sha256")
        _opt_str(f["name"]), _int(f["size"]), _opt_str(f["sha256"])
    return v


def _from_doc(doc: dict[str, Any], arrays: dict[str, np.ndarray]) -> Fingerprint:
    ident = doc["identity"]
    weights = None
    if doc["weights"] is not None:
        from provenance.evidence.weights.sketch import WeightSketch

        prefix = "weights."
        weights = WeightSketch.from_arrays(
            {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}, doc["weights"]
        )
    name = _opt_str(ident["name"])
    if not name:
        raise ValueError("a fingerprint needs a name")
    return Fingerprint(
        name=name,
        family=_opt_str(ident["family"]),
        license=_opt_str(ident["license"]),
        source=_opt_str(ident["source"]),
        tool=str(_opt_str(ident["tool"])),
        created=_opt_str(ident["created"]),
        files=_files_from(doc["files"]),
        checkpoint=_checkpoint_from(doc["checkpoint"]),
        args=_args_from(doc["arch"]),
        declared=dict(doc["declared"]),
        tokenizer=None if doc["tokenizer"] is None else _tokenizer_from(doc["tokenizer"], arrays),
        weights=weights,
        behaviour=None if doc["behaviour"] is None else _behaviour_from(doc["behaviour"], arrays),
        notes=_strings(doc["notes"]),
    )
