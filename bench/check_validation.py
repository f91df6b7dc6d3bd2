"""Does `bmembed-lab check` predict the outcome? For each corpus, question set and protocol we
have: the check's verdict (before any training), then BMEmbed against base measured on the test
split after training (the exported step chosen on the dev split), side by side.

    python bench/check_validation.py [--corpora demo,financebench,legal]
                                     [--protocols clean,reference]
    python bench/check_validation.py --render

Corpora (read from the data sets beside the repository, ../shared/datasets, never copied in):
* demo: the bundled MedQuAD demo (configs/demo.toml), its real questions;
* financebench: the 74 FinanceBench PDFs with page-level evidence (bench/financebench.py's config);
* legal: the LegalBench-RAG sample (18 documents, 200 questions, document-level labels),
  converted into bench/.work/legal;
* the Multihop-RAG proxy's rows come from bench/results/proxy.json (bench/proxy.py).
Results: bench/results/check_validation.json; the table between <!-- check:start --> and
<!-- check:end --> in bench/README.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
OUT = ROOT / "bench" / "results" / "check_validation.json"
LEGAL = ROOT.parent / "shared" / "datasets" / "legalbenchrag_sample" / "legal" / "legalbench-rag-qa"
WORK = ROOT / "bench" / ".work"


def legal_inputs() -> tuple[Path, Path, Path]:
    """The LegalBench-RAG sample as a folder corpus plus queries and document-level evidence."""
    queries, evidence = [], []
    for part in ("contractnli", "cuad", "maud", "privacy_qa"):
        with open(LEGAL / f"{part}.csv", newline="", encoding="utf-8") as f:
            for i, row in enumerate(csv.DictReader(f)):
                qid = f"{part}-{i}"
                queries.append({"_id": qid, "text": row["prompt"]})
                evidence.append({"query_id": qid, "doc_id": row["source_file"]})
    WORK.mkdir(parents=True, exist_ok=True)
    qp, ep = WORK / "legal_queries.jsonl", WORK / "legal_evidence.jsonl"
    qp.write_text("".join(json.dumps(q) + "\n" for q in queries))
    ep.write_text("".join(json.dumps(e) + "\n" for e in evidence))
    return LEGAL / "knowledge-base", qp, ep


def config(corpus: str, protocol: str, extra: list[str] = ()):
    """The corpus's config under ``protocol``, with ``extra`` overrides last."""
    from bmembed_lab.config import load_config

    sets = [f'encoder.protocol="{protocol}"']
    if corpus == "demo":
        return load_config(ROOT / "configs" / "demo.toml", sets + list(extra))
    if corpus == "financebench":
        from financebench import financebench_config, financebench_inputs

        folder, qp, ep, _ = financebench_inputs(0)
        return financebench_config(folder, qp, ep, "page", sets + ["training.steps=200",
                                                                   "training.warmup_steps=20",
                                                                   *extra])
    folder, qp, ep = legal_inputs()
    return load_config(
        None,
        sets
        + [
            "corpus.format=folder",
            f'corpus.path="{folder}"',
            f'corpus.queries="{qp}"',
            f'corpus.evidence="{ep}"',
            "chunking.chunk_tokens=254",
            "training.steps=200",
            "training.warmup_steps=20",
            f'cache.dir="{ROOT / ".bmembed_cache"}"',
            *extra,
        ],
    )


def measure(corpus: str, protocol: str) -> dict:
    from bmembed_lab.check import run_check
    from bmembed_lab.pipeline import Pipeline

    pipe = Pipeline(config(corpus, protocol))
    t0 = time.perf_counter()
    check = run_check(pipe)
    res = pipe.evaluate(["bm25", "base", "bmembed"])
    out = {"corpus": corpus, "protocol": protocol, "check": check, "verdict": check["verdict"],
           "questions": {s: len(pipe.questions(s)) for s in ("dev", "test")},
           "comparisons": res["comparisons"].to_dict(orient="records"), "notes": res["notes"],
           "selection": pipe.trained("bmembed")[0].info.get("selection"),
           "seconds": time.perf_counter() - t0}
    if protocol == "reference":  # the adapted model against the clean base, on the same questions
        from benchutil import against_clean_base

        out["bmembed (reference) - base (clean)"] = against_clean_base(
            pipe, Pipeline(config(corpus, "clean"), pipe.cache))
    return out


