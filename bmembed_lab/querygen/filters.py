"""Filters over synthetic queries and the leakage check against the evaluation queries
(paper Section 3.1; the leakage check is ours).

In: the generated queries, the evaluation queries as (id, text) pairs and the queries config.
Out: the kept queries, the dropped ones with a reason each, and the leakage report. Filters,
in order: empty, too short / too long, duplicate (case and spacing ignored), copies its
evidence (longest shared word run over ``max_copy_ratio``); then leakage: word-set Jaccard of
content words at or above ``leakage_threshold`` with any evaluation query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # imported where used: opening a notebook needs no scipy
    import scipy.sparse as sp

from ..config import QueriesConfig
from ..text import content_words, stopwords, words
from .types import SyntheticQuery


def longest_shared_run(query: list[str], source: list[str]) -> int:
    """Length of the longest run of consecutive words that the query shares with the source."""
    if not query or not source:
        return 0

    def has(n: int) -> bool:
        grams = {tuple(source[i:i + n]) for i in range(len(source) - n + 1)}
        return any(tuple(query[i:i + n]) in grams for i in range(len(query) - n + 1))

    lo, hi = 0, min(len(query), len(source))
    while lo < hi:  # "shares a run of n" is monotone in n
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if has(mid) else (lo, mid - 1)
    return lo


def jaccard_matrix(a: list[set], b: list[set]) -> sp.csr_matrix:
    """Sparse |A ∩ B| / |A ∪ B| of word sets (only pairs sharing a word are stored)."""
    import scipy.sparse as sp

    vocab: dict[str, int] = {}

    def mat(sets):
        rows, cols = [], []
        for i, s in enumerate(sets):
            for w in s:
                rows.append(i)
                cols.append(vocab.setdefault(w, len(vocab)))
        return rows, cols

    ra, ca = mat(a)
    rb, cb = mat(b)
    v = max(len(vocab), 1)
    A = sp.csr_matrix((np.ones(len(ra)), (ra, ca)), shape=(len(a), v))
    B = sp.csr_matrix((np.ones(len(rb)), (rb, cb)), shape=(len(b), v))
    inter = (A @ B.T).tocoo()
    na, nb = np.array([len(s) for s in a]), np.array([len(s) for s in b])
    union = na[inter.row] + nb[inter.col] - inter.data
    return sp.csr_matrix((inter.data / union, (inter.row, inter.col)), shape=(len(a), len(b)))



def filter_queries(queries: list[SyntheticQuery], eval_queries: list[tuple[str, str]],
                   cfg: QueriesConfig) -> tuple[list[SyntheticQuery], list[dict], list[dict]]:
    """Apply the filters in order (empty, length, duplicate, copies evidence) and the leakage
    check against the evaluation queries ((id, text) pairs). Returns kept, dropped, leakage."""
    kept, dropped, seen = [], [], set()
    for q in queries:
        w = words(q.text)
        reason, detail = None, ""
        if not w:
            reason = "empty"
        elif len(w) < cfg.min_words:
            reason, detail = "too short", f"{len(w)} words < queries.min_words = {cfg.min_words}"
        elif len(w) > cfg.max_words:
            reason, detail = "too long", f"{len(w)} words > queries.max_words = {cfg.max_words}"
        elif cfg.drop_duplicates and " ".join(w) in seen:
            reason = "duplicate"
        elif cfg.max_copy_ratio < 1 and q.evidence:
            run = max(longest_shared_run(w, words(e)) for e in q.evidence)
            if run / len(w) > cfg.max_copy_ratio:
                reason, detail = "copies its evidence", f"{run} of {len(w)} words in one run"
        if reason:
            dropped.append(
                {"query_id": q.query_id, "text": q.text, "reason": reason, "detail": detail}
            )
            continue
        seen.add(" ".join(w))
        kept.append(q)
    leakage: list[dict] = []
    if eval_queries and kept:
        stop = stopwords()
        sim = jaccard_matrix([content_words(q.text, stop) for q in kept],
                             [content_words(t, stop) for _, t in eval_queries])
        best = np.asarray(sim.argmax(axis=1)).ravel()
        best_val = np.asarray(sim.max(axis=1).todense()).ravel()
        leaky = set()
        for i in np.flatnonzero(best_val >= cfg.leakage_threshold):
            qid, qt = eval_queries[best[i]]
            leakage.append(
                {
                    "query_id": kept[i].query_id,
                    "text": kept[i].text,
                    "eval_query_id": qid,
                    "eval_text": qt,
                    "jaccard": round(float(best_val[i]), 4),
                    "action": cfg.leakage,
                }
            )
            leaky.add(i)
        if cfg.leakage == "drop" and leaky:
            for i in sorted(leaky):
                dropped.append({"query_id": kept[i].query_id, "text": kept[i].text,
                                "reason": "leaks an evaluation query",
                                "detail": f"Jaccard {best_val[i]:.2f} >= {cfg.leakage_threshold}"})
            kept = [q for i, q in enumerate(kept) if i not in leaky]
    return kept, dropped, leakage
