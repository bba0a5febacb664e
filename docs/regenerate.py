"""Write docs/rules.md from the rule table (provenance/knowledge/rules.py); ``--check`` exits 1 when the
committed page is stale instead of writing it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from provenance.report import rules_page

PAGE = Path(__file__).resolve().parent / "rules.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/rules.md is not current")
    text = rules_page.render()
    if parser.parse_args().check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.is_file() else ""
        if current != text:
            print(f"{PAGE} is stale: run python docs/regenerate.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
