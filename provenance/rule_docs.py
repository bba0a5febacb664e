"""Every rule id a report can carry, one row each: its friendly name, default severity and its
documentation (what triggers it, why it matters, what to do).

The table is the one source for the rule metadata of the SARIF log (``name``, ``shortDescription``,
``helpUri``) and for ``docs/rules.md`` (:func:`provenance.report.rules_page.render`), whose
``### PROV-...`` headings are the anchors ``helpUri`` points at. The findings themselves are made by
:mod:`provenance.risk` and :mod:`provenance.audit`; a test checks that every id they can emit has a
row here and every row is emitted somewhere.

``PROV-CMP-*`` are the verdicts of ``provenance compare`` as SARIF results (a comparison has no
findings of its own; :func:`compare_rule` maps its verdict to one).
"""

from __future__ import annotations

from dataclasses import dataclass

from provenance.domain import Severity

#: Where the project lives. No public repository exists yet: this placeholder is the one place to
#: change (SARIF ``informationUri`` and every rule's ``helpUri`` are built from it).
REPOSITORY_URL = "https://github.com/your-org/provenance"
#: The generated page listing every rule, relative to the repository root.
RULES_PAGE = "docs/rules.md"


@dataclass(frozen=True)
class RuleDoc:
    """One rule: ``id`` (``PROV-LIN-002``), ``name`` (PascalCase, SARIF's friendly name), ``severity``
    (the default: a few rules choose per finding), ``title`` (one line), ``trigger``, ``why``, ``action``."""

    id: str
    name: str
    severity: Severity
    title: str
    trigger: str
    why: str
    action: str

    @property
    def anchor(self) -> str:
        """The heading anchor of this rule on :data:`RULES_PAGE` (GitHub lower-cases heading text)."""
        return self.id.lower()

    @property
    def help_uri(self) -> str:
        return f"{REPOSITORY_URL}/blob/main/{RULES_PAGE}#{self.anchor}"


_META = "Meta's license"

