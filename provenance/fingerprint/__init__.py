"""Reference fingerprints: the file format (:mod:`.format`) and the registry of them (:mod:`.registry`)."""
