"""Recognise license texts shipped beside a model: Meta's Llama licenses and policies, common ones.

Meta's texts are recognised by fingerprints derived from the real texts (never the texts themselves):
the text is reduced to lower-case words (so whitespace, case, punctuation and markdown do not matter),
cut into overlapping 5-word shingles, and each shingle hashed to 32 bits. For every reference document
releases.json keeps

* ``sample``: the hashes divisible by 4 (a consistent ~1/4 sample), for "is this that document";
* ``distinct``: every hash found in no other version's document of the same kind, for "which version"
  (Llama 3.1, 3.2 and 3.3 licenses differ in little more than the version number, dates and URLs).

Other licenses (Apache-2.0, MIT, BSD, GPL, CC) are recognised by a few short phrases of our own.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provenance.calibration import (
    LICENSE_MIN_CONTAINMENT,
    LICENSE_MIXED_VERSION,
    LICENSE_VERSION_MARGIN,
)
from provenance.errors import FormatError
from provenance.knowledge.releases import load_knowledge

SHINGLE_WORDS = 5
SAMPLE_MOD = 4
MAX_TEXT_BYTES = 4 << 20  # a license file beyond 4 MiB is not a license file

# Reference folders under ../shared/data/licenses -> license id.
REFERENCE_DIRS = {"llama2": "llama2", "llama3": "llama3", "llama3_1": "llama3.1", "llama3_2": "llama3.2",
                  "llama3_3": "llama3.3", "llama4": "llama4"}
DOCUMENTS = {"LICENSE": "license", "USE_POLICY.md": "aup"}


@dataclass(frozen=True)
class TextMatch:
    """A license (or acceptable-use policy) recognised in a text.

    ``score``: share of the reference's sampled shingles found (1.0 for phrase matches);
    ``version_score``: share of that version's distinct shingles found (None for phrase matches);
    ``ambiguous_with``: other versions that fit nearly as well.
    """

    license: str
    document: str  # "license" | "aup"
    method: str  # "fingerprint" | "phrases"
    score: float
    version_score: float | None = None
    ambiguous_with: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"license": self.license, "document": self.document, "method": self.method,
                "score": round(self.score, 4),
                "version_score": None if self.version_score is None else round(self.version_score, 4),
                "ambiguous_with": list(self.ambiguous_with)}


# -- normalisation and shingles -------------------------------------------------------------------
def words(text: str) -> list[str]:
    """Lower-case alphanumeric runs: ``"Llama 3.1"`` -> ``["llama", "3", "1"]``."""
    return re.findall(r"[a-z0-9]+", text.lower())


def shingle_hashes(ws: list[str]) -> set[int]:
    """32-bit hashes of every run of :data:`SHINGLE_WORDS` consecutive words."""
    k = SHINGLE_WORDS
    return {
        int.from_bytes(hashlib.blake2b(" ".join(ws[i : i + k]).encode(), digest_size=4).digest(), "big")
        for i in range(max(0, len(ws) - k + 1))
    }


def _pack(hashes: set[int]) -> str:
    return "".join(f"{h:08x}" for h in sorted(hashes))


def _unpack(text: str) -> frozenset[int]:
    return frozenset(int(text[i : i + 8], 16) for i in range(0, len(text), 8))


def _split_embedded_policy(text: str) -> str:
    """The Llama 3 LICENSE file carries its acceptable use policy after the agreement: keep the agreement."""
    m = re.search(r"(?im)^[\s#*]*(meta\s+)?llama[\s\d.]*acceptable use policy[\s*]*$", text)
    return text[: m.start()] if m else text


# -- build (used by ``python -m provenance.knowledge.releases build``) ---------------------------------------------
def build_text_fingerprints(licenses_dir: Path) -> dict[str, Any]:
    """Fingerprints of every reference LICENSE / USE_POLICY.md under ``licenses_dir``."""
    docs: list[dict[str, Any]] = []
    sets: dict[tuple[str, str], set[int]] = {}
    for folder, lic in sorted(REFERENCE_DIRS.items()):
        for fname, kind in DOCUMENTS.items():
            path = licenses_dir / folder / fname
            raw = path.read_bytes()
            text = raw.decode("utf-8")
            if kind == "license":
                text = _split_embedded_policy(text)
            ws = words(text)
            sets[(lic, kind)] = shingle_hashes(ws)
            docs.append({"license": lic, "document": kind, "source": f"{folder}/{fname}",
                         "sha256": hashlib.sha256(raw).hexdigest(), "words": len(ws)})
    for d in docs:
        own = sets[(d["license"], d["document"])]
        others = set().union(*(s for (lic, kind), s in sets.items()
                               if kind == d["document"] and lic != d["license"]))
        d["shingles"] = len(own)
        d["sample"] = _pack({h for h in own if h % SAMPLE_MOD == 0})
        d["distinct"] = _pack(own - others)
    return {"shingle_words": SHINGLE_WORDS, "hash": "blake2b-32", "sample_mod": SAMPLE_MOD, "documents": docs}


# -- recognition ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Ref:
    license: str
    document: str
    sample: frozenset[int]
    distinct: frozenset[int]


def _references(license_texts: dict[str, Any] | None) -> list[_Ref]:
    if license_texts is None:
        license_texts = load_knowledge().license_texts
    return [_Ref(d["license"], d["document"], _unpack(d["sample"]), _unpack(d["distinct"]))
            for d in license_texts["documents"]]


def recognise_text(text: str, license_texts: dict[str, Any] | None = None) -> list[TextMatch]:
    """Every license or policy recognised in ``text``: at most one Meta license and one Meta policy
    (a file may hold both), else the first common license whose phrases all occur."""
    ws = words(text)
    found = shingle_hashes(ws)
    out: list[TextMatch] = []
    refs = _references(license_texts)
    for kind in ("license", "aup"):
        scored = []
        for ref in refs:
            if ref.document != kind or not ref.sample:
                continue
            containment = len(ref.sample & found) / len(ref.sample)
            if containment >= LICENSE_MIN_CONTAINMENT:
                version = len(ref.distinct & found) / len(ref.distinct) if ref.distinct else 0.0
                scored.append((version, containment, ref.license))
        if not scored:
            continue
        scored.sort(reverse=True)
        best_v, best_c, best = scored[0]
        close = tuple(sorted(lic for v, _, lic in scored[1:]
                             if best_v - v < LICENSE_VERSION_MARGIN or v >= LICENSE_MIXED_VERSION))
        out.append(TextMatch(best, kind, "fingerprint", best_c, best_v, close))
    if not any(m.document == "license" for m in out):
        phrase = _phrase_license(ws)
        if phrase:
            out.insert(0, TextMatch(phrase, "license", "phrases", 1.0))
    return out


def recognise_file(path: str | Path, license_texts: dict[str, Any] | None = None) -> list[TextMatch]:
    """:func:`recognise_text` on a file (read-only, at most :data:`MAX_TEXT_BYTES`)."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            raw = f.read(MAX_TEXT_BYTES + 1)
    except OSError as e:
        raise FormatError(f"cannot read license file: {e.strerror or e}", p) from None
    if len(raw) > MAX_TEXT_BYTES:
        raise FormatError(f"license file larger than {MAX_TEXT_BYTES >> 20} MiB", p)
    if b"\0" in raw:
        raise FormatError("license file is binary", p)
    return recognise_text(raw.decode("utf-8", errors="replace"), license_texts)


