"""What each per-file limit lets a file cost: time and peak memory per input byte, measured at the cap.

    PYTHONPATH=. nice python3 benchmarks/bounds.py [--only NAME ...] [--scale 1.0]

For every limit in ``provenance/checkpoint/safety.py`` (and the tokenizer, pickle and chat-template
limits beside them) a worst-case input at the cap is built in a temporary folder: the shape of content
that makes the reader build the most Python objects per byte. Each is read in a fresh process
(imports first, then the reader), which reports its wall and CPU seconds and its peak resident set
above what the imports took. The multiple (extra peak bytes / input bytes, seconds / MB) is what the
comment next to each limit records. ``--scale`` shrinks every input (e.g. 0.25 on a small machine);
the costs are linear, so the multiples hold. Numbers go into the report, not CI.
"""

from __future__ import annotations

import argparse
import json
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from provenance.checkpoint import safety
from provenance.checkpoint.torch_archive import MAX_PICKLE_BYTES
from provenance.tokenizer.chat import CHAT_CPU_SECONDS, CHAT_MEMORY_BYTES
from provenance.tokenizer.rebuilt import MAX_ADDED_TOKENS
from tests.hostile import costs


def _gstr(s: bytes) -> bytes:
    return struct.pack("<Q", len(s)) + s


def _gguf(path: Path, arrays: list[tuple[bytes, int, int, bytes]]) -> Path:
    """A GGUF of key/value arrays only: (key, element type, count, payload)."""
    kvs = [_gstr(k) + struct.pack("<IIQ", 9, t, n) + payload for k, t, n, payload in arrays]
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(kvs)) + b"".join(kvs) + b"\0" * 32)
    return path


