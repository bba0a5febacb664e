"""provenance: tell whether a language-model checkpoint descends from LLaMA (or any reference model).

The public Python API is :mod:`provenance.api`; this package module stays light so the CLI starts fast.
"""

__version__ = "0.1.0"

#: Where the project lives: SARIF's ``informationUri`` and every rule's ``helpUri`` are built from it.
#: No public repository exists yet, so this placeholder owner is the one place to change.
REPOSITORY_URL = "https://github.com/your-org/provenance"
