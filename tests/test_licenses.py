"""License knowledge, declared-id normalisation and license-text recognition on the real texts."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

from provenance.calibration import LICENSE_MIN_CONTAINMENT as MIN_CONTAINMENT
from provenance.checkpoint.base import DeclaredMetadata
from provenance.errors import FormatError
from provenance.knowledge.license_text import REFERENCE_DIRS, notice_license, recognise_file, recognise_text, words
from provenance.knowledge.licenses import LICENSES, OBLIGATION_KINDS, declared_license, normalize_license, obligations
from tests.models import SHARED

LICENSE_DIR = SHARED / "data" / "licenses"
needs_texts = pytest.mark.skipif(not LICENSE_DIR.is_dir(), reason="../shared/data/licenses absent")
COMMON = Path("/usr/share/common-licenses")
META_IDS = sorted(REFERENCE_DIRS.items())
DOCS = [(folder, lic, fname, kind) for folder, lic in META_IDS
        for fname, kind in (("LICENSE", "license"), ("USE_POLICY.md", "aup"))]


# -- normalisation -------------------------------------------------------------------------------------
@pytest.mark.parametrize("value,expected", [
    ("llama2", "llama2"), ("llama3", "llama3"), ("llama3.1", "llama3.1"), ("llama3.2", "llama3.2"),
    ("llama3.3", "llama3.3"), ("llama4", "llama4"),
    ("Llama 2 Community License", "llama2"), ("LLAMA 2 COMMUNITY LICENSE AGREEMENT", "llama2"),
    ("Meta Llama 3 Community License Agreement", "llama3"), ("llama3_1", "llama3.1"),
    ("llama-3.2", "llama3.2"), ("Llama 3.3 Community License Agreement", "llama3.3"),
    ("LLaMA License", "llama1"), ("llama-license", "llama1"), ("llama", None), ("llama3.4", None),
    ("apache-2.0", "apache-2.0"), ("Apache License 2.0", "apache-2.0"), ("Apache-2", "apache-2.0"),
    ("apache_2_0", "apache-2.0"), ("Apache License, Version 2.0", "apache-2.0"),
    ("MIT", "mit"), ("MIT License", "mit"), ("bsd-3-clause", "bsd-3-clause"), ("BSD 3-Clause", "bsd-3-clause"),
    ("cc-by-4.0", "cc-by-4.0"), ("CC-BY-NC-4.0", "cc-by-nc-4.0"), ("cc by-nc-sa 4.0", "cc-by-nc-sa-4.0"),
    ("Creative Commons Attribution 4.0 International", "cc-by-4.0"), ("cc-by-sa-4.0", "cc-by-sa-4.0"),
    ("openrail", "openrail"), ("openrail++", "openrail++"), ("creativeml-openrail-m", "creativeml-openrail-m"),
    ("bigscience-bloom-rail-1.0", "bigscience-bloom-rail-1.0"), ("gemma", "gemma"), ("qwen", "qwen"),
    ("tongyi-qianwen", "qwen"), ("other", "other"), ("cc-by-3.0", None), ("", None), (None, None),
])
def test_normalize_license(value: str | None, expected: str | None) -> None:
    assert normalize_license(value) == expected


def test_declared_license_uses_license_name_for_other() -> None:
    assert declared_license(DeclaredMetadata(license="other", license_name="llama3")) == "llama3"
    assert declared_license(DeclaredMetadata(license="other", license_name="my-own-terms")) == "other"
    assert declared_license(DeclaredMetadata(license="llama3.1", license_name="whatever")) == "llama3.1"
    assert declared_license(DeclaredMetadata()) is None


# -- the license table ----------------------------------------------------------------------------------
def test_every_license_is_well_formed() -> None:
    for lic in LICENSES.values():
        assert lic.commercial in ("yes", "no", "conditional", "unknown"), lic.id
        assert normalize_license(lic.id) == lic.id, lic.id
        for ob in lic.obligations:
            assert ob.kind in OBLIGATION_KINDS and ob.summary and ob.action, (lic.id, ob)
        if lic.permissive:
            assert lic.commercial == "yes"


def _kinds(lic_id: str) -> dict[str, str | None]:
    return {o.kind: o.section for o in obligations(lic_id)}


def test_meta_license_obligations_follow_the_versions() -> None:
    assert _kinds("llama1").keys() == {"non-commercial", "no-redistribution"}
    assert LICENSES["llama1"].commercial == "no"
    for v in ("llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4"):
        k = _kinds(v)
        assert (k["license-copy"], k["notice"], k["aup"], k["mau-limit"], k["litigation"]) == (
            "§1.b.i", "§1.b.iii", "§1.b.iv", "§2", "§5.c"), v
        assert LICENSES[v].commercial == "conditional"
        assert ("output-use" in k) == (v in ("llama2", "llama3")), v  # §1.b.v dropped from 3.1 on
        assert ("eu-multimodal" in k) == (v in ("llama3.2", "llama3.3", "llama4")), v
        assert ("naming" in k) == (v != "llama2"), v
    assert LICENSES["llama3"].name_prefix == "Llama 3"
    assert {LICENSES[v].name_prefix for v in ("llama3.1", "llama3.2", "llama3.3", "llama4")} == {"Llama"}
    assert LICENSES["cc-by-nc-4.0"].commercial == "no" and LICENSES["apache-2.0"].permissive


@needs_texts
@pytest.mark.parametrize("folder,lic", META_IDS)
def test_notice_sentences_and_clauses_are_in_the_real_texts(folder: str, lic: str) -> None:
    text = " ".join(words((LICENSE_DIR / folder / "LICENSE").read_text(encoding="utf-8")))
    assert " ".join(words(LICENSES[lic].notice)) in text
    if LICENSES[lic].name_prefix:
        assert f"include {' '.join(words(LICENSES[lic].name_prefix))} at the beginning" in text
    assert ("improve any other large language model" in text) == ("output-use" in _kinds(lic))
    policy = " ".join(words((LICENSE_DIR / folder / "USE_POLICY.md").read_text(encoding="utf-8")))
    assert ("european union" in policy) == ("eu-multimodal" in _kinds(lic))


# -- Meta license text recognition ---------------------------------------------------------------------
def _drop_sentence(text: str, index: int) -> str:
    sentences = re.split(r"(?<=[.;:])\s+", text)
    del sentences[index % len(sentences)]
    return " ".join(sentences)


PERTURBATIONS = {
    "original": lambda t: t,
    "rewrapped": lambda t: "\n".join(re.findall(r".{1,60}(?:\s|$)", re.sub(r"\s+", " ", t))),
    "upper-case": str.upper,
    "ascii-punctuation": lambda t: t.translate(str.maketrans({"“": '"', "”": '"', "’": "'", "©": "(c)",
                                                              "*": ""})),
    "sentence-dropped": lambda t: _drop_sentence(t, 9),
    "two-sentences-dropped": lambda t: _drop_sentence(_drop_sentence(t, 4), 17),
    "plain-text": lambda t: re.sub(r"[#*_\[\]()<>]", " ", t),
}


@needs_texts
@pytest.mark.parametrize("perturbation", sorted(PERTURBATIONS))
@pytest.mark.parametrize("folder,lic,fname,kind", DOCS)
def test_each_real_text_is_recognised_as_its_version(folder: str, lic: str, fname: str, kind: str,
                                                     perturbation: str) -> None:
    text = PERTURBATIONS[perturbation]((LICENSE_DIR / folder / fname).read_text(encoding="utf-8"))
    found = {m.document: m for m in recognise_text(text)}
    m = found[kind]
    assert (m.license, m.method, m.ambiguous_with) == (lic, "fingerprint", ())
    assert m.score >= 0.8 and m.version_score >= 0.8


@needs_texts
def test_version_margins_hold_on_the_references() -> None:
    """The numbers behind MIN_CONTAINMENT and VERSION_MARGIN: own version 1.0, others far below."""
    from provenance.knowledge.license_text import _references, shingle_hashes

    refs = _references(None)
    for folder, lic, fname, kind in DOCS:
        found = shingle_hashes(words((LICENSE_DIR / folder / fname).read_text(encoding="utf-8")))
        for ref in (r for r in refs if r.document == kind):
            containment = len(ref.sample & found) / len(ref.sample)
            version = len(ref.distinct & found) / len(ref.distinct)
            if ref.license == lic:
                assert containment == version == 1.0
            else:
                assert version == 0.0, (lic, ref.license)  # distinct shingles, by construction
                assert MIN_CONTAINMENT * 0.9 < containment < 0.98, (lic, ref.license)
    apache = COMMON / "Apache-2.0"
    if apache.exists():
        found = shingle_hashes(words(apache.read_text(encoding="utf-8")))
        assert all(len(r.sample & found) / len(r.sample) < MIN_CONTAINMENT / 5 for r in refs)


@needs_texts
def test_license_and_policy_in_one_file_and_llama31_is_not_llama32() -> None:
    lic31 = (LICENSE_DIR / "llama3_1" / "LICENSE").read_text(encoding="utf-8")
    aup31 = (LICENSE_DIR / "llama3_1" / "USE_POLICY.md").read_text(encoding="utf-8")
    got = {(m.license, m.document) for m in recognise_text(lic31 + "\n\n" + aup31)}
    assert got == {("llama3.1", "license"), ("llama3.1", "aup")}
    lic32 = (LICENSE_DIR / "llama3_2" / "LICENSE").read_text(encoding="utf-8")
    assert [m.license for m in recognise_text(lic32)] == ["llama3.2"]
    # Llama 3's LICENSE file embeds its policy: both are found, the agreement as llama3
    both = recognise_text((LICENSE_DIR / "llama3" / "LICENSE").read_text(encoding="utf-8"))
    assert {(m.license, m.document) for m in both} == {("llama3", "license"), ("llama3", "aup")}


@needs_texts
def test_a_hybrid_text_is_reported_ambiguous() -> None:
    """The 3.1 agreement with every "3.1" edited to "3.2" keeps 3.1's URLs: both versions fit."""
    text = (LICENSE_DIR / "llama3_1" / "LICENSE").read_text(encoding="utf-8").replace("3.1", "3.2")
    m = next(x for x in recognise_text(text) if x.document == "license")
    assert (m.license, m.ambiguous_with) == ("llama3.2", ("llama3.1",))


