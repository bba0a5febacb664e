"""``provenance scan``: audit a whole model registry (cached by content, resumable, in parallel), and
relate its models to each other.

* :mod:`.discover`: which models live under the roots (the rules are documented there);
* :mod:`.cache`: the content-keyed result cache (append-only JSON Lines, safe to kill);
* :mod:`.worker`: the per-model function every engine runs (audit + weight fingerprint);
* :mod:`.runner`: hashing, cache lookup, the engines (one process, a process pool, Ray) and
  the ordered output;
* :mod:`.relations`: which scanned models share lineage, from the fingerprints the scan saved;
* :mod:`.summary`: the scan's report model, rendered by :mod:`provenance.report.scan`.
"""
