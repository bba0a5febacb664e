"""Suite-wide hooks. Tests marked ``optin`` (large downloads, minutes-long runs) are skipped unless
``PROVENANCE_OPTIN=1``; the marker's argument says what opting in costs:
``@pytest.mark.optin("downloads Qwen2.5-Coder, 494 MB")``. Tests marked ``gpu`` are skipped where
torch sees no CUDA GPU."""

from __future__ import annotations

import os
from typing import Any

import pytest


@pytest.fixture(scope="session")
def smollm2_audit() -> dict[str, Any]:
    """The full audit of the real SmolLM2-135M-Instruct GGUF, computed once for every test that reads it."""
    from provenance.audit import audit
    from tests.models import fetch

    return audit(fetch("smollm2")).to_dict()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import torch

    optin = os.environ.get("PROVENANCE_OPTIN") == "1"
    for item in items:
        if item.get_closest_marker("gpu") is not None and not torch.cuda.is_available():
            item.add_marker(pytest.mark.skip(reason="needs a CUDA GPU"))
        marker = item.get_closest_marker("optin")
        if marker is not None and not optin:
            cost = f" ({marker.args[0]})" if marker.args else ""
            item.add_marker(pytest.mark.skip(reason=f"opt-in{cost}: set PROVENANCE_OPTIN=1"))
