"""Parse a rendered page with the standard library's HTML parser: which tags and attributes it really has."""

from __future__ import annotations

from html.parser import HTMLParser

#: every element the HTML renderer may emit
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "header", "div", "h1", "h2", "h3", "dl", "dt",
                "dd", "p", "code", "pre", "table", "thead", "tbody", "tr", "th", "td", "span", "i", "strong", "ul", "li",
                "label", "input", "br", "footer", "svg", "rect", "line", "text"}
ALLOWED_ATTRS = {"lang", "charset", "http-equiv", "content", "name", "class", "style", "type", "xmlns", "width",
                 "height", "role", "aria-label", "x", "y", "x1", "x2", "y1", "y2", "fill", "fill-opacity", "stroke",
                 "stroke-width", "stroke-dasharray", "font-size", "text-anchor", "transform"}


class Page(HTMLParser):
    """Tags, attributes and text of a page."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)
