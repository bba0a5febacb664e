"""Relations inside a registry, on real zoo fingerprints: edges, families, the FDR procedure, the exact
sign test's null, the family graph, and reading version-1 fingerprints."""

from __future__ import annotations

import dataclasses
import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import false_discovery_control

from provenance.errors import FormatError
from provenance.evidence.weights import pairwise as pw
from provenance.fingerprint.format import Fingerprint
from provenance.fingerprint.registry import shipped_dir
from provenance.scan.relations import (
    EXACT,
    MARGIN,
    by_adjust,
    by_floor,
    family_svg,
    find_relations,
)
from tests.scan.sketches import zoo_fingerprint

STORIES_FAMILY = ["stories260k", "stories-hf", "stories-ft", "stories-permuted", "stories-rotated"]
SMOL_FAMILY = ["smollm2", "smol-ft-heavy", "smol-pruned", "smol-rotated"]
INDEPENDENT = ["stories-indep-a", "stories-indep-b", "stories-student", "smol-scratch"]
#: pairs a descendant's rotated or permuted basis hides from the exact test: margin links expected
BASIS_CHANGED = {"stories-permuted", "stories-rotated", "smol-rotated"}


@pytest.fixture(scope="module")
def fingerprints() -> dict[str, Fingerprint]:
    return {n: zoo_fingerprint(n) for n in STORIES_FAMILY + SMOL_FAMILY + INDEPENDENT}


@pytest.fixture(scope="module")
def relations(fingerprints):  # type: ignore[no-untyped-def]
    return find_relations(list(fingerprints.items()))


def test_zoo_families_and_no_edge_between_independents(relations) -> None:  # type: ignore[no-untyped-def]
    assert sorted(map(sorted, relations.families)) == sorted(
        [sorted(STORIES_FAMILY), sorted(SMOL_FAMILY), *([n] for n in INDEPENDENT)])
    for e in relations.edges:
        assert e.a not in INDEPENDENT and e.b not in INDEPENDENT, e
        exact = e.method == EXACT
        assert exact == (e.adjusted is not None and e.adjusted <= relations.fdr), e
        if e.a in BASIS_CHANGED or e.b in BASIS_CHANGED:  # the exact test cannot see them ...
            assert e.method == MARGIN and (e.p_value is None or e.p_value > 0.01), e
    # ... and everything else in a family is linked by an FDR-controlled edge
    assert {n for e in relations.edges if e.method == EXACT for n in (e.a, e.b)} == \
        set(STORIES_FAMILY + SMOL_FAMILY) - BASIS_CHANGED
    assert relations.pairs_tested < relations.pairs_total / 3  # 1-vs-K pruning: far below all pairs
    assert "Benjamini-Yekutieli" in relations.controlled and f"{relations.fdr:g}" in relations.controlled


def test_output_is_deterministic_whatever_the_input_order(relations, fingerprints) -> None:  # type: ignore[no-untyped-def]
    names = relations.models
    shuffled = [names[i] for i in np.random.default_rng(1).permutation(len(names))]
    again = find_relations([(n, fingerprints[n]) for n in shuffled])
    assert json.dumps(again.to_dict(), sort_keys=True) == json.dumps(relations.to_dict(), sort_keys=True)


def test_version_1_fingerprint_still_relates_by_the_exact_test() -> None:
    path = shipped_dir() / "stories260k.fingerprint.safetensors"
    if not path.is_file():
        pytest.skip("shipped stories260k fingerprint not generated")
    old = Fingerprint.load(path)
    assert old.weights is not None and old.weights.frame is None  # version 1: no token frame
    rel = find_relations([("shipped", old), ("ft", zoo_fingerprint("stories-ft")),
                          ("indep", zoo_fingerprint("stories-indep-a"))])
    assert [(e.a, e.b, e.method) for e in rel.edges] == [("ft", "shipped", EXACT)]
    assert any("format version 1" in n for n in rel.notes)


