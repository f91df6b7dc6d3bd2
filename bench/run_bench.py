"""Benchmarks, side by side in one process each; every run writes bench/results/<name>.json and
regenerates the tables of bench/README.md from every result file present.

    python bench/run_bench.py [encode] [bm25] [train] [train-proxy] [financebench] [compare]
                              [perturb] [--corpora demo,financebench] [--max-docs N]

One module per benchmark, each with the function that measures and the one that writes its
table: encode_bench.py, bm25_bench.py, train_bench.py, financebench.py (its data, config and
evaluation), paper_tables.py (compare, perturb); sweep.py, seeds.py, proxy.py, scale.py and
notebook_open.py run on their own.

* encode: the same model and texts through sentence-transformers' ``encode`` (fp32, its
  defaults) and through ``bmembed_lab.encoder`` (precision auto), side by side in one process,
  both warmed up first; throughput ratio and min/mean cosine to sentence-transformers.
* bm25: ranking the offline synthetic queries' top 1,000 over the FinanceBench chunks with
  ``BM25Index.topk`` against rank_bm25's ``get_scores`` loop and bm25s's numpy and numba
  backends, same tokens and parameters, one process; speed ratio, max relative score
  difference, identical top-k lists.
* train / train-proxy: our ListNet trainer against sentence-transformers' trainer on the same
  lists at equal precision and dropout: the demo's lists, or 8 lists per step of the
  Multihop-RAG sentence proxy (bench/build_multihop_proxy.py).
* financebench: the 74 PDFs in ../shared/datasets/financebench read with the project's own
  folder loader, the 150 questions' evidence turned into page-level and text-level labels,
  BM25 / base MiniLM / RRF evaluated, wall time of every stage.

* compare: the paper's Table 2/6 (every system, bootstrap comparisons) on the demo and FinanceBench.
* perturb: the paper's Table 5 (keyword masking / synonym substitution) on the demo and
  FinanceBench.

FinanceBench is CC BY-NC 4.0: its derived files live in bench/.work/ (git-ignored), never in git.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchutil import FB, RESULTS, machine, write_block  # noqa: E402
from bm25_bench import bench_bm25, bm25_table  # noqa: E402
from encode_bench import bench_encode, encode_table  # noqa: E402
from financebench import bench_financebench, financebench_table  # noqa: E402
from paper_tables import (  # noqa: E402
    bench_compare,
    bench_perturb,
    compare_tables,
    perturbation_tables,
)
from sweep import sweep_table  # noqa: E402
from train_bench import TRAIN_CORPORA, bench_train, train_tables  # noqa: E402


def render_tables() -> str:
    """Markdown tables from bench/results/*.json (what bench/README.md shows), in this order."""
    return "\n".join(line for section in (encode_table, bm25_table, train_tables, compare_tables,
                                           perturbation_tables, sweep_table, financebench_table)
                      for line in section())


def write_readme() -> None:
    write_block(ROOT / "bench" / "README.md", "results", render_tables())


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "which", nargs="*", default=["encode", "bm25", "train", "financebench", "compare"]
    )
    ap.add_argument(
        "--corpora", default="demo,financebench", help="compare: demo and/or financebench"
    )
    ap.add_argument(
        "--train-steps", type=int, default=30, help="train, train-proxy: steps per trainer"
    )
    ap.add_argument(
        "--rounds", type=int, default=3, help="train, train-proxy: interleaved runs per trainer"
    )
    ap.add_argument(
        "--max-docs", type=int, default=0, help="FinanceBench: only the first N evidence PDFs"
    )
    a = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if "encode" in a.which:
        r = {"machine": machine(), **bench_encode()}
        (RESULTS / "encode.json").write_text(json.dumps(r, indent=1))
        print(json.dumps(r, indent=1), flush=True)
    if "bm25" in a.which:
        r = {"machine": machine(), **bench_bm25()}
        (RESULTS / "bm25.json").write_text(json.dumps(r, indent=1))
        print(json.dumps(r, indent=1), flush=True)
    for which, corpus, name in (
        ("train", "demo", "train.json"),
        ("train-proxy", "proxy", "train_proxy.json"),
    ):
        if which in a.which:
            if corpus == "proxy" and not TRAIN_CORPORA["proxy"][0].is_file():
                sys.exit("build the proxy first: python bench/build_multihop_proxy.py")
            r = {"machine": machine(), **bench_train(a.train_steps, corpus=corpus, rounds=a.rounds)}
            (RESULTS / name).write_text(json.dumps(r, indent=1))
            print(json.dumps({k: v for k, v in r.items() if k != "runs"}, indent=1),
                  {k: v["steps_per_s"] for k, v in r["runs"].items()}, flush=True)
    if "compare" in a.which:
        bench_compare(a.corpora.split(","), a.max_docs)
    if "perturb" in a.which:
        bench_perturb(a.corpora.split(","), a.max_docs)
    if "financebench" in a.which:
        if not FB.is_dir():
            sys.exit(f"FinanceBench not found at {FB}")
        r = {"machine": machine(), **bench_financebench(a.max_docs)}
        (RESULTS / "financebench.json").write_text(json.dumps(r, indent=1, default=str))
    write_readme()  # the tables always reflect every result file present


if __name__ == "__main__":
    main()
