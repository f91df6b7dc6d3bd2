"""Build the Multihop-RAG sentence proxy for the benchmarks (never committed: it reads the
shared data sets beside the repository, ../shared/datasets/multihop_rag_bmembed, and writes
into bench/.work/, which git ignores).

The article corpus of Multihop-RAG cannot be had here, so the proxy retrieves sentences:

* corpus  = the unique sentences (whitespace-normalised) among all evaluation facts and all
            evidence of the paper's doc2query training queries, one document each;
* queries = the 2,255 evaluation questions; a sentence is relevant when it contains a gold
            fact (the Multihop-RAG text rule, as ``relevance.match = "text"`` does);
* training queries = the paper's 5,972 GPT-4o doc2query questions (``queries.backend = "file"``),
            their evidence sentences kept.

It also writes one config per protocol (``clean.toml``, ``reference.toml``) with the demo's
training recipe.

    python bench/build_multihop_proxy.py [--source DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "datasets" / "multihop_rag_bmembed"
OUT = ROOT / "bench" / ".work" / "multihop_proxy"

CONFIG = """# The Multihop-RAG sentence proxy (bench/build_multihop_proxy.py), protocol {protocol}.
[corpus]
format = "beir"
path = "data"

[chunking]
chunk_tokens = 254

[encoder]
protocol = "{protocol}"

[queries]
backend = "file"
file = "data/train_queries.jsonl"

[training]
steps = 200
warmup_steps = 20

[eval]
systems = ["bm25", "base", "rrf", "bmembed", "rrf+bmembed"]

[cache]
dir = "cache"
"""


def norm(s: str) -> str:
    return " ".join(s.split())


def sid(text: str) -> str:
    return "s" + hashlib.sha256(text.encode()).hexdigest()[:12]


def build(source: Path, out: Path) -> dict:
    evals = json.loads((source / "retrieval_dataset.json").read_text())
    d2q = json.loads((source / "doc2query.json").read_text())
    sentences: dict[str, None] = {}
    for r in evals:
        for f in r["evidence_list"]:
            sentences.setdefault(norm(f), None)
    for r in d2q:
        for e in r["evidence_list"]:
            sentences.setdefault(norm(e), None)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)

    def jsonl(path: Path, rows) -> None:
        path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows))

    jsonl(data / "corpus.jsonl", ({"_id": sid(s), "title": "", "text": s} for s in sentences))
    jsonl(
        data / "queries.jsonl", ({"_id": f"q{i}", "text": r["query"]} for i, r in enumerate(evals))
    )
    jsonl(data / "evidence.jsonl", ({"query_id": f"q{i}", "text": norm(f)}
                                     for i, r in enumerate(evals) for f in r["evidence_list"]))
    jsonl(
        data / "train_queries.jsonl",
        (
            {
                "query_id": f"d2q{i}",
                "text": r["query"],
                "doc_id": sid(norm(r["evidence_list"][0])) if r["evidence_list"] else "",
                "evidence": [norm(e) for e in r["evidence_list"]],
            }
            for i, r in enumerate(d2q)
        ),
    )
    for protocol in ("clean", "reference"):
        (out / f"{protocol}.toml").write_text(CONFIG.format(protocol=protocol))
    return {"sentences": len(sentences), "questions": len(evals), "training queries": len(d2q),
            "out": str(out)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--source", type=Path, default=SOURCE)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    print(json.dumps(build(a.source, a.out), indent=1))
