"""Behavioural lineage: the canary set (:mod:`.canaries`), running it (:mod:`.probes`), the
statistics and verdict (:mod:`.score`), and a candidate against reference fingerprints (:mod:`.compare`)."""
