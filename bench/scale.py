"""BM25 and dense retrieval at 10^4 - 10^6 chunks: build time, ms per query and peak memory.

Synthetic chunks of about 175 words drawn from a Zipf-distributed vocabulary of 200,000 words
(so BM25 sees a realistic mix of frequent and rare terms), queries of 8 words drawn the same
way; dense: random unit vectors of dimension 384 stored as a float16 ``.npy`` and memory-mapped,
as the workbench stores corpus embeddings at scale. Each size runs in a fresh process, and its
peak resident memory (VmHWM) is read from /proc, so one size's memory never hides another's.

    python bench/scale.py [--sizes 10000,100000,1000000] [--queries 200] [--k 1000] [--render]

Writes bench/results/scale.json and the table between <!-- scale:start --> and
<!-- scale:end --> in bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "results" / "scale.json"
WORDS, VOCAB, DIM = 175, 200_000, 384


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak() -> None:
    """Restart the kernel's peak-RSS count (VmHWM) at the current RSS (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def texts(n: int, words: int, seed: int):
    """n synthetic texts, generated 10,000 at a time (never all held)."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, VOCAB + 1)
    p = 1.0 / ranks ** 1.07
    p /= p.sum()
    for s in range(0, n, 10_000):
        m = min(10_000, n - s)
        ids = rng.choice(VOCAB, size=(m, words), p=p)
        for row in ids:
            yield " ".join(f"w{i}" for i in row)


def one_bm25(n: int, queries: int, k: int) -> dict:
    from bmembed_lab import bm25
    from bmembed_lab.bm25 import COMPILED_FROM, BM25Index, tokenize
    from bmembed_lab.config import BM25Config

    bm25.COMPILED_WORK = 0  # the kernel at every size (a small workload would rank on scipy)
    base = rss_mb()
    t = time.perf_counter()
    index = BM25Index.from_texts(texts(n, WORDS, 0), BM25Config())
    build = time.perf_counter() - t
    q = tokenize(list(texts(queries + COMPILED_FROM, 8, 1)))
    # the first batch (numba's from COMPILED_FROM queries) loads the compiled kernel and builds
    # the term-major copy of the index: timed apart, as "first call s"
    t = time.perf_counter()
    index.topk(q[:COMPILED_FROM], k)
    first = time.perf_counter() - t
    t = time.perf_counter()
    index.topk(q[COMPILED_FROM:], k)
    per_query = (time.perf_counter() - t) / queries * 1000
    return {"what": "bm25", "chunks": n, "build s": build, "ms/query": per_query, "k": k,
            "first call s": first, "peak MB": peak_mb() - base, "nnz": int(index.weights.nnz),
            "vocabulary": len(index.vocab)}


def one_dense(n: int, queries: int, k: int) -> dict:
    from bmembed_lab.retrieval import dense_run

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "emb.npy"
        t = time.perf_counter()
        emb = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, DIM))
        for s in range(0, n, 100_000):
            x = rng.normal(size=(min(100_000, n - s), DIM)).astype(np.float32)
            emb[s:s + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
        emb.flush()
        del emb
        build = time.perf_counter() - t
        base = rss_mb()
        c = np.load(path, mmap_mode="r")
        q = rng.normal(size=(queries, DIM)).astype(np.float32)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        t = time.perf_counter()
        dense_run(q, c, [str(i) for i in range(queries)], k)
        per_query = (time.perf_counter() - t) / queries * 1000
        # the memory-mapped embeddings count in RSS once read; report the rest apart
        return {"what": "dense", "chunks": n, "build s": build, "ms/query": per_query, "k": k,
                "peak MB": peak_mb() - base, "embeddings MB (float16, mapped)": n * DIM * 2 / 2**20}


def render(rows: list[dict]) -> str:
    from bmembed_lab.bm25 import COMPILED_FROM

    out = [
        "### Scale: BM25 and dense retrieval, 10^4 to 10^6 chunks (`python bench/scale.py`)",
        "",
        f"Synthetic chunks of {WORDS} Zipf-distributed words; 384-dim float16 embeddings, "
        "memory-mapped. "
        "Peak MB = the process's peak resident memory above what it held before the index (BM25) "
        "or before mapping the embeddings (dense: so the mapped file's pages count in it). BM25 "
        f"first batch s: its first {COMPILED_FROM} queries, which load numba's compiled kernel and "
        "build the "
        "index's term-major copy; ms/query: the next queries, batched (bmembed_lab.bm25).",
        "",
        "| chunks | BM25 build s | BM25 first batch s | BM25 ms/query (top-k) | BM25 peak MB | "
        "dense ms/query (top-k) | dense peak MB | embeddings MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by = {}
    for r in rows:
        by.setdefault(r["chunks"], {})[r["what"]] = r
    for n in sorted(by):
        b, d = by[n].get("bm25", {}), by[n].get("dense", {})
        out.append(
            f"| {n:,} | {b.get('build s', float('nan')):.1f} | "
            f"{b.get('first call s', float('nan')):.2f} | "
            f"{b.get('ms/query', float('nan')):.1f} "
            f"(k {b.get('k', '')}) | {b.get('peak MB', float('nan')):,.0f} | "
            f"{d.get('ms/query', float('nan')):.1f} (k {d.get('k', '')}) | "
            f"{d.get('peak MB', float('nan')):,.0f} | "
            f"{d.get('embeddings MB (float16, mapped)', float('nan')):,.0f} |"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument(
        "--render", action="store_true", help="only redraw the table from the results file"
    )
    a = ap.parse_args()
    if a.render:
        from benchutil import write_block

        write_block(ROOT / "bench" / "README.md", "scale", render(json.loads(OUT.read_text())))
        return
    if a.one:
        what, n = a.one.split(":")
        fn = one_bm25 if what == "bm25" else one_dense
        print(json.dumps(fn(int(n), a.queries, a.k)))
        return
    rows = []
    for n in (int(x) for x in a.sizes.split(",")):
        for what in ("bm25", "dense"):
            r = subprocess.run([sys.executable, __file__, "--one", f"{what}:{n}", "--queries",
                                str(a.queries), "--k", str(a.k)], capture_output=True, text=True)
            if r.returncode:
                print(r.stderr[-2000:], file=sys.stderr)
                raise SystemExit(r.returncode)
            rows.append(json.loads(r.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=1))
    from benchutil import write_block

    write_block(ROOT / "bench" / "README.md", "scale", render(rows))
    print(render(rows))


if __name__ == "__main__":
    main()
