"""Native code on hostile input (issue 13, item 3): a tokenizer configuration is validated before the
``tokenizers`` library holds it, and whatever a native library raises (a Rust panic included, which
is a BaseException) leaves through one boundary as one FormatError line and exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tokenizers

from provenance.errors import FormatError, native
from provenance.tokenizer.files import load_tokenizer
from provenance.tokenizer.vocab import Tokenizer, hf_backend
from tests.hostile.conftest import REPO, Run, run_cli

PEAK_RSS_MB = 1536  # python + torch + the CLI take ~500 MB; a padding bomb takes tens of GB
WALL_S = 60  # a refusal is immediate; the cap is for a loaded 2-core CI machine


def _with_config(folder: Path, **sections: object) -> Path:
    spec = json.loads((folder / "tokenizer.json").read_text())
    spec.update(sections)
    (folder / "tokenizer.json").write_text(json.dumps(spec))
    return folder


def _measured(tmp: Path, *args: str) -> tuple[Run, float, float]:
    """``python -m provenance ARGS`` as a process: its result, its own peak RSS (MB) and wall time (s).

    Started through ``benchmarks/launch.py``: Linux sets ``ru_maxrss`` at exec to the peak of the
    memory it replaces, so a child of this (large) test process would report the test process's peak."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "RUST_BACKTRACE": "1"}  # a panic would print its backtrace
    out, err, result = tmp / "stdout", tmp / "stderr", tmp / "launch.json"
    with open(out, "w") as o, open(err, "w") as e:
        p = subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "launch.py"), str(result),
                              sys.executable, "-m", "provenance", *args], stdout=o, stderr=e, env=env, cwd=REPO)
        try:
            p.wait(timeout=WALL_S * 2)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            pytest.fail(f"still running after {WALL_S * 2:.0f} s")
    m = json.loads(result.read_text())
    return Run(m["returncode"], out.read_text(), err.read_text()), m["maxrss_kb"] / 1024, m["seconds"]


STRIDE = {"truncation": {"direction": "Right", "max_length": 8, "strategy": "LongestFirst", "stride": 8}}
BOMBS = {
    "stride-equal": (STRIDE, "truncation.stride 8 is not below max_length 8"),
    "stride-above": ({"truncation": {"max_length": 2, "stride": 5}}, "truncation.stride 5 is not below max_length 2"),
    "max-length-0": ({"truncation": {"max_length": 0, "stride": 0}}, "truncation.max_length 0"),
    "pad-fixed-1e9": ({"padding": {"strategy": {"Fixed": 10**9}, "pad_id": 0}}, "padding.strategy.Fixed"),
    "pad-multiple-1e9": ({"padding": {"strategy": "BatchLongest", "pad_to_multiple_of": 10**9}},
                         "padding.pad_to_multiple_of"),
    "pad-strategy": ({"padding": {"strategy": "Longest"}}, "padding.strategy"),
    "pad-id": ({"padding": {"strategy": "BatchLongest", "pad_id": -1}}, "padding.pad_id"),
    "truncation-list": ({"truncation": [8, 8]}, "truncation is not an object"),
}


@pytest.mark.parametrize("case", sorted(BOMBS))
def test_tokenizer_configuration_is_validated_before_use(case: str, hf_folder: Path, registry: dict[str, str]) -> None:
    sections, message = BOMBS[case]
    folder = _with_config(hf_folder, **sections)
    with pytest.raises(FormatError, match="tokenizer.json") as e:
        load_tokenizer(folder)
    assert message in str(e.value) and "\n" not in str(e.value)
    run_cli("audit", str(folder), "--no-behaviour", "--format", "json", env=registry).refused(
        str(folder / "tokenizer.json"), message)


def test_the_stride_panic_is_one_line_in_a_real_process(hf_folder: Path, tmp_path: Path) -> None:
    """The issue's case: exit 1 and a 63-line traceback before. Now exit 2, one line, nothing from Rust."""
    folder = _with_config(hf_folder, **STRIDE)
    r, peak_mb, wall = _measured(tmp_path, "inspect", str(folder))
    r.refused("tokenizer.json", "truncation.stride 8 is not below max_length 8")
    assert "panicked" not in r.stderr and peak_mb < PEAK_RSS_MB and wall < WALL_S, (peak_mb, wall)


def test_valid_truncation_and_padding_do_not_change_what_probes_encode(hf_folder: Path) -> None:
    """A real file may carry truncation and padding; probes must still see every token of their text."""
    text = "Once upon a time there was a little girl named Lily who loved to play outside. " * 3
    plain = load_tokenizer(hf_folder).encode(text, add_bos=False)
    folder = _with_config(hf_folder, truncation={"max_length": 8, "stride": 2, "strategy": "LongestFirst",
                                                 "direction": "Right"},
                          padding={"strategy": {"Fixed": 512}, "pad_id": 0, "pad_type_id": 0, "pad_token": "<unk>",
                                   "direction": "Right", "pad_to_multiple_of": None})
    assert load_tokenizer(folder).encode(text, add_bos=False) == plain
    assert len(plain) > 8


def test_a_real_rust_panic_leaves_through_the_boundary(hf_folder: Path) -> None:
    """Bypass the validation to get a real PanicException from tokenizers: it is a BaseException,
    yet the Tokenizer's encode turns it into one FormatError line naming the source."""
    spec = json.loads((hf_folder / "tokenizer.json").read_text())
    raw = tokenizers.Tokenizer.from_str(json.dumps({**spec, **STRIDE}))
    encode, decode = hf_backend(raw)
    tok = Tokenizer("hf-json", ["a"], special_ids=[], surface="sentencepiece", encoder=encode, decoder=decode,
                    source="/models/x/tokenizer.json")
    with pytest.raises(FormatError) as e:
        tok.encode("Once upon a time there was a little girl named Lily " * 4)
    msg = str(e.value)
    assert msg.startswith("/models/x/tokenizer.json: the tokenizer cannot encode the text (PanicException: ")
    assert "\n" not in msg and "stride" in msg


def test_the_boundary_lets_interrupts_and_exits_through() -> None:
    for signal in (KeyboardInterrupt, SystemExit, GeneratorExit):
        with pytest.raises(signal), native("reading", "/x"):
            raise signal()
    with pytest.raises(MemoryError), native("reading", "/x"):
        raise MemoryError()
    with pytest.raises(FormatError, match=r"^/x: reading \(ValueError: bad second line\)$"), native("reading", "/x"):
        raise ValueError("bad\nsecond line")
