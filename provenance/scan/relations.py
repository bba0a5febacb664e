"""Relations inside a scanned registry: which models share lineage with each other, and their families.

Input: the fingerprints a scan computed (name, :class:`~provenance.fingerprint.Fingerprint`); only
their weight sketches are read (:mod:`provenance.evidence.weights.pairwise`).

Search (1-vs-K, so cost grows about linearly with the registry, not with its pairs). Models are
visited in name order. Each is first put through a cheap rotation-invariant pre-filter against every
model already visited (one matrix product over the frame tokens' correlation signatures); among those
that pass (:data:`~provenance.calibration.RELATION_PREFILTER_MIN`) it is tested only against each
family found so far, through the family's most similar member (:func:`_test_family`). A test that already proves lineage on its own (p below
the smallest p-value Benjamini-Yekutieli could ever reject at this size) merges the two families on
the spot, so later descendants of a family cost one test, not one per member.

Decision. Every test gives a sign-test p-value, exact under its stated null
(:data:`~provenance.evidence.weights.pairwise.SIGN_TEST_NULL`). The Benjamini-Yekutieli procedure then runs
over **all** N(N-1)/2 pairs, a pair never tested counting as p = 1. BY controls the false-discovery
rate at ``fdr`` under any dependence between the tests; that matters here, because which pairs get
tested depends on earlier outcomes, and a never-tested pair's p = 1 is still a valid p-value, so the
guarantee holds, where Benjamini-Hochberg would need a positive dependence nobody can check. Pairs the
exact test cannot see (a descendant whose residual basis was rotated or permuted keeps none of the
coordinates the sign test reads) are linked by the token-frame score ``T`` when it clears
:data:`~provenance.calibration.RELATION_MARGIN_MIN_SCORE`: reported as separate **margin links**,
decided by the measured margin between related and independent pairs, not by the FDR procedure.

Families are the connected components of both kinds of edge (singletons included). An edge says the
two models share lineage (one descends from the other, or both from a common ancestor); weights
alone do not say which way.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from provenance import calibration as cal
from provenance.domain import Progress
from provenance.evidence.weights import frame as fr
from provenance.evidence.weights import pairwise as pw
from provenance.evidence.weights.sketch import WeightSketch
from provenance.fingerprint.format import Fingerprint

FDR_METHOD = "Benjamini-Yekutieli"
#: Members of one candidate family the exact test is tried against before the frame score decides
#: (a search budget, not a threshold: it bounds the cost per family, never what counts as an edge).
EXACT_TRIES = 3
EXACT = "sign test"
MARGIN = "frame margin"


@dataclass(frozen=True)
class Edge:
    """Two models that share lineage. ``method`` is :data:`EXACT` (``p_value`` under
    :data:`~provenance.evidence.weights.pairwise.SIGN_TEST_NULL`, ``adjusted`` its BY-adjusted value, kept
    because ``adjusted <= fdr``) or :data:`MARGIN` (``score`` >= the calibrated margin; the sign
    test's p-value, when it could be computed, is shown but did not decide)."""

    a: str
    b: str
    method: str
    p_value: float | None
    adjusted: float | None
    t: float | None
    score: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "method": self.method, "p_value": _g(self.p_value),
                "adjusted_p": _g(self.adjusted), "t": _g(self.t), "score": _g(self.score)}