# Short phrases of our own, in normalised words. ``head``: must occur among the first HEAD_WORDS words
# (a title or a "Licensed under" header, so a GPL text that *mentions* the AGPL is not the AGPL);
# ``body``: each group needs one alternative anywhere. More specific licenses come first.
HEAD_WORDS = 80
_PHRASES: tuple[tuple[str, str | None, tuple[tuple[str, ...], ...]], ...] = (
    ("apache-2.0", "apache license version 2 0", ()),
    ("agpl-3.0", "gnu affero general public license version 3", ()),
    ("gpl-3.0", "gnu general public license version 3", ()),
    ("cc0-1.0", "cc0 1 0 universal", ()),
    ("mit", None, (("permission is hereby granted free of charge",), ("provided as is",))),
    ("bsd-3-clause", None, (("redistribution and use in source and binary forms",), ("neither the name",))),
    ("bsd-2-clause", None, (("redistribution and use in source and binary forms",),)),
    ("cc-by-nc-sa-4.0", None, (("attribution noncommercial sharealike 4 0 international public license",),)),
    ("cc-by-nc-4.0", None, (("attribution noncommercial 4 0 international public license",),)),
    ("cc-by-sa-4.0", None, (("attribution sharealike 4 0 international public license",),)),
    ("cc-by-4.0", None, (("creative commons attribution 4 0 international public license",),)),
)


def _phrase_license(ws: list[str]) -> str | None:
    head = f" {' '.join(ws[:HEAD_WORDS])} "
    body = f" {' '.join(ws)} "
    for lic, title, groups in _PHRASES:
        if title is not None and f" {title} " not in head:
            continue
        if all(any(f" {alt} " in body for alt in group) for group in groups):
            return lic
    return None


_NOTICE = re.compile(r"(?:meta )?llama (\d)(?: (\d))? is licensed under the (?:meta )?llama (\d)(?: (\d))? "
                     r"community license")


def notice_license(text: str) -> str | None:
    """The license id named by a Meta attribution Notice in ``text`` (e.g. ``llama3.1``), if present.

    Every Llama 2-4 license (§1.b.iii) requires a "Notice" text file with that sentence.
    """
    m = _NOTICE.search(" ".join(words(text)))
    if not m:
        return None
    major, minor = m.group(3), m.group(4)
    return f"llama{major}" + (f".{minor}" if minor else "")
