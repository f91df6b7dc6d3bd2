"""Who sets the lists' targets: BM25 alone (the paper), or the hybrid teacher, BM25 fused with
the base encoder (``training.teacher = "hybrid"``).

The lists stay as BM25's rank partitions drew them; only the order their targets follow
changes. Each item gets a reciprocal-rank-fusion score, 1/(u + BM25 rank) + 1/(u + the base
encoder's rank of it among all chunks) (both 1-based over the whole corpus; u is the RRF system's
``eval.rrf_u``, the paper's 40), and the list's BM25
scores, sorted from high to low, are handed out in that fused order. The targets keep BM25's
scale (so alpha means what it meant), and where the two rankers agree on a list's order the
targets are BM25's own, exactly; where they disagree, an item both rank high outranks one only
BM25 likes.

In: the lists' BM25 0-based ranks and raw scores (:class:`~bmembed_lab.sampling.TrainingLists`),
the base encoder's embeddings of the lists' queries and of every chunk. Out: (n_lists, m)
scores in the lists' item order.
"""

from __future__ import annotations

import numpy as np

def dense_ranks(query_emb: np.ndarray, chunk_emb: np.ndarray, items: np.ndarray,
                block: int = 256) -> np.ndarray:
    """(n_lists, m) 1-based rank of each list item among all chunks under the dense scores
    query . chunk (row i of ``query_emb`` is list i's query; ``items`` the chunk indices), in
    blocks of queries, so the full (queries x chunks) matrix never exists at once."""
    q = np.asarray(query_emb, dtype=np.float32)
    c = np.asarray(chunk_emb, dtype=np.float32)
    out = np.empty(items.shape, dtype=np.int64)
    for s in range(0, len(q), block):
        sims = q[s:s + block] @ c.T  # (b, n_chunks)
        mine = np.take_along_axis(sims, items[s:s + block], axis=1)  # (b, m)
        out[s:s + block] = (sims[:, None, :] > mine[:, :, None]).sum(-1) + 1
    return out


def hybrid_scores(bm25_ranks: np.ndarray, scores: np.ndarray, base_ranks: np.ndarray,
                  u: int = 40) -> np.ndarray:
    """The lists' targets in fused order (module docstring). ``bm25_ranks`` are 0-based, as the
    lists store them; ``base_ranks`` 1-based; ties in the fused score keep BM25's order."""
    fused = 1.0 / (u + bm25_ranks + 1) + 1.0 / (u + base_ranks)
    out = np.empty_like(scores, dtype=np.float64)
    for i in range(len(scores)):
        order = sorted(range(scores.shape[1]), key=lambda j: (-fused[i, j], bm25_ranks[i, j]))
        out[i, order] = np.sort(scores[i])[::-1]
    return out
