"""A hostile model card cannot inject markup into HTML or Markdown, nor escapes into the terminal."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from rich.console import Console

from provenance.cli import terminal
from provenance.report import make_report, render
from tests.report.bodies import HOSTILE
from tests.report.htmlcheck import ALLOWED_TAGS, Page

NAME = HOSTILE["model_name"]
VISIBLE = NAME.replace("\x1b", "")  # what a reader should see: the text, without the escape bytes


def _report(body: dict[str, Any], root: Path) -> Any:
    return make_report(body, ["provenance", "audit", str(root)], model_root=root)


def test_the_hostile_strings_reach_the_body(hostile_audit: dict[str, Any]) -> None:
    """Guard: the loader really passed the card's strings through, so the tests below mean something."""
    assert hostile_audit["model"]["declared"]["name"] == NAME
    assert hostile_audit["license"]["declared"] == HOSTILE["license"]


def test_html_shows_hostile_text_as_text(hostile_audit: dict[str, Any], hostile_folder: Path) -> None:
    page = render(_report(hostile_audit, hostile_folder), "html")
    parsed = Page(page)
    assert set(parsed.tags) <= ALLOWED_TAGS
    text = "".join(parsed.text)
    assert VISIBLE in text and HOSTILE["license"] in text  # shown literally...
    assert "\x1b" not in page and "\u202e" not in page  # ...without control or bidi characters


def test_markdown_renders_hostile_text_inert(hostile_audit: dict[str, Any], hostile_folder: Path) -> None:
    md = render(_report(hostile_audit, hostile_folder), "md")
    assert "\x1b" not in md and "\u202e" not in md
    # a CommonMark renderer with raw HTML enabled: any injected tag, link or image would show up here
    rendered = MarkdownIt("commonmark", {"html": True}).enable("table").render(md)
    parsed = Page(rendered)
    assert not set(parsed.tags) & {"script", "img", "a", "iframe"}
    assert {k for k, _ in parsed.attrs} <= {"class"}
    text = "".join(parsed.text).replace("\u200b", "")
    assert VISIBLE in text and HOSTILE["license"] in text
    # GitHub's extensions: bare URLs, www. links and @mentions are broken by a zero-width space
    for needle in ("http://evil", "www.evil", "@octocat"):
        assert needle not in md, needle
    # the model table keeps two columns although the name contains a pipe
    name_row = next(r for r in rendered.split("<tr>") if r.lstrip().startswith("<td>name</td>"))
    assert name_row.count("<td>") == 2


def test_sarif_and_bom_carry_no_control_characters(hostile_audit: dict[str, Any], hostile_folder: Path) -> None:
    for fmt in ("sarif", "cyclonedx", "json"):
        text = render(_report(hostile_audit, hostile_folder), fmt)
        decoded = json.dumps(json.loads(text), ensure_ascii=False)
        if fmt == "json":
            continue  # the JSON contract carries the body verbatim (\u-escaped); consumers escape
        assert "\x1b" not in decoded and "\u202e" not in decoded, fmt
    sarif = json.loads(render(_report(hostile_audit, hostile_folder), "sarif"))
    for rule in sarif["runs"][0]["tool"]["driver"]["rules"]:
        md = MarkdownIt("commonmark", {"html": True}).render(rule["help"]["markdown"])
        assert not set(Page(md).tags) & {"script", "img", "a"}


def test_terminal_prints_hostile_text_without_escapes_or_markup(hostile_audit: dict[str, Any]) -> None:
    buf = io.StringIO()
    terminal.render_audit(Console(file=buf, force_terminal=True, color_system="truecolor", width=120), hostile_audit)
    out = buf.getvalue()
    assert "\x1b[31mRED" not in out and "\u202e" not in out
    assert "[bold red]rich[/bold red]" in out  # rich markup in a name is printed, not interpreted
    plain = io.StringIO()
    terminal.render_audit(Console(file=plain, width=200), hostile_audit)
    assert "\x1b" not in plain.getvalue()
    assert "<script>alert(1)</script>" in plain.getvalue()
