"""License knowledge: Meta's Llama licenses as obligations, common licenses users declare, id normalisation.

Obligations are summarised in our own words with the section they come from (texts in
``../shared/data/licenses``, from meta-llama/llama-models); ``action`` is the line a user ticks off.
Recognising a license *file* by its text is :mod:`provenance.knowledge.license_text`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the checkpoint module pulls in torch; license logic does not need it
    from provenance.checkpoint.base import DeclaredMetadata


@dataclass(frozen=True)
class Obligation:
    """One thing a license requires. ``kind`` is one of :data:`OBLIGATION_KINDS`."""

    kind: str
    section: str | None
    summary: str
    action: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "section": self.section, "summary": self.summary, "action": self.action}


@dataclass(frozen=True)
class License:
    """A license a model can be under.

    ``commercial``: ``yes``, ``no``, ``conditional`` (allowed under terms: user caps, use restrictions)
    or ``unknown``. ``meta_family`` links a Meta license to the release family it governs.
    """

    id: str
    name: str
    commercial: str
    commercial_note: str
    obligations: tuple[Obligation, ...] = ()
    spdx: str | None = None
    url: str | None = None
    meta_family: str | None = None
    notice: str | None = None  # the attribution sentence a Meta license requires in a "Notice" file
    name_prefix: str | None = None  # what a derived model's name must begin with
    permissive: bool = False

    @property
    def is_meta(self) -> bool:
        return self.meta_family is not None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "commercial": self.commercial,
                "commercial_note": self.commercial_note, "spdx": self.spdx, "url": self.url,
                "meta_family": self.meta_family, "notice": self.notice, "name_prefix": self.name_prefix,
                "obligations": [o.to_dict() for o in self.obligations]}


OBLIGATION_KINDS = ("non-commercial", "no-redistribution", "license-copy", "attribution", "naming", "notice",
                    "aup", "mau-limit", "output-use", "eu-multimodal", "trademark", "litigation",
                    "state-changes", "share-alike", "source-disclosure", "use-restrictions")


def _meta_license(version: str, family: str, *, built_with: str | None, prefix: str | None,
                  notice: str, output_rule: bool, eu_multimodal: bool, url: str) -> License:
    """Llama 2-4 community licenses share one structure; the differences are the arguments."""
    name = f"{'Meta ' if version == '3' else ''}Llama {version} Community License"
    ob = [Obligation("license-copy", "§1.b.i", "Give a copy of the agreement to anyone you distribute the "
                     "model or a derivative to.", f"Ship the {name} text (LICENSE) with the weights.")]
    if built_with:
        ob.append(Obligation("attribution", "§1.b.i(B)", f"Prominently display \"{built_with}\" where the "
                             "model or a product using it is offered.",
                             f"Show \"{built_with}\" on the website, UI, blog post, about page or docs."))
    if prefix:
        scope = ("created, trained or fine-tuned with the Llama materials" if version == "3" else
                 "created, trained, fine-tuned or improved with the Llama materials or their outputs")
        ob.append(Obligation("naming", "§1.b.i", f"A distributed AI model {scope} must have \"{prefix}\" at the "
                             "beginning of its name.", f"Name the model \"{prefix}...\"."))
    ob.append(Obligation("notice", "§1.b.iii", "Keep the attribution notice in a \"Notice\" text file in every "
                         "copy you distribute.", f"Ship a NOTICE file containing: {notice}"))
    ob.append(Obligation("aup", "§1.b.iv", "Use must follow the law and Meta's Acceptable Use Policy, which is "
                         "part of the agreement.", "Review the Acceptable Use Policy; pass it on to users."))
    if output_rule:
        ob.append(Obligation("output-use", "§1.b.v", "Do not use the model or its outputs to improve any other "
                             "large language model (derivatives of this Llama excepted).",
                             "Do not train or distil a non-Llama LLM on this model's outputs."))
    ob.append(Obligation("mau-limit", "§2", "Licensees whose products had more than 700 million monthly active "
                         "users on the release date need a separate license from Meta.",
                         "Confirm your organisation is below 700M monthly active users."))
    if eu_multimodal:
        ob.append(Obligation("eu-multimodal", "AUP", "Rights to the multimodal models are not granted to "
                             "individuals or companies domiciled in the EU (end users of products excepted).",
                             "If the model is multimodal, confirm you are not an EU-domiciled licensee."))
    ob.append(Obligation("trademark", "§5.a", "No trademark license beyond what naming requires; follow "
                         "Meta's brand guidelines.",
                         "Do not imply Meta endorsement; use Llama marks only as required."))
    ob.append(Obligation("litigation", "§5.c", "The license ends if you sue Meta claiming the Llama materials "
                         "infringe your IP.", "Be aware: IP litigation against Meta terminates the license."))
    return License(f"llama{version}", name, "conditional", "Commercial use allowed below 700M monthly active "
                   "users, under the agreement's obligations.", tuple(ob), url=url, meta_family=family,
                   notice=notice, name_prefix=prefix)


def _notice(v: str, meta: bool = False, copyright_sign: str = "©") -> str:
    m = "Meta " if meta else ""
    return (f"{m}Llama {v} is licensed under the {m}Llama {v} Community License, Copyright {copyright_sign} "
            "Meta Platforms, Inc. All Rights Reserved.")


_MODELS = "https://github.com/meta-llama/llama-models/blob/main/models"
_META = [
    License("llama1", "LLaMA-1 research license (non-commercial)", "no",
            "Weights were released for non-commercial research on request; commercial use and redistribution "
            "were not granted.",
            (Obligation("non-commercial", None, "Research use only; no commercial use of the weights or "
                        "derivatives.", "Do not use LLaMA-1 weights or derivatives commercially."),
             Obligation("no-redistribution", None, "Redistribution of the weights was not granted.",
                        "Do not distribute LLaMA-1 weights or derivatives.")),
            url="https://github.com/meta-llama/llama/tree/llama_v1", meta_family="llama-1"),
    # Llama 2's notice is the only one written with "LLAMA 2" and "(c)".
    _meta_license("2", "llama-2", built_with=None, prefix=None,
                  notice="Llama 2 is licensed under the LLAMA 2 Community License, Copyright (c) Meta Platforms, "
                  "Inc. All Rights Reserved.", output_rule=True, eu_multimodal=False,
                  url="https://github.com/meta-llama/llama/blob/main/LICENSE"),
    _meta_license("3", "llama-3", built_with="Built with Meta Llama 3", prefix="Llama 3",
                  notice=_notice("3", meta=True), output_rule=True, eu_multimodal=False,
                  url=f"{_MODELS}/llama3/LICENSE"),
    _meta_license("3.1", "llama-3.1", built_with="Built with Llama", prefix="Llama", notice=_notice("3.1"),
                  output_rule=False, eu_multimodal=False, url=f"{_MODELS}/llama3_1/LICENSE"),
    _meta_license("3.2", "llama-3.2", built_with="Built with Llama", prefix="Llama", notice=_notice("3.2"),
                  output_rule=False, eu_multimodal=True, url=f"{_MODELS}/llama3_2/LICENSE"),
    _meta_license("3.3", "llama-3.3", built_with="Built with Llama", prefix="Llama", notice=_notice("3.3"),
                  output_rule=False, eu_multimodal=True, url=f"{_MODELS}/llama3_3/LICENSE"),
    _meta_license("4", "llama-4", built_with="Built with Llama", prefix="Llama", notice=_notice("4"),
                  output_rule=False, eu_multimodal=True, url=f"{_MODELS}/llama4/LICENSE"),
]


def _ob(kind: str, summary: str, action: str, section: str | None = None) -> Obligation:
    return Obligation(kind, section, summary, action)


_KEEP_NOTICE = _ob("attribution", "Keep the copyright and license notice.",
                   "Ship the license text and copyright notice.")
_RAIL = (_ob("use-restrictions", "Use-based restrictions bind you and must be passed on to downstream users.",
             "Include the use restrictions in your own terms for users."), _KEEP_NOTICE)
_NC = _ob("non-commercial", "No commercial use.", "Use only for non-commercial purposes.")
_SA = _ob("share-alike", "Adaptations must be shared under the same license.", "License derivatives alike.")
_CHANGES = _ob("state-changes", "Indicate modifications.", "State the changes you made.")

_OTHERS = [
    License("apache-2.0", "Apache License 2.0", "yes", "Permissive.", (_KEEP_NOTICE, _CHANGES,
            _ob("notice", "Carry any NOTICE file along.", "Keep the upstream NOTICE file.", "§4(d)")),
            spdx="Apache-2.0", permissive=True),
    License("mit", "MIT License", "yes", "Permissive.", (_KEEP_NOTICE,), spdx="MIT", permissive=True),
    License("bsd-2-clause", "BSD 2-Clause", "yes", "Permissive.", (_KEEP_NOTICE,), spdx="BSD-2-Clause",
            permissive=True),
    License("bsd-3-clause", "BSD 3-Clause", "yes", "Permissive.", (_KEEP_NOTICE, _ob("trademark", "No endorsement "
            "using the authors' names.", "Do not use the authors' names to promote derivatives.")),
            spdx="BSD-3-Clause", permissive=True),
    License("cc0-1.0", "CC0 1.0 (public domain dedication)", "yes", "No conditions.", (), spdx="CC0-1.0",
            permissive=True),
    License("unlicense", "The Unlicense", "yes", "No conditions.", (), spdx="Unlicense", permissive=True),
    License("cc-by-4.0", "Creative Commons Attribution 4.0", "yes", "Attribution required.",
            (_KEEP_NOTICE, _CHANGES), spdx="CC-BY-4.0", permissive=True),
    License("cc-by-sa-4.0", "Creative Commons Attribution-ShareAlike 4.0", "yes", "Share-alike.",
            (_KEEP_NOTICE, _CHANGES, _SA), spdx="CC-BY-SA-4.0"),
    License("cc-by-nc-4.0", "Creative Commons Attribution-NonCommercial 4.0", "no", "Non-commercial only.",
            (_NC, _KEEP_NOTICE, _CHANGES), spdx="CC-BY-NC-4.0"),
    License("cc-by-nc-sa-4.0", "Creative Commons Attribution-NonCommercial-ShareAlike 4.0", "no",
            "Non-commercial only.", (_NC, _KEEP_NOTICE, _CHANGES, _SA), spdx="CC-BY-NC-SA-4.0"),
    License("cc-by-nc-nd-4.0", "Creative Commons Attribution-NonCommercial-NoDerivatives 4.0", "no",
            "Non-commercial, no derivatives.", (_NC, _KEEP_NOTICE), spdx="CC-BY-NC-ND-4.0"),
    License("gpl-3.0", "GNU GPL v3", "yes", "Copyleft.", (_KEEP_NOTICE, _ob("source-disclosure", "Distributed "
            "derivatives must be offered with source under the GPL.", "Publish derivative sources under GPL-3.0.")),
            spdx="GPL-3.0-only"),
    License("agpl-3.0", "GNU AGPL v3", "yes", "Network copyleft.", (_KEEP_NOTICE, _ob("source-disclosure",
            "Derivatives offered over a network must be offered with source.", "Publish sources under AGPL-3.0.")),
            spdx="AGPL-3.0-only"),
    License("openrail", "Open RAIL", "conditional", "Commercial use allowed under use-based restrictions.", _RAIL),
    License("openrail++", "Open RAIL++-M", "conditional", "Commercial use allowed under use-based restrictions.",
            _RAIL),
    License("creativeml-openrail-m", "CreativeML Open RAIL-M", "conditional", "Use-based restrictions.", _RAIL),
    License("bigscience-openrail-m", "BigScience Open RAIL-M", "conditional", "Use-based restrictions.", _RAIL),
    License("bigscience-bloom-rail-1.0", "BigScience BLOOM RAIL 1.0", "conditional", "Use-based restrictions.",
            _RAIL),
    License("gemma", "Gemma Terms of Use", "conditional", "Commercial use allowed under Google's terms and "
            "prohibited-use policy, which must be passed on.", _RAIL, url="https://ai.google.dev/gemma/terms"),
    License("qwen", "Tongyi Qianwen License", "conditional", "Commercial use allowed; products above 100M "
            "monthly active users need a license from Alibaba Cloud.", (_KEEP_NOTICE, _ob("mau-limit",
            "Above 100M monthly active users a separate license is required.", "Confirm you are below 100M MAU."))),
    License("qwen-research", "Qwen Research License", "no", "Research and non-commercial use only.",
            (_NC, _KEEP_NOTICE)),
    License("deepseek", "DeepSeek License", "conditional", "Commercial use allowed under use-based "
            "restrictions.", _RAIL),
    License("other", "Other (custom license)", "unknown", "A custom license: read it.", ()),
]

LICENSES: dict[str, License] = {lic.id: lic for lic in _META + _OTHERS}


def get_license(license_id: str | None) -> License | None:
    """The :class:`License` for a canonical id (see :func:`normalize_license`)."""
    return LICENSES.get(license_id) if license_id else None


def obligations(license_id: str | None) -> list[Obligation]:
    """The checklist for a license (empty when unknown)."""
    lic = get_license(license_id)
    return list(lic.obligations) if lic else []


# -- declared id normalisation ------------------------------------------------------------------------
_META_VERSIONS = {("2", None), ("3", None), ("3", "1"), ("3", "2"), ("3", "3"), ("4", None)}
_RE_META = re.compile(r"^(?:meta)?llama(\d)(?:\.?(\d))?(?:community)?(?:license)?(?:agreement)?$")
_RE_LLAMA1 = re.compile(r"^(?:meta)?llama1?(?:research|noncommercial|model)?license(?:agreement)?$|^llama1$")
_RE_APACHE = re.compile(r"^apache(?:software)?(?:license)?(?:version|v)?2(?:\.?0)?(?:license)?$")
_RE_CC = re.compile(r"^(?:cc|creativecommons)(by|attribution)(nc|noncommercial)?(sa|sharealike|nd|noderivatives)?"
                    r"(?:4\.?0)(?:international)?(?:license)?$")
_ALIASES = {
    "mit": "mit", "mitlicense": "mit", "themitlicense": "mit", "expat": "mit",
    "bsd3clause": "bsd-3-clause", "bsd3": "bsd-3-clause", "newbsd": "bsd-3-clause", "modifiedbsd": "bsd-3-clause",
    "bsd2clause": "bsd-2-clause", "bsd2": "bsd-2-clause", "simplifiedbsd": "bsd-2-clause",
    "cc0.1.0": "cc0-1.0", "cc01.0": "cc0-1.0", "cc0": "cc0-1.0", "unlicense": "unlicense", "theunlicense": "unlicense",
    "gpl3.0": "gpl-3.0", "gpl3": "gpl-3.0", "gplv3": "gpl-3.0", "gpl3.0only": "gpl-3.0",
    "agpl3.0": "agpl-3.0", "agpl3": "agpl-3.0", "agplv3": "agpl-3.0", "agpl3.0only": "agpl-3.0",
    "openrail": "openrail", "openrailm": "openrail", "openrail++": "openrail++", "openrail++m": "openrail++",
    "creativemlopenrailm": "creativeml-openrail-m", "bigscienceopenrailm": "bigscience-openrail-m",
    "bigsciencebloomrail1.0": "bigscience-bloom-rail-1.0", "bloomrail1.0": "bigscience-bloom-rail-1.0",
    "gemma": "gemma", "gemmatermsofuse": "gemma", "gemmalicense": "gemma",
    "qwen": "qwen", "qwenlicense": "qwen", "tongyiqianwen": "qwen", "tongyiqianwenlicense": "qwen",
    "qwenresearch": "qwen-research", "qwenresearchlicense": "qwen-research",
    "deepseek": "deepseek", "deepseeklicense": "deepseek", "other": "other",
}
_CC_PARTS = {"by": "by", "attribution": "by", "nc": "nc", "noncommercial": "nc", "sa": "sa", "sharealike": "sa",
             "nd": "nd", "noderivatives": "nd"}


def normalize_license(value: str | None) -> str | None:
    """Canonical license id for a declared value, or None when unrecognised.

    Accepts HF ids (``llama2``, ``llama3.1``, ``apache-2.0``), names (``Llama 2 Community License``,
    ``META LLAMA 3 COMMUNITY LICENSE AGREEMENT``, ``Apache License 2.0``) and spdx-ish variants
    (``llama3_1``, ``Apache-2``, ``CC-BY-NC-4.0``). A bare ``llama`` is ambiguous and gives None.
    """
    if not value:
        return None
    key = re.sub(r"(?<=\d)[\s_-](?=\d)", ".", value.strip().lower())  # llama3_1, apache 2 0
    key = re.sub(r"[^a-z0-9.+]", "", key).strip(".")
    m = _RE_META.match(key)
    if m:
        major, minor = m.group(1), m.group(2)
        if major == "1" and minor is None:
            return "llama1"
        return f"llama{major}{'.' + minor if minor else ''}" if (major, minor) in _META_VERSIONS else None
    if _RE_LLAMA1.match(key):
        return "llama1"
    if _RE_APACHE.match(key):
        return "apache-2.0"
    m = _RE_CC.match(key)
    if m:
        parts = ["by"] + [_CC_PARTS[g] for g in m.groups()[1:] if g]
        cid = "cc-" + "-".join(parts) + "-4.0"
        return cid if cid in LICENSES else None
    return _ALIASES.get(key)


def declared_license(meta: DeclaredMetadata) -> str | None:
    """The canonical license a model declares (see :func:`normalize_declared`)."""
    return normalize_declared(meta.license, meta.license_name)


def normalize_declared(license: str | None, license_name: str | None) -> str | None:
    """``license`` normalised, or ``license_name`` when the license is missing or ``other``
    (Hugging Face cards say ``license: other`` + ``license_name: llama3``)."""
    lic = normalize_license(license)
    if lic in (None, "other") and license_name:
        return normalize_license(license_name) or lic
    return lic
