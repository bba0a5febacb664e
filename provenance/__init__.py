"""provenance: tell whether a language-model checkpoint descends from LLaMA (or any reference model)."""

__version__ = "0.1.0"
