"""The training lists as the notebooks show them: the partition designer's view of one query's
list (02), how peaked the targets are over every list at an alpha (02's histogram), and the
lowest ListNet loss the lists allow (03's floor). Plain functions over the cached lists; kept
apart from partitions.py, whose code keys every cached training list."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import SamplingConfig
from .partitions import entropy, partition_boundaries, target_distribution, target_warning


def design_list(ranking, row: int, chunks, sampling: SamplingConfig, alpha: float) -> dict:
    """The partition designer's view of one query: interval edges over its candidates, one
    list drawn with ``sampling`` (seeded per query, as in training), its items with text,
    the target softmax(scores / alpha), its entropy and a warning if near one-hot / uniform.
    Ranks and intervals are shown 1-based (rank 1 = BM25's first), as the CLI prints them;
    the stored lists keep 0-based ranks."""
    from .sampling import Ranking
    from .stages.lists import draw_lists

    n = int((ranking.indices[row] >= 0).sum())
    k = min(sampling.k, n)
    one = Ranking([ranking.query_ids[row]], [ranking.query_texts[row]],
                  ranking.indices[row:row + 1], ranking.scores[row:row + 1])
    lists = draw_lists(one, sampling, [c.chunk_id for c in chunks])
    edges = partition_boundaries(k, sampling.m, sampling.strategy, sampling.ratio, sampling.first,
                                 sampling.convention)
    scores = lists.scores[0].astype(float)
    p = target_distribution(scores, alpha)
    items = pd.DataFrame(
        {
            "interval (ranks)": [
                f"{a + 1}" if b - a == 1 else f"{a + 1}-{b}" for a, b in zip(edges[:-1], edges[1:])
            ],
            "rank": lists.ranks[0] + 1,
            "bm25": scores.round(2),
            "target p": p.astype(float).round(3),
            "chunk": [chunks[j].chunk_id for j in lists.chunk_indices[0]],
            "text": [chunks[j].text[:300] for j in lists.chunk_indices[0]],
        }
    )
    return {"edges": edges, "candidates": n, "k": k, "items": items,
            "rows": [int(j) for j in lists.chunk_indices[0]],  # the items' chunk rows
            "curve": ranking.scores[row, :n].astype(float),
            "entropy": float(entropy(p)), "max_entropy": float(np.log(len(p))),
            "warning": target_warning(p) or peaked_warning(p)}


def peaked_warning(p: np.ndarray, top: float = 0.9) -> str | None:
    """A warning when one item holds ``top`` of a list's target or more: its entropy may pass
    :func:`~.partitions.target_warning`'s threshold, yet the list mostly teaches which chunk
    comes first. (Kept here: partitions.py keys every cached training list.)"""
    peak = float(np.max(p))
    if peak < top:
        return None
    return (f"near one-hot: the top item holds {peak:.0%} of the target (normalised entropy "
            f"{float(entropy(p)) / np.log(len(p)):.2f}); the list mostly teaches which chunk is "
            "first (raise alpha)")


def listnet_floor(scores: np.ndarray, alpha: float) -> float:
    """The lowest ListNet loss the lists allow: the mean entropy of their targets
    softmax(BM25 / alpha) (cross-entropy equals it when the model matches every target), the
    training loss's own target (:func:`~.partitions.target_distribution`)."""
    return float(entropy(target_distribution(scores, alpha)).mean())


def target_spread(scores: np.ndarray, alpha: float, top: float = 0.9) -> dict:
    """Over every training list (rows of ``scores``): each target's entropy normalised by
    log(m) (0 one-hot, 1 uniform) and the share of lists whose top item holds ``top`` or
    more of the target (:func:`peaked_warning`'s rule): 02's histogram at a given alpha."""
    p = target_distribution(scores, alpha)
    return {"normalised": entropy(p) / np.log(p.shape[-1]),
            "peaked": float((p.max(axis=-1) >= top).mean())}


def model_view(pipe, system: str, query: str, rows: list[int], target: np.ndarray,
               tau: float) -> dict:
    """What a model makes of one designed list: its own distribution softmax(cos / tau) over
    the items (the student side of the ListNet loss, paper Eq. 3) and the per-list loss
    cross-entropy(target, model), beside the target's own entropy (the loss's floor). The
    chunks' embeddings come from the cache; the query is encoded now (one text)."""
    chunks = pipe.chunk_embeddings(system)[0][rows]
    q = pipe.encoder(system).encode([query], is_query=True, progress=False)[0]
    cos = np.asarray(chunks, dtype=np.float64) @ q
    model = target_distribution(cos, tau).astype(np.float64)  # the same softmax as the target's
    t = np.asarray(target, dtype=np.float64)
    return {"model p": model, "cosine": cos,
            "loss": float(-(t * np.log(np.clip(model, 1e-12, None))).sum()),
            "floor": float(entropy(t))}
