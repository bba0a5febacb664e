"""Wheels carry the shipped registry: ``fingerprints/`` (reference fingerprints and release data) is
copied into the built package as ``provenance/data/fingerprints``. An editable install or a source
checkout reads ``fingerprints/`` in place (:func:`provenance.fingerprint.registry.shipped_dir`)."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithFingerprints(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib) / "provenance" / "data" / "fingerprints"
        shutil.copytree(Path(__file__).parent / "fingerprints", target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.py", "__pycache__"))


setup(cmdclass={"build_py": BuildWithFingerprints})
