"""The public Python API: what a program that embeds ``provenance`` imports (the CLI is one such program).

    from provenance.api import audit, compare_models, open_checkpoint, Fingerprint

Everything here is stable across minor versions; other modules are internal and may move. Importing
this module loads torch (the engine and the weight evidence need it); ``import provenance`` alone does not.
"""

from __future__ import annotations

from provenance import __version__
from provenance.audit import AuditResult, ReferenceCheck, audit
from provenance.checkpoint import detect_format, open_checkpoint
from provenance.checkpoint.base import Checkpoint, DeclaredMetadata
from provenance.compare import compare_models
from provenance.describe import describe_checkpoint
from provenance.domain import EvidenceKind, Progress, Severity, Strength, Verdict
from provenance.errors import FormatError, ProvenanceError, UnsupportedError
from provenance.evidence import Evidence
from provenance.fingerprint.format import Fingerprint
from provenance.fingerprint.registry import Entry as RegistryEntry
from provenance.fingerprint.registry import list_entries
from provenance.knowledge.rules import RULES, Finding, Rule
from provenance.modelargs import ModelArgs
from provenance.report import Format, Report, make_report, render

__all__ = [
    "RULES",
    "AuditResult",
    "Checkpoint",
    "DeclaredMetadata",
    "Evidence",
    "EvidenceKind",
    "Finding",
    "Fingerprint",
    "Format",
    "FormatError",
    "ModelArgs",
    "Progress",
    "ProvenanceError",
    "ReferenceCheck",
    "RegistryEntry",
    "Report",
    "Rule",
    "Severity",
    "Strength",
    "UnsupportedError",
    "Verdict",
    "__version__",
    "audit",
    "compare_models",
    "describe_checkpoint",
    "detect_format",
    "list_entries",
    "make_report",
    "open_checkpoint",
    "render",
]