def judged(verdict: str, low: float, high: float) -> str:
    """Whether the verdict held: a verdict contradicted by an interval that excludes zero is a
    bug in the check; 'unclear' is never wrong, only less useful where the effect was clear."""
    sign = "help" if low > 0 else "hurt" if high < 0 else None
    if verdict == "unclear":
        return "not wrong" + (f" (measured: {sign})" if sign else "")
    if sign is None:
        return "not confirmed (interval includes 0)"
    return "yes" if sign == verdict else "WRONG"


def render(rows: list[dict]) -> str:
    from benchutil import interval as iv

    out = [
        "### Does `bmembed-lab check` predict the outcome? (`python bench/check_validation.py`)",
        "",
        "The verdict is computed before any training (BM25 against base on the dev split, and "
        "the prefix's cost under the reference protocol); the measured difference is BMEmbed's "
        "exported step (chosen on dev) against base on the test split, MAP@10 [paired 95%].",
        "",
        "| corpus | questions (dev / test) | protocol | check's evidence | verdict | measured "
        "BMEmbed - base, MAP@10 | against the clean base | verdict right? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        gap = r["check"]["bm25 - base"]
        ev = f"BM25 - base {gap['diff']:+.1f} [{gap['low']:+.1f}, {gap['high']:+.1f}]"
        cost = r["check"].get("prefix cost (clean base - reference base)")
        if cost:
            ev = (
                f"prefix costs base {cost['diff']:.1f} [{cost['low']:+.1f}, {cost['high']:+.1f}]; "
                + ev
            )
        d = next(
            x
            for x in r["comparisons"]
            if x["comparison"] == "bmembed - base" and x["metric"] == "MAP@10"
        )
        vc = next(
            (x for x in r.get("bmembed (reference) - base (clean)", []) if x["metric"] == "MAP@10"),
            None,
        )
        q = r.get("questions", {})
        out.append(
            f"| {r['corpus']} | {q.get('dev', '?'):,} / {q.get('test', '?'):,} | {r['protocol']} | "
            f"{ev} | "
            f"{r['verdict']} | {iv(d)} | {iv(vc) if vc else '-'} | "
            f"{judged(r['verdict'], d['ci_low'], d['ci_high'])} |"
        )
    return "\n".join(out)


def proxy_rows() -> list[dict]:
    """The Multihop-RAG proxy's runs (bench/proxy.py) in this table's shape."""
    p = ROOT / "bench" / "results" / "proxy.json"
    if not p.is_file():
        return []
    rows = []
    for r in json.loads(p.read_text()):
        rows.append(
            {
                "corpus": f"Multihop-RAG proxy ({r['queries']} queries, {r['rung']} lists)",
                "protocol": r["protocol"],
                "check": r["check"],
                "verdict": r["verdict"],
                "questions": {
                    "dev": r["check"]["questions"]["count"],
                    "test": r["counts"].get("evaluated queries", "?"),
                },
                "comparisons": r["comparisons"],
                "bmembed (reference) - base (clean)": r.get(
                    "bmembed (reference) - base (clean)", []
                ),
            }
        )
    return rows


def write_readme(rows: list[dict]) -> None:
    from benchutil import write_block

    write_block(ROOT / "bench" / "README.md", "check", render(rows + proxy_rows()))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--corpora", default="demo,financebench,legal")
    ap.add_argument("--protocols", default="clean,reference")
    ap.add_argument("--render", action="store_true", help="only redraw the README table")
    a = ap.parse_args()
    rows = json.loads(OUT.read_text()) if OUT.is_file() else []
    if not a.render:
        for corpus in a.corpora.split(","):
            for protocol in a.protocols.split(","):
                r = measure(corpus, protocol)
                rows = [x for x in rows if (x["corpus"], x["protocol"]) != (corpus, protocol)] + [r]
                OUT.write_text(json.dumps(rows, indent=1, default=str))
                print(
                    f"{corpus} {protocol}: verdict {r['verdict']}, {r['seconds']:.0f} s", flush=True
                )
    write_readme(rows)


if __name__ == "__main__":
    main()
