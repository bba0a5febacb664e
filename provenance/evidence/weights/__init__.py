"""Weight-space lineage: residual alignment (:mod:`.alignment`), layer invariants (:mod:`.invariants`),
neuron matching (:mod:`.neurons`), the sketch and score (:mod:`.sketch`), and the comparison of two
models (:mod:`.compare`)."""
