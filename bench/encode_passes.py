"""How many tokens an unpadded inference pass should hold: the demo's dev pool (its 445 chunks
of ~250 tokens) and 899 test questions encoded by ``Encoder.encode`` with passes of 2,048 real
tokens (``encoder.ENCODE_TOKENS``) and of 32 texts (``encoder.batch_size``, the earlier rule),
interleaved, each several times, in one process on the bundled MiniLM in fp32.

    python bench/encode_passes.py [--repeats 4]

Results: bench/results/encode_passes.json; the table in bench/README.md ("Tokens per
inference pass"). The chunks are the demo corpus's documents cut into 254-token pieces, the
first 445 of them (the size of the demo's dev pool), the questions its first 899.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "results" / "encode_passes.json"


def texts() -> tuple[list[str], list[str]]:
    from bmembed_lab.encoder import load_tokenizer, resolve_model_path

    tok = load_tokenizer(str(resolve_model_path("all-MiniLM-L6-v2")))
    demo = ROOT / "data" / "medquad_demo"
    chunks = []
    for line in (demo / "corpus.jsonl").read_text().splitlines():
        d = json.loads(line)
        ids = tok(d.get("title", "") + " " + d["text"], add_special_tokens=False)["input_ids"]
        chunks += [tok.decode(ids[s:s + 254]) for s in range(0, len(ids), 254)]
    questions = [json.loads(x)["text"] for x in (demo / "queries.jsonl").read_text().splitlines()]
    return chunks[:445], questions[:899]


def main() -> None:
    from bmembed_lab import encoder
    from bmembed_lab.config import EncoderConfig

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=4)
    a = ap.parse_args()
    enc = encoder.Encoder.load(EncoderConfig(precision="fp32"))
    chunks, questions = texts()
    rules = {"2,048 tokens per pass": encoder.ENCODE_TOKENS, "32 texts per pass": 0}
    seconds = {(r, k): [] for r in rules for k in ("chunks", "questions")}
    enc.encode(chunks[:40], progress=False)  # warm-up
    for _ in range(a.repeats):
        for rule, tokens in rules.items():
            encoder.ENCODE_TOKENS = tokens
            for kind, tx in (("chunks", chunks), ("questions", questions)):
                t = time.perf_counter()
                enc.encode(tx, is_query=kind == "questions", progress=False)
                seconds[rule, kind].append(time.perf_counter() - t)
    rows = [{"rule": r, "texts": k, "n": len(chunks if k == "chunks" else questions),
             "seconds": s, "median": statistics.median(s)} for (r, k), s in seconds.items()]
    for kind in ("chunks", "questions"):
        new, old = (statistics.median(seconds[r, kind]) for r in rules)
        rows.append({"texts": kind, "speedup (32 texts / 2,048 tokens)": old / new})
    result = {"machine": {"cpu": platform.processor() or platform.machine(),
                          "platform": platform.platform()}, "repeats": a.repeats, "rows": rows}
    OUT.write_text(json.dumps(result, indent=1))
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
