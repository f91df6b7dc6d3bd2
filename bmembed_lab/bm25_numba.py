"""BM25 top-k ranking compiled with numba (imported by :meth:`.bm25.BM25Index.topk` for batches
of queries; a single query stays on scipy, so opening a notebook never compiles this).

In: the index's term-major weights (CSR by term), the queries' term counts (CSR by query), a
per-query constant (BM25Plus) and the chunks never ranked. Out: per query the top-k chunk
indices and scores, ties broken by chunk order, exactly as :func:`.bm25.top_k_indices` orders
them. Queries run in parallel (numba threads); scores are summed term by term in float64, as
rank_bm25 sums them; the top k are selected above a threshold guessed from a sample of the scores
and checked.
"""

from __future__ import annotations

import numba
import numpy as np


SAMPLE = 4096  # scores sampled to guess a threshold below the k-th largest


@numba.njit(nogil=True)
def _ranked(sc, cand):
    """``cand`` (chunk indices in ascending order) sorted by score, descending, then by chunk."""
    vals = -sc[cand]
    order = np.argsort(vals)  # quicksort: equal scores may come out of chunk order ...
    out = cand[order]
    start = 0
    for j in range(1, len(out) + 1):  # ... so each run of equal scores is put back in order
        if j == len(out) or vals[order[j]] != vals[order[start]]:
            if j - start > 1:
                out[start:j] = np.sort(out[start:j])
            start = j
    return out


@numba.njit(nogil=True)
def _top(sc, kk):
    """The kk best chunks of one query's scores, best first, ties by chunk order. A threshold
    from a strided sample, set to let about 1.25 kk chunks through, is checked, not trusted:
    when fewer than kk pass it, every chunk is a candidate."""
    n = len(sc)
    step = max(1, n // SAMPLE)
    sample = sc[::step].copy()
    want = min(len(sample) - 1, int(1.25 * kk * len(sample) / n) + 8)
    thr = (
        np.partition(sample, len(sample) - 1 - want)[len(sample) - 1 - want] if kk < n else -np.inf
    )
    m = 0
    for d in range(n):
        m += sc[d] >= thr
    if m < kk:  # the sample misled: rank everything
        thr, m = -np.inf, n
    cand = np.empty(m, dtype=np.int64)
    m = 0
    for d in range(n):
        if sc[d] >= thr:
            cand[m] = d
            m += 1
    return _ranked(sc, cand)[:kk]


@numba.njit(parallel=True, cache=True, nogil=True)
def topk(w_indptr, w_indices, w_data, q_indptr, q_terms, q_counts, offsets, excluded, n_docs, k):
    nq = len(q_indptr) - 1
    kk = min(k, n_docs)
    out_i = np.full((nq, k), -1, dtype=np.int64)
    out_v = np.full((nq, k), np.nan)
    for qi in numba.prange(nq):
        sc = np.full(n_docs, offsets[qi])
        for t in range(q_indptr[qi], q_indptr[qi + 1]):
            term, c = q_terms[t], q_counts[t]
            for p in range(w_indptr[term], w_indptr[term + 1]):
                sc[w_indices[p]] += c * w_data[p]
        for e in excluded:
            sc[e] = -np.inf
        top = _top(sc, kk)
        out_i[qi, :kk] = top
        out_v[qi, :kk] = sc[top]
    return out_i, out_v
