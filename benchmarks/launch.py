"""Run a command and record its wall time and memory peaks: ``python launch.py RESULT.json CMD ...``.

Why a separate small process: Linux carries a process's peak RSS across ``exec`` into ``ru_maxrss``,
so a child forked straight from the (large) benchmark process would report at least the parent's
size. Forked from this small launcher instead, ``ru_maxrss`` is the command's own peak. The launcher
also polls ``/proc/<pid>/status`` every 20 ms for the peak of anonymous memory (``RssAnon``): RSS
also counts pages of memory-mapped checkpoint files, which are page cache that the kernel can drop,
not memory the process allocated. Writes ``{"seconds", "maxrss_kb", "anon_kb", "returncode"}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path


def _anon_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def main() -> int:
    out, cmd = Path(sys.argv[1]), sys.argv[2:]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd)
    peak = [0]
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _anon_kb(proc.pid))

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    done.set()
    t.join()
    code = os.waitstatus_to_exitcode(status)
    out.write_text(json.dumps({"seconds": seconds, "maxrss_kb": usage.ru_maxrss, "anon_kb": peak[0],
                               "returncode": code}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
