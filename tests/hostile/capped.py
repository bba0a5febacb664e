"""Run readers on hostile files under a hard memory cap and report what each did, one JSON line per case.

Usage: ``python -m tests.hostile.capped CASES.json BUDGET_MB``; each case is ``{"name", "kind", "path"}``.
The address space is capped (``RLIMIT_AS``) at what the process uses after its imports plus
``BUDGET_MB``, so a reader that allocates from a size a file merely *claims* dies with MemoryError
instead of succeeding slowly. ``kind`` ``allocate`` is the control: it must hit the cap.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path


def _vm_bytes() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))


def _run(kind: str, path: Path) -> None:
    from provenance.checkpoint import open_checkpoint
    from provenance.describe import describe_checkpoint
    from provenance.fingerprint.format import Fingerprint
    from provenance.tokenizer.files import load_tokenizer
    from provenance.tokenizer.rebuilt import load_llama2c_tokenizer

    if kind == "open":
        with open_checkpoint(path) as c:
            describe_checkpoint(c, hashes=False)
            for _ in c.items():
                pass
    elif kind == "tokenizer":
        tok = load_tokenizer(path)
        if tok._encoder is not None:  # what the probes do with it: padding/truncation settings act here
            tok.encode("Hello world, a sentence of a few tokens.")
    elif kind == "llama2c_tokenizer":
        load_llama2c_tokenizer(path)
    elif kind == "gguf_tokenizer":
        from provenance.checkpoint.gguf import read_header
        from provenance.tokenizer.rebuilt import from_gguf_metadata

        from_gguf_metadata(read_header(path)[0], path)
    elif kind == "chat":  # the file holds a chat template; rendered as an audit renders canaries
        from provenance.tokenizer.vocab import Tokenizer

        tok = Tokenizer("plain", ["<s>", "</s>"], special_ids=[0, 1], surface="plain", encoder=None, decoder=None,
                        bos_id=0, eos_id=1, chat_template=path.read_text(), source=path)
        tok.apply_chat_templates([[{"role": "user", "content": "hi"}]] * 10)
    elif kind == "fingerprint":
        Fingerprint.load(path)
    elif kind == "allocate":
        bytearray(int(path.name))  # the control: this many bytes must not fit under the cap
    else:
        raise ValueError(kind)


def main() -> None:
    cases = json.loads(Path(sys.argv[1]).read_text())
    budget = int(sys.argv[2]) << 20
    # imports first: the cap is set on top of what they take
    import provenance.checkpoint
    import provenance.describe
    import provenance.fingerprint.format
    import provenance.tokenizer.rebuilt  # noqa: F401

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (_vm_bytes() + budget, hard))
    from provenance.errors import ProvenanceError

    for case in cases:
        start = time.process_time()  # CPU seconds: what a refusal costs, whatever else the machine runs
        try:
            _run(case["kind"], Path(case["path"]))
            outcome, message = "ok", ""
        except ProvenanceError as e:
            outcome, message = type(e).__name__, str(e)
        except MemoryError:
            outcome, message = "MemoryError", ""
        except Exception as e:  # reported, and the test fails on it
            outcome, message = type(e).__name__, str(e)[:500]
        print(json.dumps({"name": case["name"], "outcome": outcome, "message": message,
                          "seconds": round(time.process_time() - start, 3)}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
