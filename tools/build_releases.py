"""Build ``provenance/knowledge/releases.json`` from the hand-kept table in ``tools/release_facts.py``
and facts computed from the real reference files in ``../shared`` (tokenizer hashes, license-text
shingles). A developer tool: the shipped package only reads the result.

    python tools/build_releases.py build     # regenerate provenance/knowledge/releases.json
    python tools/build_releases.py check     # exit 1 if the committed file is stale
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provenance.errors import FormatError
from provenance.knowledge.license_text import build_text_fingerprints
from provenance.knowledge.releases import SCHEMA_VERSION, data_path
from provenance.tokenizer.files import load_tokenizer
from tools import release_facts as facts

SHARED = ROOT.parent / "shared"


def build_knowledge(shared: Path = SHARED) -> dict[str, Any]:
    """Assemble releases.json from :mod:`tools.release_facts` and the reference files in ``shared``."""
    families = {f["id"]: f for f in facts.FAMILIES}
    releases = []
    for r in facts.RELEASES:
        fam = families[r["family"]]
        releases.append({
            "id": r["id"], "family": r["family"], "name": r["name"], "args": r["args"],
            "tokenizer": r["tokenizer"], "license": r.get("license", fam["license"]),
            "released": r.get("released", fam["released"]), "hf": r["hf"],
            "community_hf": r.get("community_hf", []), "multimodal": r.get("multimodal", False),
            "extra": r.get("extra", {}), "sources": r["sources"], "unverified": r["unverified"],
        })
    tokenizers = [_tokenizer_facts(t, shared, [r["id"] for r in releases if r["tokenizer"] == t["id"]])
                  for t in facts.TOKENIZERS]
    return {
        "schema": SCHEMA_VERSION,
        "generated_by": "python tools/build_releases.py build",
        "families": list(families.values()),
        "releases": releases,
        "tokenizers": tokenizers,
        "license_texts": build_text_fingerprints(shared / "data" / "licenses"),
        "sources": facts.SOURCES,
    }


def _tokenizer_facts(t: dict[str, Any], shared: Path, release_ids: list[str]) -> dict[str, Any]:
    out = {k: t[k] for k in ("id", "name", "vocab_size", "file", "known_md5", "reused_by", "notes")}
    out.update(releases=release_ids, sha256=None, size=None, identity=None, regular_identity=None)
    if t["file"] is None:
        return out
    path = shared / "data" / "tokenizers" / t["file"]
    blob = path.read_bytes()
    tok = load_tokenizer(path)
    if tok.vocab_size != t["vocab_size"]:
        raise FormatError(f"tokenizer has {tok.vocab_size} tokens, the table says {t['vocab_size']}", path)
    md5 = hashlib.md5(blob).hexdigest()
    if t["known_md5"] and md5 not in t["known_md5"]:
        raise FormatError(f"md5 {md5} differs from the published {sorted(t['known_md5'])}", path)
    out.update(sha256=hashlib.sha256(blob).hexdigest(), size=len(blob), identity=tok.identity,
               regular_identity=tok.regular_identity)
    return out


def dump_knowledge(data: dict[str, Any]) -> str:
    """Deterministic JSON text (same input, same bytes)."""
    return json.dumps(data, indent=1, ensure_ascii=True, allow_nan=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``build`` writes releases.json; ``check`` exits 1 when the committed file differs from a fresh build."""
    p = argparse.ArgumentParser(prog="python tools/build_releases.py", description=main.__doc__)
    p.add_argument("command", choices=["build", "check"])
    p.add_argument("--shared", type=Path, default=SHARED, help="the shared reference folder (default ../shared)")
    p.add_argument("--output", type=Path, default=data_path())
    ns = p.parse_args(argv)
    if not (ns.shared / "data").is_dir():
        print(f"{ns.shared}/data not found: the build needs the reference files", file=sys.stderr)
        return 2
    text = dump_knowledge(build_knowledge(ns.shared))
    if ns.command == "check":
        current = ns.output.read_text(encoding="utf-8") if ns.output.exists() else ""
        if current != text:
            print(f"{ns.output} is stale: run python tools/build_releases.py build", file=sys.stderr)
            return 1
        return 0
    ns.output.parent.mkdir(parents=True, exist_ok=True)
    ns.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
