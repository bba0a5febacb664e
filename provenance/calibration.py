"""Every number that turns a measurement into a verdict, with the measurement behind it.

Sections: weight lineage (below), behaviour (further down), license texts, engine precision.

Weight lineage (:mod:`provenance.evidence.weights.sketch`)
--------------------------------------------------
The score ``T`` is the median, over the layers of whichever model it is larger for, of each layer's
best cosine with any layer of the other model: the four symmetry-invariant per-layer maps of
:mod:`provenance.evidence.weights.invariants` (probe width 128), compared after aligning the residual bases
on shared-token embeddings and after removing what all layers of a model share.

Measured with ``python benchmarks/study_compare.py --full`` (every zoo pair of tests/zoo.py both
ways, sketch and full comparison, plus same-data independents; 2 CPU cores):

=====================================================  ==========================
pairs                                                  T
=====================================================  ==========================
derived: copies, formats (HF, Meta, GGUF Q8_0), LoRA   1.000
derived: permuted / norms folded + rotated              1.000
derived: SFT light/heavy, vocabulary extension          0.9998 - 1.000
derived: GGUF Q4_0 round trip / Gaussian noise 0.1 std  0.993 / 0.990
derived: stories260K fine-tuned 200 steps               0.987
derived: MLP 1536 -> 1024 + 2 layers dropped + healing  0.932
independent: fresh init, other data, other families    0.008 - 0.023
independent: distilled student of stories260K          0.023
independent: same arch, same data, two seeds (hard)    0.045
=====================================================  ==========================

Without the layer centring the same-data pair scored 0.205 (its raw layer cosines sit near 0.1-0.3
for *every* layer pair); descendants are unchanged by it. In-memory stress (SmolLM2 + Gaussian
noise of 0.5 / 1 / 2 x each tensor's std): 0.80 / 0.48 / 0.17.

Null model: ``T ~ Normal(WEIGHT_NULL_MEAN, WEIGHT_NULL_STD)`` for independent pairs, centred on the
hardest measured independent pair (0.045) with a spread about four times the measured spread of
independent scores (0.011), because larger models trained on overlapping data could not be
measured here. The p-value is its upper tail: "how surprising would this score be for an
independent pair", not an exact probability. Measured independents get p = 0.54 - 0.80.
"""

from __future__ import annotations

#: Null distribution of the weight score T for independent pairs: Normal(mean, std) (see above).
WEIGHT_NULL_MEAN = 0.045
WEIGHT_NULL_STD = 0.05

#: "derived" needs both a p-value below WEIGHT_DERIVED_P (T >= 0.28 under the null above) and
#: T >= WEIGHT_DERIVED_MIN_SCORE, so a mis-specified null cannot alone convict. Smallest measured
#: derived T: 0.932; largest independent: 0.045.
WEIGHT_DERIVED_P = 1e-6
WEIGHT_DERIVED_MIN_SCORE = 0.35

#: "independent" when T is at most this (p >= 0.02 under the null); between this and the derived
#: bar the verdict is "inconclusive".
WEIGHT_INDEPENDENT_MAX_SCORE = 0.15

#: A layer pair counts as matched in ``layers`` when its cosine reaches this. Measured: matched
#: layers of descendants >= 0.93; best partners of layers a pruned model dropped 0.17 - 0.20
#: (before centring); any layer pair of an independent model <= 0.13.
LAYER_MATCH_MIN = 0.3

#: A residual alignment this good on held-out anchors is used alone; below it (or with no shared
#: anchors) the identity map is tried as well when widths agree. Measured held-out cosines:
#: descendants >= 0.987, same-data independents 0.969, other families 0.35 - 0.66.
ALIGNED_HELDOUT = 0.9

#: Residual alignment needs this many shared anchor tokens to be attempted.
MIN_ANCHORS = 32