RULES: tuple[RuleDoc, ...] = (
    # -- lineage -------------------------------------------------------------------------------------
    RuleDoc("PROV-LIN-001", "UnverifiedMetaResemblance", Severity.MEDIUM, "Unverified: resembles a Meta release",
            "Weak evidence (architecture, tokenizer or declared metadata) points at a Meta release whose weight "
            "fingerprint is not installed, so the weights could not be compared with it.",
            "Independent models copy Llama's architecture and tokenizer all the time (TinyLlama, Yi), so the "
            "resemblance proves nothing; but if the weights do descend from that release, " + _META + " governs "
            "the model.",
            "Fingerprint a licensed copy of the release once (`provenance registry add /path/to/Llama-2-7b-hf "
            "--name llama-2-7b`, the finding names the exact command) and audit again."),
    RuleDoc("PROV-LIN-002", "UndeclaredLlamaDerivative", Severity.HIGH, "Undeclared Llama derivative",
            "The weights descend from a Llama release, but neither `base_model` nor the declared license says so.",
            "Meta's license applies to derivatives whatever the model card says; users relying on the card "
            "believe they may use the model under other terms.",
            "Declare the Llama `base_model` and license in the model card and meet the obligations the report lists."),
    RuleDoc("PROV-LIN-003", "DeclaredBaseMismatch", Severity.MEDIUM, "Declared base differs from the weights",
            "`base_model` names Meta releases, but the weights descend from another Llama family.",
            "The license and obligations follow the family the weights come from, not the one declared.",
            "Correct `base_model` and the license to the family the weights descend from."),
    RuleDoc("PROV-LIN-004", "UnsupportedLlamaClaim", Severity.LOW, "Declared Llama lineage not supported by the weights",
            "`base_model` or the license declares Llama lineage, but the weights are independent of every Meta "
            "reference checked.",
            "A wrong declaration misleads users about the model's terms, or hides that the weights were replaced.",
            "Correct the declaration if it is wrong; if it is right, the reference checked may be the wrong release."),
    RuleDoc("PROV-LIN-005", "AdapterLineageUnverifiable", Severity.MEDIUM, "LoRA adapter: lineage not verifiable alone",
            "The audited model is a LoRA adapter: it holds weight deltas only.",
            "The license and obligations of the adapter's base model apply to any use of it, and the deltas alone "
            "cannot show which base that is.",
            "Audit the base model the adapter names (or the model with the adapter merged)."),
    # -- licenses under a governing Meta license ---------------------------------------------------------
    RuleDoc("PROV-LIC-001", "LlamaOneDerivative", Severity.CRITICAL, "Weights descend from LLaMA-1",
            "The weights descend from a LLaMA-1 release.",
            "LLaMA-1 was released for non-commercial research only and its redistribution was never granted.",
            "Do not ship the model or use it commercially; retrain from a permissively licensed base."),
    RuleDoc("PROV-LIC-002", "DeclaresLlamaOneBase", Severity.HIGH, "Declares a LLaMA-1 base",
            "`base_model` names a LLaMA-1 release and the weights were not shown independent of it.",
            "If true, the model is research-only and may not be redistributed.",
            "Verify the lineage from the weights (fingerprint the release); if it holds, treat the model as "
            "research-only."),
    RuleDoc("PROV-LIC-003", "DeclaredLicenseConflict", Severity.HIGH, "Declared license conflicts with the Llama license",
            "The governing license is Meta's (the model derives from a Llama release) but the model declares a "
            "non-Meta license such as apache-2.0.",
            "A derivative cannot relicense Meta's materials; users trusting the declared license break Meta's "
            "terms (naming, attribution, acceptable use, the 700M-user clause).",
            "Declare the governing Llama license (its Hugging Face id is in the finding)."),
    RuleDoc("PROV-LIC-004", "LlamaLicenseVersionMismatch", Severity.MEDIUM, "Declared Llama license of another version",
            "The model declares a Meta license of another Llama version than the one governing its weights.",
            "Each Llama version has its own terms (naming rules, EU restriction, acceptable use policy).",
            "Declare the governing license id."),
    RuleDoc("PROV-LIC-005", "LlamaLicenseUndeclared", Severity.MEDIUM, "No Llama license declared",
            "`base_model` names a Llama release but the model declares no recognised license.",
            "Users cannot tell from the card that Meta's terms apply.",
            "Declare the governing license id."),
    RuleDoc("PROV-LIC-006", "LlamaNamingRule", Severity.MEDIUM, "Name does not begin with \"Llama\"",
            "A Llama 3.x or 4 derivative whose name does not begin with \"Llama\" (\"Llama 3\" for Llama 3).",
            "The Llama 3 and later licenses (section 1.b.i) require a distributed model built with Llama to "
            "carry \"Llama\" at the beginning of its name.",
            "Rename the model so its name begins with the required prefix."),
    RuleDoc("PROV-LIC-007", "MissingLlamaNotice", Severity.MEDIUM, "Attribution Notice file missing",
            "A Llama 2 or later derivative ships without a Notice file carrying Meta's attribution sentence.",
            "The license (section 1.b.iii) requires the Notice in every distributed copy.",
            "Add a NOTICE file with the sentence the finding quotes."),
    RuleDoc("PROV-LIC-008", "MissingLicenseFile", Severity.MEDIUM, "License agreement not shipped",
            "A Llama 2 or later derivative ships without a license file.",
            "The license (section 1.b.i) requires giving a copy of the agreement with the model.",
            "Ship the governing license text as LICENSE."),
    RuleDoc("PROV-LIC-009", "WrongLicenseFile", Severity.MEDIUM, "Shipped license file is not the governing license",
            "The license file beside the model is recognised as another license than the governing one.",
            "Recipients read the shipped file as the model's terms; it must be the agreement that applies.",
            "Replace it with the governing license text."),
    RuleDoc("PROV-LIC-010", "EuMultimodalRestriction", Severity.LOW, "Multimodal Llama: no rights for EU-domiciled licensees",
            "The model is (or declares) a multimodal Llama 3.2 or Llama 4 release.",
            "Their acceptable use policy withholds the license for the multimodal models from individuals and "
            "companies domiciled in the EU (end users of products excepted).",
            "Confirm your organisation is not EU-domiciled before using or distributing the model."),
    # -- no Meta license governs ------------------------------------------------------------------
    RuleDoc("PROV-LIC-011", "NonCommercialLicense", Severity.LOW, "Declared license forbids commercial use",
            "No Meta license governs and the declared license forbids commercial use.",
            "Commercial use breaks the license.",
            "Use the model for non-commercial purposes only, or find a differently licensed one."),
    RuleDoc("PROV-LIC-012", "NoLicenseDeclared", Severity.LOW, "No license declared",
            "No Meta license governs and the model declares no recognised license.",
            "Without a license, no right to use or redistribute the model is granted; its terms are unknown.",
            "Find the model's license and record it in the model card."),
    RuleDoc("PROV-LIC-013", "LicenseFileMismatch", Severity.LOW, "License file and declared license disagree",
            "No Meta license governs and the license file beside the model reads as another license than the "
            "one declared.",
            "One of the two is wrong, and users cannot tell which terms apply.",
            "Make the declaration and the file agree."),
    RuleDoc("PROV-LIC-014", "DerivativeWithoutLicense", Severity.LOW, "Derivative declares no license",
            "The weights descend from a (non-Meta) registry reference and the model declares no license.",
            "The reference's terms apply to its derivatives and should be stated.",
            "Declare the reference's license (the finding names it)."),
    RuleDoc("PROV-LIC-015", "DerivativeLicenseDiffers", Severity.LOW, "Declared license differs from the reference's",
            "The weights descend from a (non-Meta) registry reference whose license differs from the declared "
            "one; medium when the reference forbids commercial use and the declaration allows it.",
            "A derivative can be relicensed only as far as the reference's license permits.",
            "Check that the reference's license permits the relicensing, or declare the reference's license."),
    # -- passes ----------------------------------------------------------------------------------------
    RuleDoc("PROV-OK-001", "IndependentPermissive", Severity.NONE, "Independent weights, accurate permissive license",
            "The weights are independent of every reference checked and the declared permissive license agrees "
            "with what ships.",
            "Nothing to fix: this pass result records what was checked.",
            "None."),
    RuleDoc("PROV-OK-002", "DerivativeLicenseMatches", Severity.NONE, "Derivative of a registry reference with its license",
            "The weights descend from a (non-Meta) registry reference and the declared license is the reference's.",
            "Nothing to fix: this pass result records what was checked.",
            "None."),
    # -- compare verdicts ------------------------------------------------------------------------------
    RuleDoc("PROV-CMP-001", "SharedWeightsLineage", Severity.LOW, "Compared models share weights lineage",
            "`provenance compare A B` concluded `derived`: one model's weights descend from the other's.",
            "A derivative inherits the license and obligations of the model it descends from.",
            "Audit the descendant against the other model's license (`provenance registry add` the ancestor, "
            "then `provenance audit`)."),
    RuleDoc("PROV-CMP-002", "IndependentWeights", Severity.NONE, "Compared models are independent",
            "`provenance compare A B` concluded `independent`: no shared weights lineage.",
            "Nothing to fix: this pass result records what was compared.",
            "None."),
    RuleDoc("PROV-CMP-003", "InconclusiveComparison", Severity.NONE, "Comparison inconclusive",
            "`provenance compare A B` concluded `inconclusive`: the weights could not be compared (different "
            "shapes, no matching layers) or the evidence fell between the calibrated thresholds.",
            "Lineage between the two is neither shown nor excluded.",
            "Read the report's notes; compare behaviour as well, or compare against another checkpoint of the "
            "reference."),
)

_BY_ID = {r.id: r for r in RULES}
_COMPARE = {"derived": "PROV-CMP-001", "independent": "PROV-CMP-002", "inconclusive": "PROV-CMP-003"}


def rule(rule_id: str) -> RuleDoc | None:
    """The row of ``rule_id``, or None for an id this version does not know (an older report's)."""
    return _BY_ID.get(rule_id)


def compare_rule(verdict: str) -> RuleDoc:
    """The rule a compare verdict is reported under (an unknown verdict counts as inconclusive)."""
    return _BY_ID[_COMPARE.get(verdict, "PROV-CMP-003")]
