"""How long does a command stay silent? Runs it, timestamps every piece of its output (stdout
and stderr together, progress bars' carriage-return updates included) and reports the longest
stretches without any output: a run that says nothing for minutes looks dead to its user.

    python bench/silence.py [--top 5] [--log FILE] -- make demo

Prints the wall time, the longest gaps with the output that ended each, and writes the
timestamped log (seconds since start, then the text) to --log when given.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--log")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    pieces: list[tuple[float, bytes]] = []
    while block := os.read(proc.stdout.fileno(), 65536):
        pieces.append((time.monotonic() - t0, block))
        sys.stdout.buffer.write(block)
        sys.stdout.flush()
    rc = proc.wait()
    wall = time.monotonic() - t0
    times = [0.0] + [t for t, _ in pieces] + [wall]
    gaps = sorted(((times[i + 1] - times[i], i) for i in range(len(times) - 1)), reverse=True)
    print(f"\n--- {' '.join(cmd)}: exit {rc}, {wall:.1f} s wall, {len(pieces)} outputs")
    for gap, i in gaps[:a.top]:
        before = pieces[i - 1][1].decode(errors="replace") if i else "(start)"
        last = before.replace("\r", "\n").strip().splitlines()[-1:] or [""]
        print(f"  {gap:6.1f} s silent after {times[i]:7.1f} s: {last[0][:90]!r}")
    if a.log:
        with open(a.log, "w", encoding="utf-8") as f:
            for t, block in pieces:
                f.write(f"{t:9.2f} {block.decode(errors='replace')!r}\n")
    return rc


if __name__ == "__main__":
    sys.exit(main())