def test_unrelated_text_is_not_a_llama_license() -> None:
    text = " ".join(f"clause {i} the licensee shall comply with the terms" for i in range(300))
    assert recognise_text(text) == []


# -- other licenses, by short phrases --------------------------------------------------------------------
@pytest.mark.skipif(not COMMON.is_dir(), reason="/usr/share/common-licenses absent")
@pytest.mark.parametrize("name,expected", [("Apache-2.0", "apache-2.0"), ("BSD", "bsd-3-clause"),
                                           ("GPL-3", "gpl-3.0"), ("CC0-1.0", "cc0-1.0"),
                                           ("LGPL-3", None), ("MPL-2.0", None), ("GPL-2", None)])
def test_common_license_files(name: str, expected: str | None) -> None:
    path = COMMON / name
    if not path.exists():
        pytest.skip(f"{path} absent")
    got = recognise_file(path)
    assert [m.license for m in got] == ([expected] if expected else [])
    assert all(m.method == "phrases" for m in got)


def test_mit_license_of_an_installed_package() -> None:
    dist = importlib.metadata.distribution("rich")  # MIT-licensed dependency of this project
    path = next(dist.locate_file(f) for f in dist.files or [] if f.name.upper().startswith("LICENSE"))
    assert [m.license for m in recognise_file(path)] == ["mit"]


# -- notice files and hostile input -----------------------------------------------------------------
@pytest.mark.parametrize("lic", ["llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4"])
def test_notice_sentence_names_its_version(lic: str) -> None:
    assert notice_license(f"NOTICE\n\n{LICENSES[lic].notice}\n") == lic
    assert notice_license(LICENSES[lic].notice.upper().replace(" ", "\n")) == lic


def test_text_without_notice() -> None:
    assert notice_license("Llama 3.1 is great. Licensed under Apache 2.0.") is None


def test_hostile_license_files(tmp_path: Path) -> None:
    (tmp_path / "binary").write_bytes(b"\x7fELF\0\0\0\x01" * 100)
    (tmp_path / "huge").write_bytes(b"a " * (3 << 20))
    (tmp_path / "latin1").write_bytes("Copyright \xe9 2024\n".encode("latin-1"))
    for name in ("binary", "huge", "absent"):
        with pytest.raises(FormatError, match=name):
            recognise_file(tmp_path / name)
    assert recognise_file(tmp_path / "latin1") == []