#: Neuron matching: chance that the gate- and up-matchings of one neuron agree in an independent
#: pair. Measured: stories-indep-a vs -b (same data, seeds differ) 1.6 - 1.9% where 1/F_b would be
#: 0.6%; raised to 5% for margin.
NEURON_NULL_AGREEMENT = 0.05

#: Neuron matching (supporting evidence of a full comparison): "supports derived" when the
#: Fisher-combined p-value is below this and at least this fraction of neurons agree. Measured:
#: descendants 100% agreement, independents <= 1.9%.
NEURON_DERIVED_P = 1e-6
NEURON_DERIVED_FRACTION = 0.2


# -- behaviour (provenance.evidence.behaviour.score) ------------------------------------------------
# Measured by ``python benchmarks/study_behaviour.py --optin`` (canaries v1; zoo of tests/zoo.py;
# references = the shipped fingerprints; score = mean deep-tail correlation, see position_stats):
#   text mode, SmolLM2 reference, descendants: ft-light 0.985, cpt 0.886, LoRA 0.868, Q8_0 0.999,
#     Q4_0 0.802, vocab-ext 0.955, upscaled 0.763, averaged 0.734, noise 0.744, permuted/rotated
#     1.000, heavy SFT (lr 1e-3) 0.505, pruned+healed 0.502 (the weakest);
#   text mode, independent pairs (8): random init 0.015, from scratch -0.001, Qwen2.5-Coder 0.200,
#     and with other references (scratch, Qwen) 0.011, -0.013, 0.208, 0.031, 0.209 (the strongest):
#     mean 0.083, std 0.103;
#   id mode, stories260K reference: fine-tuned 0.286, distilled student 0.205, permuted/rotated 1.000;
#     independent pairs (7, incl. two seeds on the same data): mean 0.001, std 0.004, max 0.009.
BEHAVIOUR_MIN_SHARED_KEYS = 32  # sampled keys both models know, for a position's tail correlation to count
BEHAVIOUR_MIN_POSITIONS = 16  # positions with a tail correlation, for a verdict other than inconclusive
#: Share of a position's sampled keys, least likely first, that the tail correlation uses. The upper
#: half of even a random sample holds tokens any competent model ranks alike; the lower half is where
#: the weights' idiosyncrasy dominates. Measured (SmolLM2 reference): Qwen2.5-Coder 0.355 -> 0.200,
#: heavy SFT 0.618 -> 0.505, pruned+healed 0.646 -> 0.502, 4-bit 0.883 -> 0.802 (all keys -> half).
BEHAVIOUR_DEEP_TAIL = 0.5
#: Null distribution of the score for independent models, per probing mode: Normal(mean, std), the
#: independent pairs above. Text canaries: capable language models agree on part of any text (Qwen
#: vs SmolLM2 0.20); id probes (a tokenizer-less reference's own greedy sequences) are idiosyncratic.
BEHAVIOUR_NULL: dict[str, tuple[float, float]] = {"text": (0.083, 0.103), "ids": (0.001, 0.004)}
#: No null narrower than this is trusted: the id-mode spread (0.004) comes from 260K-parameter models
#: only. With it, "imitates" needs 0.15 in id mode (distilled student 0.205).
BEHAVIOUR_NULL_STD_FLOOR = 0.05
#: z at or above which behaviour "imitates" (text: score >= 0.39; weakest descendant 0.50, z = 4.1),
#: at or below which it is "independent" (text: <= 0.29; strongest independent 0.21, z = 1.2).
BEHAVIOUR_Z_IMITATES = 3.0
BEHAVIOUR_Z_INDEPENDENT = 2.0


