"""Metadata evidence: what the model *says* about its lineage (weak: written by whoever ships it)."""

from __future__ import annotations

from provenance.checkpoint.base import DeclaredMetadata
from provenance.domain import Verdict
from provenance.evidence import Evidence, Strength
from provenance.knowledge.licenses import declared_license, get_license
from provenance.knowledge.releases import Knowledge, resolve_release


def metadata_evidence(meta: DeclaredMetadata, knowledge: Knowledge) -> Evidence:
    """``metadata.declared``: declared base_model resolved to Meta releases, declared license normalised.

    Value: 1.0 when base_model names a Meta release, 0.5 when only the license is Meta's, 0.0 otherwise.
    """
    kn = knowledge
    releases = [r for r in (resolve_release(b, kn) for b in meta.base_model) if r is not None]
    lic_id = declared_license(meta)
    lic = get_license(lic_id)
    details = {"declared_base": list(meta.base_model), "releases": [r.id for r in releases],
               "license": lic_id, "license_raw": meta.license, "license_name": meta.license_name}
    if releases:
        names = ", ".join(dict.fromkeys(r.name for r in releases))
        return Evidence("metadata.declared", "metadata", Strength.WEAK, 1.0, Verdict.DERIVED,
                        f"declares base model {names} (weak: metadata is written by the publisher)", details)
    if lic is not None and lic.is_meta:
        return Evidence("metadata.declared", "metadata", Strength.WEAK, 0.5, Verdict.DERIVED,
                        f"declares the {lic.name} but no Meta base model (weak)", details)
    said = f"license {lic_id}" if lic_id else "no recognised license"
    base = f"base model {', '.join(meta.base_model)}" if meta.base_model else "no base model"
    return Evidence("metadata.declared", "metadata", Strength.WEAK, 0.0, None,
                    f"declares {base} and {said}; nothing points at a Meta release", details)
