"""The report model: what every renderer takes (:class:`Report`, :class:`ReportMeta`), and the formats.

A report wraps the JSON contract of an audit, a comparison or a scan summary (``body``) with facts about the run; the
renderers in :mod:`provenance.report` lay the same body out in each format.
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from provenance import __version__
from provenance.fileio import iso_time, source_date

KINDS = ("audit", "compare", "scan")


class Format(str, Enum):
    TEXT = "text"
    JSON = "json"
    MD = "md"
    HTML = "html"
    SARIF = "sarif"
    CYCLONEDX = "cyclonedx"
    INTOTO = "intoto"
    SPDX = "spdx"

    @property
    def suffix(self) -> str:
        """The usual file name ending for this format."""
        return _SUFFIX[self]

    @property
    def kinds(self) -> tuple[str, ...]:
        """The report kinds this format can render (an in-toto statement needs the audit's file digests;
        a scan summary has no in-toto or SPDX form)."""
        if self is Format.INTOTO:
            return ("audit",)
        return tuple(k for k in KINDS if k != "scan") if self is Format.SPDX else KINDS


_SUFFIX = {Format.TEXT: ".txt", Format.JSON: ".json", Format.MD: ".md", Format.HTML: ".html",
           Format.SARIF: ".sarif", Format.CYCLONEDX: ".cdx.json",
           Format.INTOTO: ".intoto.json", Format.SPDX: ".spdx.json"}


@dataclass(frozen=True)
class ReportMeta:
    """Facts about the run, not about the model.

    Attributes:
        command: the exact argv of the invocation (``["provenance", "audit", "models/x"]``).
        generated_at: UTC ISO-8601 time (``SOURCE_DATE_EPOCH`` when set). Shown by the human formats
            and the BOM; never by the JSON renderer, whose bytes must depend on the inputs only.
        anchor_base: the model's folder as the command line named it (``models/x``, ``.``): finding
            anchors name files relative to it, and SARIF locations join the two.
        default_anchor: where a finding without an anchor points, relative to ``anchor_base``: a text
            file of the folder (``config.json``, else the model card) or the model file itself.
            Both are decided once by :func:`make_report`, so renderers never touch the disk.
    """

    command: tuple[str, ...] = ()
    generated_at: str = ""
    anchor_base: str | None = None
    default_anchor: str | None = None
    tool: str = "provenance"
    version: str = __version__

    def to_dict(self, with_time: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"tool": self.tool, "version": self.version, "command": list(self.command)}
        if with_time:
            out["generated_at"] = self.generated_at
        return out


@dataclass(frozen=True)
class Report:
    """What every renderer takes: ``kind`` (``audit`` | ``compare``), the JSON ``body`` and ``meta``."""

    kind: str
    body: dict[str, Any]
    meta: ReportMeta = field(default_factory=ReportMeta)

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.body.get("kind") != self.kind:
            raise ValueError(f"report kind {self.kind!r} does not match body kind {self.body.get('kind')!r}")


def generated_at() -> str:
    """Now in UTC as ``YYYY-MM-DDTHH:MM:SSZ``, or the time ``SOURCE_DATE_EPOCH`` names (reproducible builds)."""
    return iso_time(source_date() or _dt.datetime.now(_dt.UTC))


def anchor_base(model: str | os.PathLike[str]) -> tuple[str, str]:
    """``(folder, default anchor)`` for a model path: a folder and its ``config.json`` (else its model
    card, else the folder itself), or a file's folder and the file's name."""
    root = Path(model)
    if root.is_dir():
        names = ("config.json", "README.md", "params.json", "adapter_config.json")
        return root.as_posix(), next((n for n in names if (root / n).is_file()), ".")
    return root.parent.as_posix(), root.name


def make_report(body: dict[str, Any], command: list[str] | tuple[str, ...] = (),
                model_root: str | os.PathLike[str] | None = None) -> Report:
    """Wrap an audit or compare body (its ``kind`` key says which) for rendering. ``model_root`` is the
    model path as the user gave it (the audited model; the candidate B of a compare)."""
    base, default = anchor_base(model_root) if model_root is not None else (None, None)
    return Report(str(body.get("kind")), body, ReportMeta(tuple(str(a) for a in command), generated_at(), base, default))
