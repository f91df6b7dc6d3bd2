"""Retrieval metrics for one query, and the paired bootstrap (paper Section 4, Tables 2 and 6).

Every metric takes ``ranked`` (chunk ids/indices, best first; -1 entries are padding and never
relevant) and the query's labels: ``grades`` {chunk: grade > 0} or ``facts`` {chunk: [gold fact
ids it holds]} with ``n_facts`` gold facts in all. Ranks are 1-based in the formulas.
"""

from __future__ import annotations

import math
import re
from typing import Hashable, Mapping, Sequence

import numpy as np


def hit_at_k(ranked: Sequence[Hashable], grades: Mapping, k: int) -> float:
    """1.0 when any relevant chunk is in the top k."""
    return float(any(c in grades for c in ranked[:k]))


def recall_at_k(ranked: Sequence[Hashable], facts: Mapping, n_facts: int, k: int) -> float:
    """Fraction of the query's gold facts held by some chunk in the top k."""
    found = {f for c in ranked[:k] for f in facts.get(c, ())}
    return len(found) / n_facts if n_facts else 0.0


def mrr_at_k(ranked: Sequence[Hashable], grades: Mapping, k: int = 10) -> float:
    """1 / rank of the first relevant chunk within the top k, else 0."""
    for r, c in enumerate(ranked[:k], 1):
        if c in grades:
            return 1.0 / r
    return 0.0


def _precision_sum(ranked: Sequence[Hashable], grades: Mapping, k: int) -> float:
    """Sum of precision@r over the relevant ranks r <= k: AP@k before its divisor."""
    hits, total = 0, 0.0
    for r, c in enumerate(ranked[:k], 1):
        if c in grades:
            hits += 1
            total += hits / r
    return total


def ap_at_k(ranked: Sequence[Hashable], grades: Mapping, k: int = 10) -> float:
    """Textbook AP@k: sum of precision@r at relevant ranks r <= k, over min(#relevant, k)."""
    denom = min(len(grades), k)
    return _precision_sum(ranked, grades, k) / denom if denom else 0.0


def trec_ap_at_k(ranked: Sequence[Hashable], grades: Mapping, k: int = 10) -> float:
    """trec_eval's ``map_cut_k`` term: sum of precision@r at relevant ranks r <= k, over the
    number of relevant chunks R (not min(R, k): a question with 20 relevant chunks scores at
    most 10 / 20 here and 1 in :func:`ap_at_k`)."""
    return _precision_sum(ranked, grades, k) / len(grades) if grades else 0.0


def multihop_ap_at_k(
    ranked: Sequence[Hashable], facts: Mapping, n_facts: int, k: int = 10
) -> float:
    """Multihop-RAG's official MAP@k term: at each rank r <= k add (gold facts found for the
    first time in chunk r) / r, then divide by min(n_facts, k). Facts at ranks 1 and 3 of two:
    (1 + 1/3) / 2 = 0.667 where textbook AP gives 0.833."""
    seen: set = set()
    total = 0.0
    for r, c in enumerate(ranked[:k], 1):
        new = set(facts.get(c, ())) - seen
        if new:
            total += len(new) / r
            seen |= new
    denom = min(n_facts, k)
    return total / denom if denom else 0.0


def ndcg_at_k(ranked: Sequence[Hashable], grades: Mapping, k: int = 10) -> float:
    """nDCG@k with linear gains: sum grade / log2(r + 1), over the ideal ordering's value."""
    dcg = sum(grades.get(c, 0.0) / math.log2(r + 1) for r, c in enumerate(ranked[:k], 1))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(r + 1) for r, g in enumerate(ideal, 1))
    return dcg / idcg if idcg > 0 else 0.0


TEXTBOOK_MAP = "MAP@10 ÷min(R,10)"  # the textbook AP@10 (R: the question's relevant chunks)
TREC_MAP = "map_cut_10 ÷R"  # trec_eval's
OLD_NAMES = {"MAP@10 (textbook)": TEXTBOOK_MAP}  # as results written before the rename say it
GLOSSARY = {  # column -> one line: what a question scores and what it is divided by
    "Hit@k": "1 when a relevant item is in the top k, else 0 (a question counts once)",
    "MAP@10": "Multihop-RAG's official MAP@10, the paper's headline: each gold fact found for "
              "the first time at rank r adds 1/r; ÷ min(gold facts, 10)",
    TEXTBOOK_MAP: "textbook average precision: precision@r summed at the relevant ranks r <= 10; "
                  "÷ min(R, 10), R = the question's relevant items",
    TREC_MAP: "trec_eval's map_cut_10: the same sum; ÷ R (a question with 20 relevant items "
              "scores at most 0.5)",
    "MRR@10": "1 / the rank of the first relevant item within 10, else 0 (no divisor)",
    "nDCG@10": "graded gains (grade / log2(r + 1)) summed over the top 10; ÷ the ideal "
               "ordering's sum",
    "Recall@k": "gold facts held by the top k; ÷ all the question's gold facts",
}


