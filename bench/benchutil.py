"""What several bench scripts share: where results and derived data go, the machine a result
was measured on, writing a generated block into a README between markers, and the comparison a
practitioner cares about under the reference protocol (the adapted model against the base model
run without the prefix)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from bmembed_lab.metrics import TEXTBOOK_MAP, column

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
WORK = ROOT / "bench" / ".work"  # derived data of licensed data sets: git-ignored
FB = ROOT.parent / "shared" / "datasets" / "financebench"


def machine() -> dict:
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }


SUMMARY_COLUMNS = ["Hit@1", "Hit@4", "Hit@10", "MAP@10", TEXTBOOK_MAP, "nDCG@10"]


def summary_markdown(summary: list[dict]) -> list[str]:
    """A results summary (rows as `run_bench` stores them, older names read too) as a markdown
    table in the paper's Table 2/6 layout."""
    head = ["system"] + [{"MAP@10": "MAP@10 (Multihop-RAG)"}.get(c, c) for c in SUMMARY_COLUMNS]
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + [
        f"| {row['system']} | " + " | ".join(f"{column(row, c):.2f}" for c in SUMMARY_COLUMNS)
        + " |" for row in summary]


def write_block(readme: Path, name: str, body: str) -> None:
    """Replace what lies between ``<!-- name:start -->`` and ``<!-- name:end -->`` in ``readme``
    with ``body`` (appended at the end, markers included, when the markers are missing)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = readme.read_text()
    block = f"{start}\n{body}\n{end}"
    if start in text and end in text:
        text = text[:text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text)


def interval(c: dict | None) -> str:
    """A comparison record (evaluation.compare_systems) as "+d.dd [+lo, +hi]"; "-" for none."""
    return f"{c['diff']:+.2f} [{c['ci_low']:+.2f}, {c['ci_high']:+.2f}]" if c else "-"


def against_clean_base(pipe, clean, system: str = "bmembed") -> list[dict]:
    """``system`` of ``pipe`` (reference protocol) against ``clean``'s base model on the same
    questions, every metric, paired bootstrap (records of evaluation.compare_systems)."""
    import pandas as pd

    from bmembed_lab.evaluation import compare_systems, per_query_table

    rel, _ = pipe.relevance()
    pq = pd.concat([per_query_table(pipe.run(system)[0], rel),
                    per_query_table(clean.run("base")[0], rel).assign(system="base (clean)")])
    return compare_systems(pq, system, "base (clean)", n_boot=pipe.cfg.eval.bootstrap).to_dict(
        orient="records"
    )
