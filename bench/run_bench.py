"""Benchmarks: encoding speed against sentence-transformers, and FinanceBench retrieval.

    python bench/run_bench.py [encode] [financebench] [--max-docs N]

* encode: the same model and texts through sentence-transformers' ``encode`` (fp32, its
  defaults) and through ``bmembed_lab.encoder`` (precision auto), side by side in one process,
  both warmed up first; throughput ratio and min/mean cosine to sentence-transformers.
* financebench: the 74 PDFs in ../shared/datasets/financebench read with the project's own
  folder loader, the 150 questions' evidence turned into page-level and text-level labels,
  BM25 / base MiniLM / RRF evaluated, wall time of every stage.

Results go to bench/results/<name>.json; bench/README.md holds the table.
FinanceBench is CC BY-NC 4.0: its derived files live in bench/.work/ (git-ignored), never in git.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "bench" / ".work"
FB = ROOT.parent / "shared" / "datasets" / "financebench"


def machine() -> dict:
    import torch

    return {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
            "threads": torch.get_num_threads()}


def bench_encode(n_texts: int = 512, repeats: int = 2) -> dict:
    """Chunks of the demo corpus (256 tokens max), encoded by both, best of ``repeats``."""
    from sentence_transformers import SentenceTransformer

    from bmembed_lab.config import EncoderConfig, load_config
    from bmembed_lab.encoder import Encoder, resolve_model_path
    from bmembed_lab.pipeline import Pipeline

    chunks, _ = Pipeline(load_config(ROOT / "configs" / "demo.toml")).chunks()
    texts = [c.text for c in chunks[:n_texts]]
    path = str(resolve_model_path("all-MiniLM-L6-v2"))
    st = SentenceTransformer(path, device="cpu")
    ours = Encoder.load(EncoderConfig(precision="auto", batch_size=32))
    st.encode(texts[:64], batch_size=32)
    ours.encode(texts[:64], progress=False)

    def best(fn):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t)
        return out, min(times)

    ref, t_st = best(lambda: st.encode(texts, batch_size=32, normalize_embeddings=True))
    emb, t_ours = best(lambda: ours.encode(texts, progress=False))
    cos = (ref * emb).sum(1)
    tokens = [len(ours.tokenizer(t)["input_ids"]) for t in texts]
    return {"texts": len(texts), "mean_tokens": float(np.mean(tokens)), "batch_size": 32,
            "sentence_transformers_fp32_texts_per_s": len(texts) / t_st,
            "bmembed_lab_texts_per_s": len(texts) / t_ours, "bmembed_lab_precision": ours.precision,
            "speedup": t_st / t_ours, "cosine_min": float(cos.min()), "cosine_mean": float(cos.mean()),
            "target": ">= 2x at cosine >= 0.998"}


def financebench_inputs(max_docs: int = 0) -> tuple[Path, Path, Path, dict]:
    """Queries/evidence JSONL for the PDFs present; a folder of symlinks when subsetting."""
    rows = [json.loads(line) for line in open(FB / "data" / "financebench_open_source.jsonl")]
    present = {p.stem for p in (FB / "pdfs").glob("*.pdf")}
    docs = sorted(present)
    if max_docs:
        needed = sorted({e["doc_name"] for r in rows for e in r["evidence"]} & present)
        docs = needed[:max_docs]
    WORK.mkdir(parents=True, exist_ok=True)
    folder = WORK / ("fb_pdfs" if not max_docs else f"fb_pdfs_{max_docs}")
    folder.mkdir(exist_ok=True)
    for d in docs:
        link = folder / f"{d}.pdf"
        if not link.exists():
            link.symlink_to((FB / "pdfs" / f"{d}.pdf").resolve())
    keep = set(docs)
    queries, evidence, dropped = [], [], 0
    for r in rows:
        ev = [e for e in r["evidence"] if e["doc_name"] in keep]
        if len(ev) < len(r["evidence"]):
            dropped += 1
            continue  # only questions whose every evidence document is in the corpus
        queries.append({"_id": r["financebench_id"], "text": r["question"]})
        for e in ev:
            evidence.append({"query_id": r["financebench_id"], "doc_id": f"{e['doc_name']}.pdf",
                             "page": e["evidence_page_num"], "text": e["evidence_text"]})
    qp, ep = WORK / "fb_queries.jsonl", WORK / "fb_evidence.jsonl"
    qp.write_text("".join(json.dumps(q) + "\n" for q in queries))
    ep.write_text("".join(json.dumps(e) + "\n" for e in evidence))
    return folder, qp, ep, {"pdfs": len(docs), "questions": len(queries),
                            "questions dropped (evidence document missing)": dropped}


def bench_financebench(max_docs: int = 0) -> dict:
    from bmembed_lab.config import load_config
    from bmembed_lab.pipeline import Pipeline

    folder, qp, ep, info = financebench_inputs(max_docs)
    out = {"inputs": info, "relevance": {}}
    for match in ("page", "text"):
        cfg = load_config(None, ["corpus.format=folder", f'corpus.path="{folder}"',
                                 f'corpus.queries="{qp}"', f'corpus.evidence="{ep}"',
                                 f"relevance.match={json.dumps(match)}", "chunking.chunk_tokens=254",
                                 f'cache.dir="{ROOT / ".bmembed_cache"}"'])
        pipe = Pipeline(cfg)
        t = time.perf_counter()
        res = pipe.evaluate()
        total = time.perf_counter() - t
        out["relevance"][match] = {
            "counts": pipe.report(),
            "summary": res["summary"].reset_index().to_dict(orient="records"),
            "comparisons": res["comparisons"].to_dict(orient="records"),
            "stage_seconds": pipe.timings, "total_seconds": total}
        print(match, pipe.report(), "\n", res["summary"].round(2).to_string(), flush=True)
    return out


def render_tables() -> str:
    """Markdown tables from bench/results/*.json (what bench/README.md shows)."""
    out = []
    enc = RESULTS / "encode.json"
    if enc.is_file():
        e = json.loads(enc.read_text())
        out += ["### Encoding throughput (all-MiniLM-L6-v2, same texts, one process)", "",
                "| encoder | precision | texts/s | ratio | cosine to ST (min / mean) |",
                "|---|---|---|---|---|",
                f"| sentence-transformers `encode` | fp32 | {e['sentence_transformers_fp32_texts_per_s']:.1f} | 1.00x | - |",
                f"| bmembed_lab `Encoder.encode` | {e['bmembed_lab_precision']} | {e['bmembed_lab_texts_per_s']:.1f} | "
                f"**{e['speedup']:.2f}x** | {e['cosine_min']:.5f} / {e['cosine_mean']:.5f} |", "",
                f"{e['texts']} demo chunks, {e['mean_tokens']:.0f} tokens on average, batch {e['batch_size']}, "
                f"best of 2 after a warm-up; {e['machine']['cpu_count']} CPU cores, torch {e['machine']['torch']}. "
                f"Target: {e['target']}.", ""]
    fb = RESULTS / "financebench.json"
    if fb.is_file():
        f = json.loads(fb.read_text())
        info = f["inputs"]
        out += ["### FinanceBench (BM25, base MiniLM, RRF)", "",
                f"{info['pdfs']} PDFs read by the project's folder loader; {info['questions']} questions "
                f"({info['questions dropped (evidence document missing)']} dropped because an evidence "
                "document is not among the PDFs); chunks of at most 254 MiniLM tokens.", ""]
        for match, r in f["relevance"].items():
            c = r["counts"]
            out += [f"**Relevance by evidence {match}** ({c['chunks']} chunks, {c['evaluated queries']} "
                    f"questions evaluated, {c['labelled queries without a relevant chunk (excluded)']} "
                    "without any relevant chunk excluded)", "",
                    "| system | Hit@1 | Hit@4 | Hit@10 | MAP@10 (Multihop-RAG) | MAP@10 (textbook) | nDCG@10 |",
                    "|---|---|---|---|---|---|---|"]
            for row in r["summary"]:
                out.append(f"| {row['system']} | {row['Hit@1']:.2f} | {row['Hit@4']:.2f} | {row['Hit@10']:.2f} | "
                           f"{row['MAP@10']:.2f} | {row['MAP@10 (textbook)']:.2f} | {row['nDCG@10']:.2f} |")
            t = r["stage_seconds"]
            out += ["", "Stage wall times (s, cached stages load in well under a second): "
                    + ", ".join(f"{k} {v:.1f}" for k, v in t.items()) + f"; total {r['total_seconds']:.1f}", ""]
    return "\n".join(out)


def write_readme() -> None:
    readme = ROOT / "bench" / "README.md"
    text = readme.read_text()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    head, rest = text.split(start)
    _, tail = rest.split(end)
    readme.write_text(f"{head}{start}\n{render_tables()}\n{end}{tail}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", nargs="*", default=["encode", "financebench"])
    ap.add_argument("--max-docs", type=int, default=0, help="FinanceBench: only the first N evidence PDFs")
    a = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if "encode" in a.which:
        r = {"machine": machine(), **bench_encode()}
        (RESULTS / "encode.json").write_text(json.dumps(r, indent=1))
        print(json.dumps(r, indent=1), flush=True)
    if "financebench" in a.which:
        if not FB.is_dir():
            sys.exit(f"FinanceBench not found at {FB}")
        r = {"machine": machine(), **bench_financebench(a.max_docs)}
        (RESULTS / "financebench.json").write_text(json.dumps(r, indent=1, default=str))
    write_readme()  # the tables always reflect every result file present


if __name__ == "__main__":
    main()