def test_token_frame_round_trips_and_rejects_a_bad_shape(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fp = zoo_fingerprint("stories-rotated")
    path = fp.save(tmp_path / "x.fingerprint.safetensors")
    back = Fingerprint.load(path)
    assert back.to_bytes() == path.read_bytes()
    np.testing.assert_array_equal(back.weights.frame.forms, fp.weights.frame.forms)
    back.weights.frame.forms = back.weights.frame.forms[:, :, :-1]
    bad = tmp_path / "bad.fingerprint.safetensors"
    bad.write_bytes(back.to_bytes())
    with pytest.raises(FormatError, match="frame"):
        Fingerprint.load(bad)


# -- statistics -------------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(1e-300, 1.0), min_size=1, max_size=40), st.integers(0, 200), st.booleans())
def test_by_equals_scipy(p: list[float], extra: int, ties: bool) -> None:
    x = np.array(p + p[:3] if ties else p)
    m = len(x) + extra
    padded = np.concatenate([x, np.ones(extra)])
    np.testing.assert_allclose(by_adjust(x, m), false_discovery_control(padded, method="by")[: len(x)], rtol=1e-12)
    floor = by_floor(m, 0.05)  # rejected at rank 1 whatever the others are
    assert false_discovery_control(np.concatenate([[floor], np.ones(m - 1)]), method="by")[0] <= 0.05 * (1 + 1e-12)


def test_sign_test_p_is_never_too_small_under_random_sign_flips() -> None:
    """Flipping random residual coordinates of a real descendant is the null exactly (the overlaps keep
    their sizes and get fair signs): the p-value bound must reject no more often than its level."""
    a = pw.View(zoo_fingerprint("stories260k").weights)
    b_sketch = zoo_fingerprint("stories-ft").weights
    assert pw.sign_test(a, pw.View(b_sketch)).p_value < 1e-12  # related as it is
    rng = np.random.default_rng(0)
    n = 2000
    ps = []
    for _ in range(n):
        flipped = b_sketch.embed * rng.choice(np.array([-1, 1], dtype=np.float16), size=b_sketch.dim)[None, :]
        ps.append(pw.sign_test(a, pw.View(dataclasses.replace(b_sketch, embed=flipped))).p_value)
    ps_arr = np.array(ps)
    for alpha in (0.001, 0.01, 0.05, 0.2, 0.5):
        # binomial slack of 3 standard deviations over n draws
        assert np.mean(ps_arr <= alpha) <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / n), alpha


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=64), st.integers(0, 2**32 - 1))
def test_hoeffding_bound_holds_for_any_magnitudes(mags: list[float], seed: int) -> None:
    """For fixed magnitudes, the exact null distribution of the sum over all sign patterns (sampled)
    never puts more mass at or above the observed sum than the bound says."""
    c = np.array(mags)
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(4000, len(c)))
    sums = signs @ c
    observed = signs[0] * c
    _, p = pw.hoeffding_p(observed)
    assert np.mean(sums >= observed.sum()) <= p + 3 * np.sqrt(max(p, 1e-4) / 4000) + 1e-3


# -- family graph -----------------------------------------------------------------------------------

def test_family_svg_is_self_contained_and_escapes_hostile_names() -> None:
    hostile = ['<script>alert(1)</script>', 'a"b\'c&d', "ctl\x00\x1b[31m\ufffe", "x" * 500]
    fps = [zoo_fingerprint(n) for n in ("stories260k", "stories-rotated", "stories-ft", "stories-indep-a")]
    rel = find_relations(list(zip(hostile, fps)))
    svg = family_svg(rel)
    root = ET.fromstring(svg)  # well-formed XML despite NUL, ESC and U+FFFE in a name
    assert root.tag.endswith("svg")
    assert "<script" not in svg and "href" not in svg and "http://" not in svg.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    texts = {"".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}title")}
    assert '<script>alert(1)</script>' in texts and 'a"b\'c&d' in texts  # full names as tooltips
    assert len(root.findall(".//{http://www.w3.org/2000/svg}line")) == len(rel.edges) == 2
    assert sorted(map(len, rel.families)) == [1, 3]
