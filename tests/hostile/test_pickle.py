"""No code execution: a checkpoint built to run code when unpickled is refused, and nothing runs.

The payload is real (plain ``pickle.loads`` of it does write the marker file: checked first), saved
as torch's zip archive, as torch's legacy format and as a raw pickle, under every name a loader
reads a pickle from.
"""

from __future__ import annotations

import ast
import builtins
import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from provenance.checkpoint import open_checkpoint
from provenance.errors import FormatError
from tests.hostile import corpus
from tests.hostile.conftest import REPO, run_cli


class Payload:
    """Unpickling this calls ``exec``, which writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def _state(marker: Path) -> dict:
    state = dict(corpus.stories_state())
    state["model.evil"] = Payload(marker)  # type: ignore[assignment]
    return state


def _save(obj: object, path: Path, kind: str) -> None:
    if kind == "zip":
        torch.save(obj, path)
    elif kind == "legacy":
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:
        with open(path, "wb") as f:
            pickle.dump(obj, f, protocol=2)


def test_the_payload_is_real(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.read_text() == "pwned"


@pytest.mark.parametrize("kind", ["zip", "legacy", "raw"])
@pytest.mark.parametrize("layout", ["hf-bin", "hf-sharded-bin", "meta", "lora"])
def test_malicious_pickle_is_refused(kind: str, layout: str, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    folder = tmp_path / "model"
    hf = corpus.stories_hf(tmp_path / "hf")
    if layout.startswith("hf"):
        folder.mkdir()
        shutil.copy(hf / "config.json", folder)
        name = "pytorch_model.bin" if layout == "hf-bin" else "pytorch_model-00001-of-00001.bin"
        if layout == "hf-sharded-bin":
            weight_map = dict.fromkeys(corpus.stories_state(), name)
            (folder / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": weight_map}))
        target = folder / name
        _save(_state(marker), target, kind)
    elif layout == "meta":
        corpus.stories_meta(folder)
        target = folder / "consolidated.00.pth"
        _save({"layers.0.evil": Payload(marker), **torch.load(target, weights_only=True)}, target, kind)
    else:
        corpus.stories_lora(folder)
        (folder / "adapter_model.safetensors").unlink()
        target = folder / "adapter_model.bin"
        _save({"base_model.model.evil": Payload(marker)}, target, kind)
    for path in (folder, target):
        with pytest.raises(FormatError, match="refused.*could run code") as err:
            open_checkpoint(path)
        assert target.name in str(err.value) and "\n" not in str(err.value)
    line = run_cli("inspect", str(folder), "--no-hash").refused("refused", target.name, "could run code")
    assert "GLOBAL " in line and "\x1b" not in line  # names what it wanted to call; no terminal escapes
    assert not marker.exists()


def test_legacy_weights_only_archive_still_loads(tmp_path: Path) -> None:
    """Regression (fuzzing): legacy (pre-zip) torch files cannot be memory-mapped; they were refused."""
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(corpus.stories_hf(tmp_path / "hf") / "config.json", folder)
    torch.save(corpus.stories_state(), folder / "pytorch_model.bin", _use_new_zipfile_serialization=False)
    ckpt = open_checkpoint(folder)
    assert ckpt.format == "hf-bin"
    assert torch.equal(ckpt.get("model.norm.weight"), corpus.stories_state()["model.norm.weight"])


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            out.append((ast.unparse(node.func), node))
    return out


def test_no_unsafe_deserialisation_in_the_package() -> None:
    """Static check of every module: torch.load only with weights_only=True, no pickle/marshal/
    eval/exec, numpy never allows pickles, yaml only through safe_load."""
    offenders = []
    for path in sorted((REPO / "provenance").rglob("*.py")):
        for name, call in _calls(ast.parse(path.read_text(), str(path))):
            kw = {k.arg: k.value for k in call.keywords}
            where = f"{path.relative_to(REPO)}:{call.lineno} {name}"
            if name.endswith("torch.load") and not (
                isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True
            ):
                offenders.append(where)
            if name.split(".")[0] in ("pickle", "marshal", "dill", "cloudpickle", "joblib") or name in ("eval", "exec"):
                offenders.append(where)
            if name.endswith(("np.load", "numpy.load")) and not (
                isinstance(kw.get("allow_pickle"), ast.Constant) and kw["allow_pickle"].value is False
            ):
                offenders.append(where)
            if name.startswith("yaml.") and name.split(".")[-1] in ("load", "load_all", "unsafe_load", "full_load"):
                offenders.append(where)
    assert offenders == []
