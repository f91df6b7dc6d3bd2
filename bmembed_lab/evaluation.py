"""Evaluation tables: per-query metrics of runs, the system comparison table and paired
bootstrap intervals between systems (paper Section 4, Tables 2 and 6).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import paired_bootstrap, query_metrics
from .relevance import Relevance
from .retrieval import Run

HEADLINE = ["Hit@1", "Hit@4", "Hit@10", "MAP@10", "MAP@10 (textbook)", "MRR@10", "nDCG@10"]


def per_query_table(run: Run, rel: Relevance, ks=(1, 4, 10)) -> pd.DataFrame:
    """One row per labelled query of the run: system, query_id, every metric, gold rank."""
    rows = []
    for i, qid in enumerate(run.query_ids):
        if qid not in rel.grades:
            continue
        ranked = run.ranked(i)
        grades = rel.grades[qid]
        m = query_metrics(ranked, grades, rel.facts[qid], rel.n_facts[qid], ks)
        first = next((r for r, c in enumerate(ranked, 1) if c in grades), None)
        rows.append({"system": run.system, "query_id": qid, **m, "gold_rank": first})
    return pd.DataFrame(rows)


def summary_table(per_query: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Mean of each metric per system (in percent), systems in first-seen order."""
    metrics = metrics or [m for m in HEADLINE if m in per_query.columns]
    order = list(dict.fromkeys(per_query["system"]))
    t = per_query.groupby("system", sort=False)[metrics].mean().loc[order] * 100
    t.insert(0, "queries", per_query.groupby("system", sort=False).size().loc[order])
    return t


def compare_systems(per_query: pd.DataFrame, a: str, b: str, metrics: list[str] | None = None,
                    n_boot: int = 10000, seed: int = 0) -> pd.DataFrame:
    """Paired bootstrap of system a minus system b on their common queries, per metric
    (differences in percentage points)."""
    metrics = metrics or ["Hit@1", "Hit@4", "Hit@10", "MAP@10", "nDCG@10"]
    pa = per_query[per_query.system == a].set_index("query_id")
    pb = per_query[per_query.system == b].set_index("query_id")
    common = pa.index.intersection(pb.index)
    rows = []
    for m in metrics:
        r = paired_bootstrap(pa.loc[common, m].to_numpy(), pb.loc[common, m].to_numpy(), n_boot, seed)
        rows.append({"comparison": f"{a} - {b}", "metric": m, "diff": 100 * r["diff"],
                     "ci_low": 100 * r["low"], "ci_high": 100 * r["high"], "p_value": r["p_value"],
                     "queries": r["n"]})
    return pd.DataFrame(rows)


def format_table(t: pd.DataFrame, digits: int = 2) -> str:
    """Plain-text rendering for the terminal and the README."""
    return t.to_string(float_format=lambda x: f"{x:.{digits}f}")


def sample_queries(query_ids: list[str], n: int, seed: int) -> list[str]:
    """A seeded subset of at most n ids, in their original order (n <= 0: all)."""
    if n <= 0 or n >= len(query_ids):
        return list(query_ids)
    keep = set(np.random.default_rng(seed).choice(len(query_ids), n, replace=False).tolist())
    return [q for i, q in enumerate(query_ids) if i in keep]
