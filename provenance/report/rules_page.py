"""``docs/rules.md``: every rule of :mod:`provenance.knowledge.rules` with what triggers it, why it matters
and what to do. SARIF's ``helpUri`` points at the ``### PROV-...`` headings of this page, so it is
generated from the same table (``python docs/regenerate.py``; a test checks the committed page is current).
"""

from __future__ import annotations

from provenance.knowledge.rules import COMPARE_RULES, RULES, RULES_PAGE, Rule

_GROUPS = (("LIN", "Lineage"), ("LIC", "Licenses"), ("INT", "Integrity (model signing; not lineage)"), ("OK", "Passes"),
           ("CMP", "Comparison verdicts (`provenance compare`)"))


def _group(r: Rule) -> str:
    return r.id.split("-")[1]


def _section(r: Rule) -> str:
    return (f"### {r.id}\n\n**{r.name}** · {r.title} · severity `{r.severity.value}`\n\n"
            f"- **Trigger:** {r.trigger}\n- **Why it matters:** {r.why}\n- **What to do:** {r.action}\n")


def render() -> str:
    """The page's Markdown text."""
    intro = (f"# Rules\n\n<!-- {RULES_PAGE} is generated from the table in provenance/knowledge/rules.py by "
             "`python docs/regenerate.py`: edit the table, not this page -->\n\n"
             "Every finding of `provenance audit` carries one of these stable ids, and `provenance compare` reports "
             "its verdict under a `PROV-CMP` id. A rule's severity is its worst case (a few report a milder one where "
             "the trigger says so). In SARIF each rule's `helpUri` links to its section here.\n\n"
             "| id | name | severity | title |\n|---|---|---|---|\n")
    out = [intro]
    rules = RULES + COMPARE_RULES
    out += [f"| [{r.id}](#{r.anchor}) | {r.name} | {r.severity.value} | {r.title} |\n" for r in rules]
    for key, heading in _GROUPS:
        out.append(f"\n## {heading}\n")
        out += ["\n" + _section(r) for r in rules if _group(r) == key]
    return "".join(out)