# -- license texts (provenance.knowledge.license_text) -----------------------------------------------
# Decision numbers, measured by tests/test_licenses.py on the six Llama LICENSE and USE_POLICY texts:
# a text shares 0.49-0.97 of its sample with the *other* versions' document of the same kind (Llama 2 and
# Llama 3 policies are near copies) and 1.00 with its own; an unrelated license (Apache-2.0) < 0.1.
# Rewrapping, case, punctuation and markdown edits change nothing; dropping sentences keeps >= 0.8.
LICENSE_MIN_CONTAINMENT = 0.5
# Version: the own version's distinct shingles are all present in an unedited copy (1.0), every other
# version's are absent (0.0, by construction). Another version is reported in ``ambiguous_with`` when it
# scores within VERSION_MARGIN of the best, or at least MIXED_VERSION (a text mixing two versions, e.g.
# the 3.1 agreement with its version numbers edited to 3.2 but 3.1's URLs kept, scores 0.74 / 0.27).
LICENSE_VERSION_MARGIN = 0.25
LICENSE_MIXED_VERSION = 0.2


# -- engine precision (provenance.engine.device) ------------------------------------------------------
#: Behavioural probes run in float32 below this many parameters, bfloat16 from it: a 7B model in
#: float32 needs 28 GB. Measured: bf16 vs fp32 top-1 agreement 0.96-0.98 on SmolLM2 (313 tokens), so
#: verdicts hold; float32 is kept where it is affordable.
HALF_PRECISION_FROM_PARAMS = 2_000_000_000

# -- relations inside a scanned registry (provenance.scan.relations) ---------------------------------
# Measured with ``python benchmarks/study_relations.py separation`` (three runs: every pair of smollm2,
# smol-hf, smol-ft-light, smol-ft-heavy, smol-permuted, smol-upscaled and the stories260K set; of
# smollm2, smol-ft-heavy, smol-permuted, smol-rotated, smol-random, smol-upscaled; of smollm2,
# smol-ft-heavy, smol-pruned, smol-rotated, smol-random, smol-scratch), stories260K set = stories260k,
# its hf / ft / permuted / rotated descendants, stories-indep-a / -b (same data, two seeds) and
# stories-student (distilled from it). 75 pairs: 41 related, 34 unrelated.
#
#   =====================================  ================  ================  ==================
#   pairs                                  sign test t       frame score T     signature cosine
#   =====================================  ================  ================  ==================
#   related, coordinates kept              8.00 - 24.0       0.632 - 1.000     0.827 - 1.000
#   related, basis rotated or permuted     -1.97 - 0.45      0.986 - 1.000     0.999 - 1.000
#   unrelated                              -1.95 - 2.61      0.017 - 0.222     0.004 - 0.977
#   =====================================  ================  ================  ==================
#
# t = √D is the largest possible (every coordinate agrees): 8.0 for stories260K (D = 64, p <= 1.3e-14),
# 24.0 for SmolLM2 (D = 576, p <= 8e-126). The exact test needs no threshold here: its p-values go to
# Benjamini-Yekutieli. The lowest related T (0.632) is stories-ft, a 100-step fine-tune of a 64-wide
# model that the sign test links anyway; the highest unrelated T is stories-indep-a vs -b (0.222) and
# the distilled student vs stories260K (0.201). The smallest unrelated p-value, 0.033 (t = 2.61,
# smol-scratch vs SmolLM2 and its coordinate-keeping descendants: one draw, seen three times), is what
# a valid p-value does one time in thirty; BY over 75 pairs would need p <= 1.4e-4. Pruned (MLP
# 1536 -> 1024, two layers dropped, healed): t = 24.0, T = 0.93-0.94. Not measured (not built in
# time): the GGUF, LoRA, vocabulary-extension, continued-pretraining, averaged and noise entries.

#: Pre-filter: a pair is tested only when the cosine of its frame tokens' correlation signatures
#: reaches this. Related pairs measured >= 0.827; same-data unrelated pairs reach 0.977, so the
#: pre-filter only saves tests between models of different corpora (it never decides an edge).
RELATION_PREFILTER_MIN = 0.5
#: Margin link (not FDR-controlled): token-frame score T at least this. Between the largest unrelated
#: T (0.222) and the smallest related one (0.632); rotated or permuted descendants measure >= 0.986.
RELATION_MARGIN_MIN_SCORE = 0.4
