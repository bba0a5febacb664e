"""Every number that turns a weight-space measurement into a verdict, with the measurement behind it.

Weight lineage (:mod:`provenance.evidence.weights`)
--------------------------------------------------
The score ``T`` is the median, over the layers of whichever model it is larger for, of each layer's
best cosine with any layer of the other model: the four symmetry-invariant per-layer maps of
:mod:`provenance.evidence.invariants` (probe width 128), compared after aligning the residual bases
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
