"""Our LLaMA-family forward engine (:mod:`.model`) and its device policy (:mod:`.device`)."""
