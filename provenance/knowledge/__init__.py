"""What the tool knows: Meta's releases (:mod:`.releases` + ``releases.json``), licenses and their
obligations (:mod:`.licenses`), license texts (:mod:`.license_text`) and every risk rule (:mod:`.rules`)."""
