"""Every report format, rendered from real audit and compare bodies: schemas, structure, determinism,
and the rule that a finding is in every format or in none."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest

from provenance import REPOSITORY_URL
from provenance.knowledge.licenses import get_license, normalize_license
from provenance.knowledge.rules import RULE_BY_ID, compare_rule
from provenance.report import (
    Format,
    Report,
    ReportMeta,
    anchor_base,
    cyclonedx,
    generated_at,
    html,
    json_,
    make_report,
    render,
    sarif,
    view,
)
from tests.report.htmlcheck import ALLOWED_ATTRS, ALLOWED_TAGS, Page
from tests.report.schemas import validate_cyclonedx, validate_sarif

FORMATS = [f for f in Format if f is not Format.TEXT]
BODIES = ["stories_audit", "hostile_audit", "independent_audit", "compare_same_depth", "compare_other_depth"]


@pytest.fixture(params=BODIES)
def body(request: pytest.FixtureRequest) -> dict[str, Any]:
    return request.getfixturevalue(request.param)


def _report(body: dict[str, Any], root: Path | None = None) -> Report:
    return make_report(body, ["provenance", body["kind"], "model-dir", "--format", "html"], model_root=root)


def test_text_is_drawn_by_the_cli_not_render(stories_audit: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="CLI"):
        render(_report(stories_audit), Format.TEXT)
    with pytest.raises(ValueError):
        render(_report(stories_audit), "pdf")


def test_report_kind_must_match_body(stories_audit: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Report("compare", stories_audit)


def test_generated_at_follows_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert generated_at() == "2023-11-14T22:13:20Z"
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", generated_at())


def test_anchor_base_is_the_model_folder(hostile_folder: Path, tmp_path: Path) -> None:
    assert anchor_base(hostile_folder) == (hostile_folder.as_posix(), "config.json")
    assert anchor_base(tmp_path / "x.gguf") == (tmp_path.as_posix(), "x.gguf")
    assert anchor_base("x.gguf") == (".", "x.gguf")


def test_every_format_renders_every_body(body: dict[str, Any]) -> None:
    for fmt in (f for f in FORMATS if body["kind"] in f.kinds):
        out = render(_report(body), fmt)
        assert out.endswith("\n") and len(out) > 200, fmt
        assert "\x1b" not in out, fmt  # no terminal escapes in files


# -- json ----------------------------------------------------------------------------------------
def test_json_is_deterministic_and_timeless(body: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1")
    first = render(_report(body), "json")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "2000000000")
    assert render(_report(body), "json") == first
    assert first.isascii() and "generated_at" not in first
    data = json.loads(first)
    assert {k: v for k, v in data.items() if k != "meta"} == json.loads(json.dumps(body))
    assert data["meta"] == {"tool": "provenance", "version": data["meta"]["version"],
                            "command": ["provenance", body["kind"], "model-dir", "--format", "html"]}


def test_json_matches_the_shipped_schema(body: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(json_.schema())
    validator.validate(json.loads(render(_report(body), "json")))


def test_schema_rejects_what_it_should(stories_audit: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(json_.schema())
    good = json.loads(render(_report(stories_audit), "json"))
    bad_meta = {**good, "meta": {**good["meta"], "generated_at": "2024-01-01T00:00:00Z"}}
    bad_risk = {**good, "risk": "severe"}
    bad_kind = {**good, "kind": "inspect"}
    no_lineage = {k: v for k, v in good.items() if k != "lineage"}
    for doc in (bad_meta, bad_risk, bad_kind, no_lineage):
        assert not validator.is_valid(doc)


# -- the same findings everywhere ----------------------------------------------------------------------
def test_a_finding_is_in_every_format(hostile_audit: dict[str, Any], hostile_folder: Path) -> None:
    ids = [f["id"] for f in hostile_audit["findings"]]
    assert ids, "the hostile audit must produce findings for this test to mean anything"
    rep = _report(hostile_audit, hostile_folder)
    results = json.loads(render(rep, "sarif"))["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ids
    props = json.loads(render(rep, "cyclonedx"))["metadata"]["component"]["properties"]
    assert [p["value"].split()[0] for p in props if p["name"] == "provenance:finding"] == ids
    assert [f["id"] for f in json.loads(render(rep, "json"))["findings"]] == ids
    for fmt in ("md", "html"):
        text = render(rep, fmt)
        assert all(i in text for i in ids), fmt


# -- sarif --------------------------------------------------------------------------------------------
def test_sarif_is_valid_and_anchored(hostile_audit: dict[str, Any], hostile_folder: Path) -> None:
    doc = json.loads(render(_report(hostile_audit, hostile_folder), "sarif"))
    validate_sarif(doc)
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(dict.fromkeys(f["id"] for f in hostile_audit["findings"]))
    for r in rules:
        assert r["shortDescription"]["text"] and r["fullDescription"]["text"] and r["help"]["text"]
        assert float(r["properties"]["security-severity"]) > 0
    card = (hostile_folder / "README.md").read_text().splitlines()
    for res, f in zip(run["results"], hostile_audit["findings"]):
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == "file://" + quote((hostile_folder / f["anchor"]["path"]).as_posix())
        line = loc["region"]["startLine"]
        if f["anchor"]["field"]:
            assert card[line - 1].startswith(f"{f['anchor']['field']}:")  # the very line of the card
        assert re.fullmatch(r"[0-9a-f]{32}", res["partialFingerprints"][sarif.FINGERPRINT_KEY])


def test_sarif_paths_and_fingerprints_are_stable(hostile_audit: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    finding = {**hostile_audit["findings"][0], "anchor": {"path": "./models/x/README.md", "line": 3, "field": "license"}}
    body = {**hostile_audit, "findings": [finding]}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1")
    a = json.loads(render(_report(body), "sarif"))["runs"][0]["results"][0]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "2")
    moved = {**finding, "anchor": {**finding["anchor"], "line": 9}}
    b = json.loads(render(_report({**body, "findings": [moved]}), "sarif"))["runs"][0]["results"][0]
    assert a["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "models/x/README.md",
                                                                         "uriBaseId": "%SRCROOT%"}
    assert a["partialFingerprints"] == b["partialFingerprints"]  # same finding, line moved: same alert
    other = {**finding, "id": "PROV-LIC-003"}
    c = json.loads(render(_report({**body, "findings": [other]}), "sarif"))["runs"][0]["results"][0]
    assert c["partialFingerprints"] != a["partialFingerprints"]


def test_sarif_unanchored_finding_points_into_the_model_folder(hostile_audit: dict[str, Any],
                                                                hostile_folder: Path) -> None:
    body = {**hostile_audit, "findings": [{**hostile_audit["findings"][0], "anchor": None}]}
    doc = json.loads(render(_report(body, hostile_folder), "sarif"))
    validate_sarif(doc)
    loc = doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"].endswith("/config.json") and loc["region"]["startLine"] == 1


def test_sarif_for_clean_and_compare_bodies_is_valid(stories_audit: dict[str, Any], compare_other_depth: dict[str, Any]) -> None:
    for body in (stories_audit, compare_other_depth):
        doc = json.loads(render(_report(body), "sarif"))
        validate_sarif(doc)
        run = doc["runs"][0]
        assert run["tool"]["driver"]["informationUri"] == REPOSITORY_URL
        assert run["properties"]["verdict"] == view.headline(body).verdict
        for r in run["tool"]["driver"]["rules"]:
            assert r["name"] == RULE_BY_ID[r["id"]].name and r["helpUri"].endswith(f"docs/rules.md#{r['id'].lower()}")
    assert len(json.loads(render(_report(stories_audit), "sarif"))["runs"][0]["results"]) == len(stories_audit["findings"])


def test_sarif_compare_verdict_is_its_one_result(compare_same_depth: dict[str, Any], compare_other_depth: dict[str, Any]) -> None:
    """A comparison has no findings; its verdict is one result under the PROV-CMP rule of that verdict."""
    for body in (compare_same_depth, compare_other_depth):
        run = json.loads(render(_report(body), "sarif"))["runs"][0]
        (res,) = run["results"]
        doc = compare_rule(body["verdict"])
        assert (res["ruleId"], run["tool"]["driver"]["rules"][0]["id"]) == (doc.id, doc.id)
        assert res["kind"] == {"derived": "fail", "independent": "pass", "inconclusive": "review"}[body["verdict"]]
        assert view.headline(body).title in res["message"]["text"]
        assert "baselineState" not in res


# -- cyclonedx ----------------------------------------------------------------------------------------
def test_cyclonedx_is_valid_and_deterministic(body: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    text = render(_report(body), "cyclonedx")
    doc = json.loads(text)
    validate_cyclonedx(doc)
    assert render(_report(body), "cyclonedx") == text
    assert doc["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1800000000")
    assert json.loads(render(_report(body), "cyclonedx"))["serialNumber"] == doc["serialNumber"]
    assert doc["metadata"]["component"]["type"] == "machine-learning-model"


def test_cyclonedx_audit_model_component(stories_audit: dict[str, Any], hostile_audit: dict[str, Any]) -> None:
    comp = cyclonedx.to_data(_report(stories_audit))["metadata"]["component"]
    files = stories_audit["model"]["files"]
    assert comp["hashes"] == [{"alg": "SHA-256", "content": files[0]["sha256"]}]
    assert comp["modelCard"]["modelParameters"]["architectureFamily"] == "llama"
    methods = comp["evidence"]["identity"][0]["methods"]
    assert len(methods) == len(stories_audit["lineage"]["evidence"])
    assert all(m["confidence"] == cyclonedx.CONFIDENCE[e["strength"]]
               for m, e in zip(methods, stories_audit["lineage"]["evidence"]))
    # a multi-file model: one file component per file, each with its hash
    many = cyclonedx.to_data(_report(hostile_audit))["metadata"]["component"]
    assert [c["hashes"][0]["content"] for c in many["components"]] == [f["sha256"] for f in hostile_audit["model"]["files"]]
    lic = hostile_audit["license"]
    acks = {x["license"]["acknowledgement"]: x["license"] for x in many["licenses"]}
    assert acks["declared"]["name"] == lic["declared"]  # unrecognised: kept verbatim as a name
    assert acks["concluded"] == {"id": get_license(normalize_license(lic["concluded"])).spdx, "acknowledgement": "concluded"}


def test_cyclonedx_pedigree(hostile_audit: dict[str, Any], compare_same_depth: dict[str, Any],
                            independent_audit: dict[str, Any]) -> None:
    derived = cyclonedx.to_data(_report(hostile_audit))["metadata"]["component"]
    assert hostile_audit["lineage"]["verdict"] == "derived"
    ancestor = derived["pedigree"]["ancestors"][0]
    assert ancestor["name"] == hostile_audit["lineage"]["base"]
    assert ancestor["evidence"]["identity"][0]["confidence"] == hostile_audit["lineage"]["score"]
    # independent of SmolLM2 and stories260K, but tokenizer-less: gemma and Qwen cannot be compared (PROV-LIN-006)
    assert independent_audit["lineage"]["verdict"] == "unverified"
    assert "pedigree" not in cyclonedx.to_data(_report(independent_audit))["metadata"]["component"]
    comp = cyclonedx.to_data(_report(compare_same_depth))
    assert compare_same_depth["verdict"] == "derived"
    assert "ancestors" not in comp["metadata"]["component"]["pedigree"]  # direction unknown
    assert [v["name"] for v in comp["metadata"]["component"]["pedigree"]["variants"]] == [comp["components"][0]["name"]]


# -- markdown and html --------------------------------------------------------------------------------
def test_markdown_structure(stories_audit: dict[str, Any], compare_same_depth: dict[str, Any]) -> None:
    md = render(_report(stories_audit), "md")
    heads = [line for line in md.splitlines() if line.startswith("#")]
    assert heads[0].startswith("# provenance audit: ")
    assert heads[1] == "## Findings" and heads[-1] == "## License obligations"
    assert {"## Model", "## Evidence", "## References checked", "## Per-layer similarity"} <= set(heads)
    refs = stories_audit["lineage"]["references"]
    assert sum(1 for h in heads if h.startswith("## Behavioural probes: ")) == sum(1 for r in refs if r["behaviour"])
    assert md.count("- [ ] ") == len(stories_audit["license"]["obligations"])
    assert all(f"`{e['name']}`" in md for e in stories_audit["lineage"]["evidence"])
    cmp_md = render(_report(compare_same_depth), "md")
    assert "## Per-layer similarity" in cmp_md
    assert view.sparkline([p["similarity"] for p in compare_same_depth["layers"]]) in cmp_md


def test_html_is_self_contained(body: dict[str, Any]) -> None:
    page = render(_report(body), "html")
    assert page.startswith("<!DOCTYPE html>")
    assert "default-src 'none'" in page
    parsed = Page(page)
    assert set(parsed.tags) <= ALLOWED_TAGS  # no script, link, img, iframe, object, a
    assert {k for k, _ in parsed.attrs} <= ALLOWED_ATTRS  # no src, href, on* handlers
    # the only URL in an attribute is the SVG namespace, a name rather than a fetch
    assert {v for _, v in parsed.attrs if v and "://" in v} <= {"http://www.w3.org/2000/svg"}
    style = page.split("<style>")[1].split("</style>")[0]
    assert "url(" not in style and "@import" not in style


def test_html_layer_bar_row(compare_same_depth: dict[str, Any], compare_other_depth: dict[str, Any]) -> None:
    same = render(_report(compare_same_depth), "html")
    assert 'aria-label="per-layer similarity"' in same and "Layer pairs" not in same
    assert len(re.findall(r"<title>A layer \d+ / B layer \d+: ", same)) == len(compare_same_depth["layers"])
    # without the A x B matrix, the matched pairs of a pruned model are drawn as bars and listed
    no_matrix = {k: v for k, v in compare_other_depth.items() if k != "layer_matrix"}
    other = render(_report(no_matrix), "html")
    unmatched = [p for p in no_matrix["layers"] if not p["matched"]]
    assert unmatched, "dropping a layer must leave an A layer without a partner"
    assert other.count("(not matched)</title>") == len(unmatched)
    assert html.esc(view.layer_plots(no_matrix)[0].pair_list("→")) in other


def test_html_layer_heatmap_when_depths_differ(compare_other_depth: dict[str, Any]) -> None:
    other = render(_report(compare_other_depth), "html")
    n_a, n_b = len(compare_other_depth["layer_matrix"]), len(compare_other_depth["layer_matrix"][0])
    assert n_a != n_b
    assert 'aria-label="layer similarity heatmap"' in other
    assert len(re.findall(r"<title>A \d+ / B \d+: ", other)) == n_a * n_b
    assert other.count('stroke="#f79009"') == len(compare_other_depth["layers"])


def test_html_sections(hostile_audit: dict[str, Any]) -> None:
    page = html.render(_report(hostile_audit))
    for section in ("Findings", "Model", "Evidence", "License obligations"):
        assert f"<h2>{section}</h2>" in page
    assert page.count('type="checkbox"') == len(hostile_audit["license"]["obligations"])
    assert page.count('class="finding sev-') == len(hostile_audit["findings"])
    assert 'class="badge s-weak"' in page and 'class="banner tone-' in page
    assert "provenance audit model-dir --format html" in page


def test_meta_version_is_the_package_version() -> None:
    from provenance import __version__

    assert ReportMeta().version == __version__
