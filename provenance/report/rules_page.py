"""``docs/rules.md``: every rule of :mod:`provenance.rule_docs` with what triggers it, why it matters
and what to do. SARIF's ``helpUri`` points at the ``### PROV-...`` headings of this page, so it is
generated from the same table (``python docs/regenerate.py``; a test checks the committed page is current).
"""

from __future__ import annotations

from provenance.rule_docs import RULES, RULES_PAGE, RuleDoc

_GROUPS = (("LIN", "Lineage"), ("LIC", "Licenses"), ("OK", "Passes"), ("CMP", "Comparison verdicts (`provenance compare`)"))


def _group(r: RuleDoc) -> str:
    return r.id.split("-")[1]


def _section(r: RuleDoc) -> str:
    return (f"### {r.id}\n\n**{r.name}** · {r.title} · default severity `{r.severity.value}`\n\n"
            f"- **Trigger:** {r.trigger}\n- **Why it matters:** {r.why}\n- **What to do:** {r.action}\n")


def render() -> str:
    """The page's Markdown text."""
    intro = (f"# Rules\n\n<!-- {RULES_PAGE} is generated from provenance/rule_docs.py by "
             "`python docs/regenerate.py`: edit the table, not this page -->\n\n"
             "Every finding of `provenance audit` carries one of these stable ids, and `provenance compare` reports "
             "its verdict under a `PROV-CMP` id. A finding's severity is its rule's default unless the rule says "
             "otherwise. In SARIF each rule's `helpUri` links to its section here.\n\n"
             "| id | name | severity | title |\n|---|---|---|---|\n")
    out = [intro]
    out += [f"| [{r.id}](#{r.anchor}) | {r.name} | {r.severity.value} | {r.title} |\n" for r in RULES]
    for key, heading in _GROUPS:
        out.append(f"\n## {heading}\n")
        out += ["\n" + _section(r) for r in RULES if _group(r) == key]
    return "".join(out)
