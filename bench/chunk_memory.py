"""Peak memory of chunking one 49 MB single-line document (synthetic words, no sentence end):
the process's peak resident memory before and during ``chunk_documents``, read from
/proc/self/status (VmHWM, reset through /proc/self/clear_refs). Linux only.

    python bench/chunk_memory.py   # writes bench/results/chunk_memory.json
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def peak_gb() -> float:
    line = next(x for x in open("/proc/self/status") if x.startswith("VmHWM"))
    return int(line.split()[1]) / 1e6


def main() -> None:
    from bmembed_lab.chunking import WINDOW_CHARS, chunk_documents
    from bmembed_lab.corpus import Document
    from bmembed_lab.encoder import load_tokenizer

    words = ("kidney stone bile duct insulin hormone pancreas gland liver enzyme diabetes "
             "treatment").split()
    text = " ".join(np.random.default_rng(0).choice(words, 7_000_000).tolist())[:49_000_000]
    gc.collect()
    tok = load_tokenizer("all-MiniLM-L6-v2")
    Path("/proc/self/clear_refs").write_text("5")
    before = peak_gb()
    t = time.perf_counter()
    chunks = chunk_documents([Document("big", text)], tok, 254)
    out = {"characters": len(text), "chunks": len(chunks), "window_chars": WINDOW_CHARS,
           "seconds": round(time.perf_counter() - t, 1), "peak_rss_before_gb": round(before, 2),
           "peak_rss_during_gb": round(peak_gb(), 2)}
    (ROOT / "bench" / "results" / "chunk_memory.json").write_text(json.dumps(out, indent=1))
    print(out)


if __name__ == "__main__":
    main()