def tooltips(columns: Sequence[str]) -> dict[str, str]:
    """{column: its :data:`GLOSSARY` line} for the columns that have one (Hit@4 reads the Hit@k
    line): a table's hover text in the notebooks."""
    out = {}
    for c in columns:
        key = c if c in GLOSSARY else re.sub(r"@\d+$", "@k", str(c))
        if key in GLOSSARY:
            out[str(c)] = GLOSSARY[key]
    return out


def glossary(columns: Sequence[str]) -> list[str]:
    """``name: meaning`` once per glossary entry the columns use, in the columns' order: the
    CLI's footnotes and the notebooks' glossary read the same lines as :func:`tooltips`."""
    out = {}
    for c, text in tooltips(columns).items():
        key = c if c in GLOSSARY else re.sub(r"@\d+$", "@k", c)
        out.setdefault(key, f"{key}: {text}")
    return list(out.values())


def column(row: Mapping, name: str):
    """``row[name]``, also from results stored before a column was renamed (:data:`OLD_NAMES`)."""
    if name in row:
        return row[name]
    return next(row[old] for old, new in OLD_NAMES.items() if new == name and old in row)


def query_metrics(ranked: Sequence[Hashable], grades: Mapping, facts: Mapping, n_facts: int,
                  ks: Sequence[int] = (1, 4, 10)) -> dict[str, float]:
    """All metrics for one query, keyed as they appear in result tables (:data:`GLOSSARY`)."""
    out = {f"Hit@{k}": hit_at_k(ranked, grades, k) for k in ks}
    out["MAP@10"] = multihop_ap_at_k(ranked, facts, n_facts, 10)
    out[TEXTBOOK_MAP] = ap_at_k(ranked, grades, 10)
    out[TREC_MAP] = trec_ap_at_k(ranked, grades, 10)
    out["MRR@10"] = mrr_at_k(ranked, grades, 10)
    out["nDCG@10"] = ndcg_at_k(ranked, grades, 10)
    out.update({f"Recall@{k}": recall_at_k(ranked, facts, n_facts, k) for k in ks})
    return out


SMALL_SAMPLE = 30  # fewer paired questions than this decide nothing firmly


def p_text(p: float) -> str:
    """A p-value as read: ``p=0.0123``, or ``p<0.0001`` below what four decimals show (never
    ``p=0.0000``, which reads as impossible)."""
    return "p<0.0001" if p < 0.0001 else f"p={p:.4f}"


def interval_text(diff: float, low: float, high: float, digits: int = 1) -> str:
    """``+1.2 [-0.3, +2.7]``; when every paired difference is zero (a zero-width interval, which
    printed as '+0.0 [+0.0, +0.0]' and read like a bug), ``no question differs``."""
    if diff == low == high == 0:
        return "no question differs (0 points)"
    return f"{diff:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def small_sample_note(n: int) -> str | None:
    """A sentence when fewer than :data:`SMALL_SAMPLE` questions decide a comparison: what its
    interval then means."""
    if not 0 < n < SMALL_SAMPLE:
        return None
    return (f"only {n} questions decide this: the 95% interval says which differences these "
            f"questions are compatible with, and on so few it is a rough guide that more "
            f"questions often move; add questions (about {SMALL_SAMPLE} or more) before "
            "acting on it")


def paired_bootstrap(a: Sequence[float], b: Sequence[float], n_boot: int = 10000, seed: int = 0,
                     confidence: float = 0.95) -> dict[str, float]:
    """Paired bootstrap over queries for mean(a) - mean(b) (the same queries in both).

    Out: ``diff`` (observed), ``low``/``high`` (percentile interval), ``p_value`` (two-sided:
    share of resampled differences, shifted to mean zero, at least as extreme as observed)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired samples must have the same length, got {a.shape} and {b.shape}")
    d = a - b
    n = len(d)
    if n == 0:
        return {"diff": float("nan"), "low": float("nan"), "high": float("nan"),
                "p_value": float("nan"), "n": 0}
    rng = np.random.default_rng(seed)
    means = np.empty(n_boot)
    for s in range(0, n_boot, 1000):  # chunks keep memory flat for large query sets
        m = min(1000, n_boot - s)
        means[s:s + m] = d[rng.integers(0, n, size=(m, n))].mean(axis=1)
    obs = d.mean()
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    p = float(np.mean(np.abs(means - obs) >= abs(obs) - 1e-12)) if obs != 0 else 1.0
    return {"diff": float(obs), "low": float(low), "high": float(high), "p_value": p, "n": n}