def build(root: Path, scale: float) -> dict[str, tuple[str, Path, str]]:
    """name -> (reader kind, input file, the limit it sits at)."""
    out: dict[str, tuple[str, Path, str]] = {}
    # safetensors header: MAX_TENSORS entries of ~200 bytes fill MAX_HEADER_BYTES
    n = int(safety.MAX_TENSORS * scale)
    width = max(1, int(safety.MAX_HEADER_BYTES * scale) // n - 70)
    header = ",".join(f'"{i:0{width}d}":{{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}' for i in range(n))
    raw = ("{" + header + "}").encode()
    (root / "st").mkdir()
    (root / "st" / "model.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw)
    out["safetensors header"] = ("safetensors", root / "st" / "model.safetensors",
                                 f"MAX_HEADER_BYTES {safety.MAX_HEADER_BYTES >> 20} MiB, MAX_TENSORS {safety.MAX_TENSORS}")
    # config.json and friends: the densest objects JSON can spell, "{}," (an empty dict per 3 bytes)
    size = int(safety.MAX_JSON_BYTES * scale)
    (root / "config.json").write_bytes(b'{"x":[' + b"{}," * (size // 3 - 4) + b"{}]}")
    out["JSON file of empty objects"] = ("json", root / "config.json", f"MAX_JSON_BYTES {safety.MAX_JSON_BYTES >> 20} MiB")
    # GGUF arrays at the per-file element cap: 1-byte strings (9 bytes each) and uint8 (1 byte each)
    n = int(safety.MAX_GGUF_ELEMENTS * scale)
    strings = b"".join([b"\4\0\0\0\0\0\0\0%04x" % (i & 0xFFFF) for i in range(n)])  # distinct str objects
    out["GGUF string array"] = ("gguf", _gguf(root / "strings.gguf", [(b"x", 8, n, strings)]),
                                f"MAX_GGUF_ELEMENTS 2^{safety.MAX_GGUF_ELEMENTS.bit_length() - 1}")
    out["GGUF uint8 array"] = ("gguf", _gguf(root / "u8.gguf", [(b"x", 0, n, b"\1" * n)]),
                               f"MAX_GGUF_ELEMENTS 2^{safety.MAX_GGUF_ELEMENTS.bit_length() - 1}")
    # GGUF vocabulary with MAX_ADDED_TOKENS control tokens (the tokenizer rebuild)
    out["GGUF control tokens"] = ("gguf_tokenizer",
                                  costs.gguf_control_tokens(root / "ctl.gguf", int(MAX_ADDED_TOKENS * scale) + 256),
                                  f"MAX_ADDED_TOKENS 2^{MAX_ADDED_TOKENS.bit_length() - 1}")
    # torch data.pkl at MAX_PICKLE_BYTES: a flood of 1-byte opcodes (NONE), then a state dict's end
    size = int(MAX_PICKLE_BYTES * scale)
    flood = b"\x80\x02](" + b"N" * (size - 6) + b"e."  # a list of Nones: EMPTY_LIST, MARK, NONE..., APPENDS
    out["torch data.pkl of 1-byte opcodes"] = ("torch", costs.write_zip(root / "flood.bin", [
        ("archive/data.pkl", flood, zipfile.ZIP_STORED, len(flood)), ("archive/version", b"3\n", zipfile.ZIP_STORED, 2)]),
        f"MAX_PICKLE_BYTES {MAX_PICKLE_BYTES >> 20} MiB")  # fmt: skip
    # a chat template: bounded by the child's limits whatever its size
    (root / "loop.jinja").write_text("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
    out["chat template (nested loops)"] = ("chat", root / "loop.jinja",
                                           f"CHAT_CPU_SECONDS {CHAT_CPU_SECONDS}, CHAT_MEMORY_BYTES {CHAT_MEMORY_BYTES >> 20} MiB")
    return out


def _reader(kind: str) -> Callable[[Path], object]:
    from provenance.checkpoint.common import torch_load
    from provenance.checkpoint.gguf import read_header
    from provenance.checkpoint.hf import read_safetensors_header
    from provenance.tokenizer.rebuilt import from_gguf_metadata
    from provenance.tokenizer.vocab import Tokenizer

    def chat(p: Path) -> object:
        tok = Tokenizer("plain", ["<s>"], special_ids=[0], surface="plain", encoder=None, decoder=None,
                        chat_template=p.read_text(), source=p)
        return tok.apply_chat_template([{"role": "user", "content": "hi"}])

    return {
        "safetensors": read_safetensors_header, "json": lambda p: safety.read_json(p),
        "gguf": read_header, "gguf_tokenizer": lambda p: from_gguf_metadata(read_header(p)[0], p),
        "torch": torch_load, "chat": chat,
    }[kind]  # fmt: skip


def one(kind: str, path: Path) -> None:
    """Child mode: import, note the peak so far, read, report."""
    read = _reader(kind)
    before = _status("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # restarts the peak (VmHWM) from the current RSS
    cpu0, t0 = time.process_time(), time.perf_counter()
    try:
        read(path)
        outcome = "read"
    except Exception as e:
        outcome = f"{type(e).__name__}: {str(e)[-90:]}"
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"wall": wall, "cpu": cpu + kids.ru_utime + kids.ru_stime, "extra_rss": _status("VmHWM") - before,
                      "outcome": outcome}))


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) << 10 for line in f if line.startswith(field + ":"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--one", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        return one(args.one[0], Path(args.one[1]))
    with tempfile.TemporaryDirectory() as tmp:
        cases = build(Path(tmp), args.scale)
        print(f"{'input':<34} {'MB':>7} {'s':>6} {'CPU s':>6} {'s/MB':>6} {'+RSS MB':>8} {'x input':>8}  outcome; limit")
        for name, (kind, path, limit) in cases.items():
            if args.only and name not in args.only:
                continue
            mb = path.stat().st_size / 1e6
            p = subprocess.run([sys.executable, __file__, "--one", kind, str(path)], capture_output=True, text=True,
                               check=True)  # fmt: skip
            r = json.loads(p.stdout.strip().splitlines()[-1])
            rss = r["extra_rss"] / 1e6
            per_mb = (f"{r['cpu'] / mb:>6.2f} {rss:>8.0f} {rss / mb:>8.1f}" if kind != "chat"  # a constant bound
                      else f"{'-':>6} {CHAT_MEMORY_BYTES / 1e6:>8.0f} {'-':>8}")  # fmt: skip
            print(f"{name:<34} {mb:>7.1f} {r['wall']:>6.2f} {r['cpu']:>6.2f} {per_mb}  {r['outcome'][-60:]}; {limit}")
    return None


if __name__ == "__main__":
    main()
