"""FinanceBench (CC BY-NC 4.0, read from ``../shared/datasets/financebench``): its questions and
evidence as the workbench's query and evidence files (written to bench/.work/, git-ignored),
its config, the BM25 / base / RRF evaluation (``python bench/run_bench.py financebench``) and
that evaluation's table for bench/README.md."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from benchutil import FB, RESULTS, ROOT, WORK, summary_markdown

def financebench_inputs(max_docs: int = 0) -> tuple[Path, Path, Path, dict]:
    """Queries/evidence JSONL for the PDFs present; a folder of symlinks when subsetting."""
    rows = [json.loads(line) for line in open(FB / "data" / "financebench_open_source.jsonl")]
    present = {p.stem for p in (FB / "pdfs").glob("*.pdf")}
    docs = sorted(present)
    if max_docs:
        needed = sorted({e["doc_name"] for r in rows for e in r["evidence"]} & present)
        docs = needed[:max_docs]
    WORK.mkdir(parents=True, exist_ok=True)
    folder = FB / "pdfs"  # the whole set in place; a subset copied (links leading outside a
    if max_docs:          # corpus folder are skipped by the loader)
        folder = WORK / f"fb_pdfs_{max_docs}"
        folder.mkdir(exist_ok=True)
        for d in docs:
            if not (folder / f"{d}.pdf").is_file():
                shutil.copyfile(FB / "pdfs" / f"{d}.pdf", folder / f"{d}.pdf")
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
    from bmembed_lab.pipeline import Pipeline

    folder, qp, ep, info = financebench_inputs(max_docs)
    out = {"inputs": info, "relevance": {}}
    for match in ("page", "text"):
        cfg = financebench_config(folder, qp, ep, match)
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


def financebench_config(
    folder: Path, qp: Path, ep: Path, match: str = "page", extra: list[str] = ()
):
    from bmembed_lab.config import load_config

    return load_config(None, [*extra, "corpus.format=folder", f'corpus.path="{folder}"',
                              f'corpus.queries="{qp}"', f'corpus.evidence="{ep}"',
                              f"relevance.match={json.dumps(match)}", "chunking.chunk_tokens=254",
                              f'cache.dir="{ROOT / ".bmembed_cache"}"'])


def financebench_table() -> list[str]:
    """The FinanceBench tables from bench/results/financebench.json."""
    out = []
    fb = RESULTS / "financebench.json"
    if fb.is_file():
        f = json.loads(fb.read_text())
        info = f["inputs"]
        out += [
            "### FinanceBench (BM25, base MiniLM, RRF)",
            "",
            f"{info['pdfs']} PDFs read by the project's folder loader; {info['questions']} "
            "questions "
            f"({info['questions dropped (evidence document missing)']} dropped because an evidence "
            "document is not among the PDFs); chunks of at most 254 MiniLM tokens.",
            "",
        ]
        for match, r in f["relevance"].items():
            c = r["counts"]
            out += [
                f"**Relevance by evidence {match}** ({c['chunks']} chunks, "
                f"{c['evaluated queries']} "
                f"questions evaluated, {c['labelled queries without a relevant chunk (excluded)']} "
                "without any relevant chunk excluded)",
                "",
            ]
            out += summary_markdown(r["summary"])
            t = r["stage_seconds"]
            out += [
                "",
                "Stage wall times (s, cached stages load in well under a second): "
                + ", ".join(f"{k} {v:.1f}" for k, v in t.items())
                + f"; total {r['total_seconds']:.1f}",
                "",
            ]
    return out