@dataclass
class Relations:
    """Edges and families among the scanned models, and what the decision controls."""

    models: list[str]
    edges: list[Edge]
    families: list[list[str]]
    fdr: float
    controlled: str
    method: str
    pairs_total: int
    pairs_tested: int
    notes: list[str] = field(default_factory=list)

    def family_of(self, name: str) -> list[str]:
        """The family (connected component) holding ``name``."""
        return next(f for f in self.families if name in f)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, in a deterministic order (names sorted; families largest first)."""
        return {"models": self.models, "fdr": self.fdr, "controlled": self.controlled, "method": self.method,
                "pairs_total": self.pairs_total, "pairs_tested": self.pairs_tested,
                "edges": [e.to_dict() for e in self.edges], "families": self.families, "notes": self.notes}


def _g(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.6g}")


# -- Benjamini-Yekutieli ------------------------------------------------------------------------

def by_adjust(p: np.ndarray, m: int) -> np.ndarray:
    """BY-adjusted p-values of ``p`` among ``m >= len(p)`` tests whose other ``m - len(p)`` p-values
    are 1 (never tested), without materialising them: equal to
    ``scipy.stats.false_discovery_control(padded, method="by")[:len(p)]``."""
    n = len(p)
    if n > m:
        raise ValueError("more p-values than tests")
    if n == 0:
        return np.zeros(0)
    c = _harmonic(m)
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m * c / np.arange(1, n + 1)
    adj = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)  # the padded 1s cap it at 1
    out = np.empty(n)
    out[order] = adj
    return out


def by_floor(m: int, fdr: float) -> float:
    """The largest p-value BY rejects at rank 1 among ``m`` tests: below it a test is rejected whatever
    the other p-values are."""
    return fdr / (m * _harmonic(m)) if m else 0.0


def _harmonic(m: int) -> float:
    """1 + 1/2 + ... + 1/m (BY's dependence penalty); the asymptotic series past a million terms
    (error < 1e-12), so a registry of 10,000 models does not allocate 50 million floats."""
    if m < 1 << 20:
        return float(np.sum(1.0 / np.arange(1, m + 1)))
    return math.log(m) + 0.5772156649015329 + 1 / (2 * m) - 1 / (12 * m * m)


# -- search ---------------------------------------------------------------------------------------

@dataclass
class _Pair:
    i: int
    j: int
    sign: pw.SignTest | None
    score: float | None


class _Families:
    """Union-find over model indices (smallest index is a family's root: deterministic)."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        a, b = self.find(i), self.find(j)
        if a != b:
            self.parent[max(a, b)] = min(a, b)


class _Group:
    """Signatures of the models sharing one frame token set, rows of a matrix grown by doubling."""

    def __init__(self, width: int) -> None:
        self.ids: list[int] = []
        self.members: set[int] = set()
        self.rows = np.zeros((8, width))

    def add(self, i: int, row: np.ndarray) -> None:
        if len(self.ids) == len(self.rows):
            self.rows = np.concatenate([self.rows, np.zeros_like(self.rows)])
        self.rows[len(self.ids)] = row
        self.ids.append(i)
        self.members.add(i)


class _Signatures:
    """Pre-filter signatures grouped by frame token set, so one product scores a model against all.
    Models are added in visiting order: when model ``i`` asks, every other member came before it."""

    def __init__(self) -> None:
        self.groups: dict[tuple[bytes, ...], _Group] = {}

    def add(self, i: int, view: pw.View | None) -> None:
        if view is not None and view.frame is not None and len(view.frame.keys) >= fr.MIN_SHARED:
            row = fr.gram_signature(view.frame, np.arange(len(view.frame.keys)))
            self.groups.setdefault(tuple(view.frame.keys), _Group(len(row))).add(i, row)

    def candidates(self, i: int, views: list[pw.View | None]) -> list[tuple[float, int]]:
        """(signature cosine, j) for every earlier model worth testing against ``i``, best first.
        Without a frame on either side (version-1 fingerprints) nothing can be pre-filtered: all pass."""
        s = views[i]
        if s is None:
            return []
        out: dict[int, float] = {j: 1.0 for j in range(i) if views[j] is not None}
        if s.frame is not None:
            same = self.groups.get(tuple(s.frame.keys))
            if same is not None and same.ids[-1] == i:
                n = len(same.ids) - 1
                cos = same.rows[:n] @ same.rows[n]
                out.update(zip(same.ids[:n], cos.tolist()))
            for j in range(i):
                other = views[j]
                if other is not None and other.frame is not None and (same is None or j not in same.members):
                    c = pw.signature_cosine(s, other)
                    if c is not None:
                        out[j] = c
                    elif not pw.sign_testable(s, other):
                        del out[j]  # no shared frame tokens and no exact test: nothing could compare them
        return sorted(((c, j) for j, c in out.items() if c >= cal.RELATION_PREFILTER_MIN), key=lambda x: (-x[0], x[1]))


def _test_family(i: int, members: list[int], views: list[pw.View | None], floor: float) -> tuple[list[_Pair], bool]:
    """Test model ``i`` against one family, given its pre-filter-passing ``members`` (best first): the
    exact test against the most similar member; without proof, the frame score against it; when that
    shows lineage the exact test cannot see (a member in another basis), the exact test against up to
    :data:`EXACT_TRIES` - 1 more members, whose relatives may keep ``i``'s coordinates. An unrelated
    family costs two tests. Returns the pairs tested and whether they prove lineage."""
    b = views[i]
    assert b is not None

    def exact(j: int) -> _Pair:
        a = views[j]
        assert a is not None
        return _Pair(j, i, pw.sign_test(a, b), None)

    def proved(pair: _Pair) -> bool:
        return pair.sign is not None and pair.sign.p_value <= floor

    first = exact(members[0])
    if proved(first):
        return [first], True
    a = views[members[0]]
    assert a is not None
    first.score = pw.frame_score(a, b)
    if first.score is None or first.score < cal.RELATION_MARGIN_MIN_SCORE:
        return [first], False
    pairs = [first]
    for j in members[1:EXACT_TRIES]:
        pairs.append(exact(j))
        if proved(pairs[-1]):
            break
    return pairs, True


def _search(views: list[pw.View | None], floor: float, progress: Progress | None) -> list[_Pair]:
    fam = _Families(len(views))
    sigs = _Signatures()
    pairs: list[_Pair] = []
    for i in range(len(views)):
        sigs.add(i, views[i])
        by_family: dict[int, list[int]] = {}
        for _, j in sigs.candidates(i, views):  # best signature first
            by_family.setdefault(fam.find(j), []).append(j)
        for members in by_family.values():
            if fam.find(members[0]) == fam.find(i):  # joined through an earlier family of this loop
                continue
            tested, proved = _test_family(i, members, views, floor)
            pairs.extend(tested)
            if proved:
                fam.union(i, members[0])
        if progress:
            progress("relations", i + 1, len(views))
    return pairs


def find_relations(items: list[tuple[str, Fingerprint]], fdr: float = 0.05,
                   progress: Progress | None = None) -> Relations:
    """Lineage edges and families among ``items`` (see the module docstring).

    ``fdr`` is the false-discovery rate the exact edges are controlled at (over all pairs); names
    must be unique. Models without a weight sketch are singletons with a note.
    """
    if not 0 < fdr < 1:
        raise ValueError("fdr must be between 0 and 1")
    items = sorted(items, key=lambda x: x[0])
    names = [n for n, _ in items]
    if len(set(names)) != len(names):
        raise ValueError("model names must be unique")
    sketches: list[WeightSketch | None] = [fp.weights for _, fp in items]
    notes = [f"{n}: no weight sketch, not compared" for n, s in zip(names, sketches) if s is None]
    if any(s is not None and s.frame is None for s in sketches):
        notes.append("some fingerprints have no token frame (format version 1): no margin links for them, "
                     "and they are tested against every family")
    m = len(names) * (len(names) - 1) // 2
    views = [None if s is None else pw.View(s) for s in sketches]
    pairs = _search(views, by_floor(m, fdr), progress)
    tested = [p for p in pairs if p.sign is not None]
    adjusted = by_adjust(np.array([p.sign.p_value for p in tested]), m) if tested else np.zeros(0)  # type: ignore[union-attr]
    adj = {(p.i, p.j): float(a) for p, a in zip(tested, adjusted)}
    edges: list[Edge] = []
    fam = _Families(len(names))
    for p in pairs:
        q = adj.get((p.i, p.j))
        t = p.sign.t if p.sign else None
        pv = p.sign.p_value if p.sign else None
        if q is not None and q <= fdr:
            method = EXACT
        elif p.score is not None and p.score >= cal.RELATION_MARGIN_MIN_SCORE:
            method = MARGIN
        else:
            continue
        a, b = sorted((names[p.i], names[p.j]))
        edges.append(Edge(a, b, method, pv, q, t, p.score))
        fam.union(p.i, p.j)
    groups: dict[int, list[str]] = {}
    for i, n in enumerate(names):
        groups.setdefault(fam.find(i), []).append(n)
    families = sorted(groups.values(), key=lambda f: (-len(f), f[0]))
    return Relations(
        models=names, edges=sorted(edges, key=lambda e: (e.a, e.b)), families=families, fdr=fdr,
        controlled=(f"false-discovery rate <= {fdr:g} over all {m} pairs for {EXACT} edges ({FDR_METHOD}, valid "
                    f"under any dependence; untested pairs count as p = 1); {MARGIN} links are not FDR-controlled"),
        method=(f"{EXACT}: p-value bound under the null that {pw.SIGN_TEST_NULL}; {MARGIN}: token-frame score "
                f"T >= {cal.RELATION_MARGIN_MIN_SCORE:g} (measured margin, see provenance.calibration)"),
        pairs_total=m, pairs_tested=len(pairs), notes=notes,
    )


# -- family graph -------------------------------------------------------------------------------

_CELL, _RADIUS, _COLUMNS, _LABEL = 300, 95, 3, 28


def _text(s: str, limit: int = 0) -> str:
    """XML-safe text: markup escaped, characters XML 1.0 forbids replaced, optionally shortened."""
    s = "".join(c if c in "\t\n\r" or 0x20 <= ord(c) < 0xD800 or 0xE000 <= ord(c) < 0xFFFE or ord(c) > 0xFFFF
                else "\ufffd" for c in s)
    if limit and len(s) > limit:
        s = s[: limit - 1] + "\u2026"
    return html.escape(s, quote=True)


def family_svg(relations: Relations) -> str:
    """The family graph as one self-contained inline SVG (no scripts, fonts or links): a cell per family
    of two or more models with its edges (solid: FDR-controlled sign-test edges; dashed: margin links),
    then the unrelated models as a list. Model names are escaped; each node's tooltip is the full name."""
    groups = [f for f in relations.families if len(f) > 1]
    alone = [f[0] for f in relations.families if len(f) == 1]
    rows = -(-len(groups) // _COLUMNS)
    width = _CELL * min(max(len(groups), 1), _COLUMNS)
    list_top = rows * _CELL + 30
    height = list_top + 18 * len(alone) + 20
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="11">'),
           f"<title>{_text(f'{len(groups)} families, {len(alone)} unrelated models, {len(relations.edges)} edges')}</title>"]
    where: dict[str, tuple[float, float]] = {}
    for n, fam in enumerate(groups):
        cx, cy = _CELL * (n % _COLUMNS) + _CELL / 2, _CELL * (n // _COLUMNS) + _CELL / 2
        out.append(f'<rect x="{cx - _CELL / 2 + 4:.0f}" y="{cy - _CELL / 2 + 4:.0f}" width="{_CELL - 8}" '
                   f'height="{_CELL - 8}" rx="8" fill="none" stroke="#ccc"/>')
        for k, name in enumerate(fam):
            angle = 2 * math.pi * k / len(fam) - math.pi / 2
            where[name] = (cx + _RADIUS * math.cos(angle), cy + _RADIUS * math.sin(angle))
    for e in relations.edges:
        (x1, y1), (x2, y2) = where[e.a], where[e.b]
        dash = ' stroke-dasharray="5,4"' if e.method == MARGIN else ""
        p = "" if e.p_value is None else f", p = {e.p_value:.2g}"
        score = "" if e.score is None else f", T = {e.score:.3f}"
        out.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#36c" '
                   f'stroke-width="1.5"{dash}><title>{_text(f"{e.a} - {e.b}: {e.method}{p}{score}")}</title></line>')
    for name, (x, y) in where.items():
        out.append(f'<g><title>{_text(name)}</title><circle cx="{x:.1f}" cy="{y:.1f}" r="6" fill="#36c"/>'
                   f'<text x="{x:.1f}" y="{y - 10:.1f}" text-anchor="middle">{_text(name, _LABEL)}</text></g>')
    if alone:
        out.append(f'<text x="8" y="{list_top - 8}" font-weight="bold">unrelated to every other scanned model</text>')
    for k, name in enumerate(alone):
        y = list_top + 18 * k + 6
        out.append(f'<g><title>{_text(name)}</title><circle cx="14" cy="{y}" r="4" fill="#999"/>'
                   f'<text x="24" y="{y + 4}">{_text(name, 3 * _LABEL)}</text></g>')
    out.append("</svg>")
    return "\n".join(out)
