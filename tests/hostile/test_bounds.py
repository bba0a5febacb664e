"""Bounded resources: files that *claim* absurd sizes are refused before anything is allocated from
the claim, proven under a hard memory cap (``RLIMIT_AS``, see tests/hostile/capped.py) and a timeout.

Each hostile file is a small real file with one size field rewritten (or a sparse file whose size
is real but whose contents are not needed to refuse it).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from provenance.checkpoint import safety
from provenance.fingerprint.format import MAX_HEADER_BYTES as FP_MAX_HEADER
from tests.hostile import corpus
from tests.hostile.conftest import REPO

BUDGET_MB = 512  # far above what refusing needs; far below what honouring any claim below would take
TIME_LIMIT = 10.0  # CPU seconds per refusal (most take milliseconds; the costliest cap ~4.5 s, benchmarks/bounds.py)

CASES: list[tuple[str, str, str, str | None]] = []  # (name, kind, path, expected message; None: may load)


def case(name: str, kind: str, path: Path, expect: str | None) -> None:
    CASES.append((name, kind, str(path), expect))


def _st(folder: Path, config: Path, header: bytes | dict, tail: bytes = b"", length: int | None = None) -> Path:
    """A model folder with ``config.json`` and a safetensors file with this header."""
    folder.mkdir(parents=True)
    shutil.copy(config, folder / "config.json")
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    target = folder / "model.safetensors"
    target.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + tail)
    return folder


def _sparse(path: Path, head: bytes, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return corpus.write_sparse(path, head, size)


def _gstr(s: str) -> bytes:
    return struct.pack("<Q", len(s)) + s.encode()


def _gguf(path: Path, n_tensors: int, kvs: list[bytes], tensors: bytes = b"", pad: int = 64) -> Path:
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, n_tensors, len(kvs)) + b"".join(kvs) + tensors + b"\0" * pad)
    return path


ARCH = _gstr("general.architecture") + struct.pack("<I", 8) + _gstr("llama")


def _build(root: Path) -> None:
    hf = corpus.stories_hf(root / "hf")
    cfg = hf / "config.json"
    big = 1 << 40
    # -- safetensors ------------------------------------------------------------------------
    case("st header length 2^60", "open", _st(root / "st1", cfg, b"{}", length=1 << 60), "header claims")
    over = root / "st2"
    over.mkdir()
    shutil.copy(cfg, over / "config.json")
    n = safety.MAX_HEADER_BYTES + 1  # a real (sparse) file this large: the header alone is over the limit
    _sparse(over / "model.safetensors", struct.pack("<Q", n) + b"{", 8 + n + 64)
    case("st header over the limit", "open", over, "limit")
    w = {"dtype": "F32", "data_offsets": [0, 4]}
    case("st shape 2^80 elements", "open", _st(root / "st3", cfg, {"w": {**w, "shape": [big, big]}}, b"\0" * 4), "elements")
    case("st 100 dimensions", "open", _st(root / "st4", cfg, {"w": {**w, "shape": [1] * 100}}, b"\0" * 4), "invalid shape")
    case("st offsets beyond the file", "open",
         _st(root / "st5", cfg, {"w": {"dtype": "U8", "shape": [big], "data_offsets": [0, big]}}, b"\0" * 8), "outside")
    case("st negative offsets", "open",
         _st(root / "st6", cfg, {"w": {"dtype": "U8", "shape": [4], "data_offsets": [-4, 0]}}, b"\0" * 8), "outside")
    overlap = {"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]},
               "b": {"dtype": "U8", "shape": [8], "data_offsets": [4, 12]}}  # fmt: skip
    case("st overlapping tensors", "open", _st(root / "st7", cfg, overlap, b"\0" * 16), "overlap")
    many = {f"t{i}": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]} for i in range(safety.MAX_TENSORS + 1)}
    case("st tensor count over the limit", "open", _st(root / "st8", cfg, many), "count")
    # -- GGUF -----------------------------------------------------------------------------------
    g = root / "gguf"
    g.mkdir()
    (g / "kv.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1 << 63) + b"\0" * 64)
    case("gguf 2^63 key/values", "open", g / "kv.gguf", "count")
    (g / "tensors.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1 << 63, 0) + b"\0" * 64)
    case("gguf 2^63 tensors", "open", g / "tensors.gguf", "count")
    (g / "key.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 62) + b"k" * 64)
    case("gguf key of 2^62 bytes", "open", g / "key.gguf", "GGUF string")
    huge_str = _gstr("general.name") + struct.pack("<IQ", 8, 1 << 62) + b"x" * 64
    case("gguf value string of 2^62 bytes", "open", _gguf(g / "str.gguf", 0, [huge_str]), "GGUF string")
    arr = _gstr("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 1 << 40)
    case("gguf string array of 2^40", "open", _gguf(g / "arr.gguf", 0, [arr]), "overruns")
    arr = _gstr("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, 1 << 60)
    case("gguf float array of 2^60", "open", _gguf(g / "farr.gguf", 0, [arr]), "overruns")
    nested = _gstr("x") + struct.pack("<IIQ", 9, 9, 1 << 30)
    case("gguf nested array of 2^30", "open", _gguf(g / "nested.gguf", 0, [nested]), "overruns")
    limit = safety.MAX_GGUF_ARRAY + 1
    arr = _gstr("x") + struct.pack("<IIQ", 9, 0, limit) + b"\0" * limit  # a real array, one over the limit
    case("gguf array over the element limit", "open", _gguf(g / "big.gguf", 0, [arr]), "over the limit")
    part = 3 << 20  # two real arrays, each under the per-array limit, together over the per-file one
    arrays = [_gstr(f"x{i}") + struct.pack("<IIQ", 9, 4, part) + b"\1\2\3\4" * part for i in range(2)]
    case("gguf arrays over the per-file element limit", "open", _gguf(g / "total.gguf", 0, arrays), "over the limit")
    t = _gstr("token_embd.weight") + struct.pack("<I", 1 << 31)
    case("gguf 2^31 dimensions", "open", _gguf(g / "dims.gguf", 1, [ARCH], t), "dimensions")
    t = _gstr("token_embd.weight") + struct.pack("<IQQIQ", 2, big, big, 0, 0)
    case("gguf tensor of 2^80 elements", "open", _gguf(g / "elems.gguf", 1, [ARCH], t), "elements")
    t = _gstr("token_embd.weight") + struct.pack("<IQQIQ", 2, 64, 64, 0, (1 << 64) - 64)
    case("gguf offset near 2^64", "open", _gguf(g / "offset.gguf", 1, [ARCH], t), "outside")
    align = _gstr("general.alignment") + struct.pack("<II", 4, 3)
    case("gguf alignment 3", "open", _gguf(g / "align.gguf", 0, [ARCH, align]), "alignment")
    # -- llama2.c -----------------------------------------------------------------------------------
    l2 = root / "l2c"
    l2.mkdir()
    head = struct.pack("<Ii7iB", 0x616B3432, 1, (1 << 31) - 1, 64, 5, 8, 4, 512, 512, 1)
    (l2 / "dim.bin").write_bytes(head.ljust(256, b"\0"))
    case("llama2c dim 2^31", "open", l2 / "dim.bin", "plausible")
    head = struct.pack("<Ii7iB", 0x616B3432, 1, 1 << 20, 1 << 20, 1024, 8, 8, 1 << 20, 1 << 20, 1)
    (l2 / "huge.bin").write_bytes(head.ljust(256, b"\0") + b"\0" * 4096)
    case("llama2c header claiming 10^15 parameters", "open", l2 / "huge.bin", "header implies")
    head = struct.pack("<Ii7iBi", 0x616B3432, 2, 64, 172, 5, 8, 4, 512, 512, 1, 0)
    (l2 / "group.bin").write_bytes(head.ljust(256, b"\0"))
    case("llama2c v2 group size 0", "open", l2 / "group.bin", "plausible")
    # -- params.json / config.json ------------------------------------------------------------------
    for name, change, expect in [
        ("layers", {"n_layers": 10**9}, "layers"),
        ("dim", {"dim": 10**12}, "shape"),
        ("heads", {"n_heads": 0}, "params.json"),
        ("vocab", {"vocab_size": 10**15}, "the embedding has 512 rows"),  # refused before any allocation
    ]:
        folder = corpus.stories_meta(root / f"meta-{name}")
        params = json.loads((folder / "params.json").read_text())
        (folder / "params.json").write_text(json.dumps({**params, **change}))
        case(f"params.json {name}", "open", folder, expect)
    for name, change, expect in [
        ("layers", {"num_hidden_layers": 10**9}, "layers"),
        ("hidden", {"hidden_size": 10**12, "head_dim": None}, "shape"),
        ("heads", {"num_attention_heads": 0, "head_dim": None}, "config.json"),
        ("vocab", {"vocab_size": 10**15}, "the embedding has 512 rows"),
        ("infinite", {"intermediate_size": 1e309}, "config.json"),
    ]:
        folder = Path(shutil.copytree(hf, root / f"cfg-{name}"))
        config = json.loads(cfg.read_text())
        config.update(change)
        (folder / "config.json").write_text(json.dumps({k: v for k, v in config.items() if v is not None}))
        case(f"config.json {name}", "open", folder, expect)
    folder = Path(shutil.copytree(hf, root / "cfg-size"))
    _sparse(folder / "config.json", b"{", safety.MAX_JSON_BYTES + 1)
    case("config.json over the size limit", "open", folder, "limit")
    # -- tokenizers ---------------------------------------------------------------------------------
    tk = root / "tok"
    tk.mkdir()
    spec = json.loads((hf / "tokenizer.json").read_text())
    spec["model"]["vocab"]["<huge id>"] = (1 << 31) - 1
    (tk / "tokenizer.json").write_text(json.dumps(spec))
    case("tokenizer.json id 2^31", "tokenizer", tk / "tokenizer.json", "tokens")
    _sparse(tk / "big" / "tokenizer.json", b"{", (256 << 20) + 1)
    case("tokenizer.json over the size limit", "tokenizer", tk / "big" / "tokenizer.json", "bytes")
    (tk / "maxlen.bin").write_bytes(struct.pack("<i", (1 << 31) - 1) + struct.pack("<fi", 0.0, 1) + b"a")
    case("tokenizer.bin max length 2^31", "llama2c_tokenizer", tk / "maxlen.bin", "limit")
    (tk / "len.bin").write_bytes(struct.pack("<i", 16) + struct.pack("<fi", 0.0, (1 << 31) - 1) + b"a" * 64)
    case("tokenizer.bin token of 2^31 bytes", "llama2c_tokenizer", tk / "len.bin", "impossible")
    (tk / "ranks.model").write_text("YQ== 0\nYg== 999999999\n")
    case("tiktoken rank 10^9", "tokenizer", tk / "ranks.model", "out of range")
    cfg_dir = Path(shutil.copytree(hf, tk / "config"))
    _sparse(cfg_dir / "tokenizer_config.json", b"{", (64 << 20) + 1)
    case("tokenizer_config.json over the size limit", "tokenizer", cfg_dir, "bytes")
    # -- fingerprints ---------------------------------------------------------------------------------
    fp = root / "fp"
    fp.mkdir()
    _sparse(fp / "header.fingerprint.safetensors", struct.pack("<Q", FP_MAX_HEADER + 1) + b"{", FP_MAX_HEADER + 100)
    case("fingerprint header over the limit", "fingerprint", fp / "header.fingerprint.safetensors", "out of bounds")
    _sparse(fp / "size.fingerprint.safetensors", struct.pack("<Q", 2) + b"{}", (256 << 20) + 1)
    case("fingerprint file over the size limit", "fingerprint", fp / "size.fingerprint.safetensors", "out of bounds")
    src = corpus.FINGERPRINT
    if src.is_file():
        raw = src.read_bytes()
        (n,) = struct.unpack_from("<Q", raw)
        header = json.loads(raw[8 : 8 + n])
        doc = json.loads(header["__metadata__"]["provenance.fingerprint"])
        doc["behaviour"]["n_keys"] = 10**12
        header["__metadata__"]["provenance.fingerprint"] = json.dumps(doc)
        text = json.dumps(header).encode()
        (fp / "keys.fingerprint.safetensors").write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n :])
        case("fingerprint claiming 10^12 keys", "fingerprint", fp / "keys.fingerprint.safetensors", "offsets")


@pytest.fixture(scope="module")
def capped_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    root = tmp_path_factory.mktemp("bounds")
    CASES.clear()
    _build(root)
    CASES.append(("control: allocate 4x the budget", "allocate", str(root / str(4 * BUDGET_MB << 20)), ""))
    spec = root / "cases.json"
    spec.write_text(json.dumps([{"name": n, "kind": k, "path": p} for n, k, p, _ in CASES]))
    proc = subprocess.run([sys.executable, "-m", "tests.hostile.capped", str(spec), str(BUDGET_MB)], cwd=REPO,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and len(lines) == len(CASES), proc.stderr[-3000:]
    return {r["name"]: r for r in lines}


def test_the_memory_cap_is_real(capped_results: dict[str, dict]) -> None:
    assert capped_results["control: allocate 4x the budget"]["outcome"] == "MemoryError"


def test_absurd_claims_are_refused_cheaply(capped_results: dict[str, dict]) -> None:
    failures = []
    for name, kind, _path, expect in CASES:
        if kind == "allocate":
            continue
        r = capped_results[name]
        refused = r["outcome"] in ("FormatError", "UnsupportedError") and expect is not None and expect in r["message"]
        ok = refused or (expect is None and r["outcome"] == "ok")
        ok = ok and r["seconds"] < TIME_LIMIT and "\n" not in r["message"]
        if not ok:
            failures.append(f"{name}: {r}")
    assert failures == [], "\n".join(failures)
