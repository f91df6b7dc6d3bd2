"""2-D embedding maps: one UMAP fit over the queries and chunks of several models together, so
the base and the adapted model's points share one coordinate system and can be compared.

In: per model the query and chunk embeddings (L2-normalised numpy arrays) and the ids.
Out: a DataFrame with one row per (model, kind, item): model, kind ("query" | "chunk"), item
(the query or chunk id), x, y. The pipeline caches it per (models, corpus, parameters).
umap-learn's first call in a process compiles numba code; the nearest neighbours are searched
exactly here (:func:`exact_knn`), which spares the approximate index's compilation (about 40 s
of the demo's map); cached maps skip the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import InputError


@dataclass(frozen=True)
class MapParams:
    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "cosine"
    seed: int = 0
    max_chunks: int = 3000  # a seeded subsample beyond this (gold chunks always kept)
    max_queries: int = 1000


def subsample(n: int, keep: int, must: set[int], seed: int) -> np.ndarray:
    """Sorted indices of at most ``keep`` of range(n), always including ``must``."""
    if n <= keep:
        return np.arange(n)
    must_a = np.array(sorted(must), dtype=np.int64)[:keep]
    rest = np.setdiff1d(np.arange(n), must_a)
    extra = np.random.default_rng(seed).choice(rest, max(keep - len(must_a), 0), replace=False)
    return np.sort(np.concatenate([must_a, extra]))


def exact_knn(x: np.ndarray, k: int, metric: str, block: int = 1024):
    """(indices, distances, None): each row's ``k`` nearest rows, itself included, by exact
    search in blocks of rows, for ``metric`` cosine or euclidean (else (None, None, None):
    UMAP searches itself). UMAP searches exactly below 4,096 points; above, it builds an
    approximate index (pynndescent) whose numba compilation took about 40 of the 76 s of
    `make demo`'s map, in every fresh process; exact search here takes about a second."""
    if metric not in ("cosine", "euclidean"):
        return None, None, None
    x = np.asarray(x, dtype=np.float32)
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sq = (x * x).sum(axis=1)
    idx = np.empty((len(x), k), dtype=np.int64)
    dist = np.empty((len(x), k), dtype=np.float32)
    for s in range(0, len(x), block):
        d = sq[s:s + block, None] + sq[None, :] - 2.0 * (x[s:s + block] @ x.T)
        d = np.maximum(d, 0.0)
        d[np.arange(len(d)), np.arange(s, s + len(d))] = 0.0  # itself (the expansion rounds)
        d = d / 2.0 if metric == "cosine" else np.sqrt(d)  # unit vectors: |a-b|^2 = 2 - 2cos
        part = np.argpartition(d, k - 1, axis=1)[:, :k]
        rows = np.arange(len(part))[:, None]
        part = part[rows, np.argsort(d[rows, part], axis=1, kind="stable")]
        idx[s:s + block], dist[s:s + block] = part, d[rows, part]
    return idx, dist, None


def joint_umap(
    blocks: list[tuple[str, str, list[str], np.ndarray]], params: MapParams
) -> pd.DataFrame:
    """``blocks``: (model, kind, ids, embeddings) tuples, all of one dimension. One UMAP fit on
    their concatenation; returns the long coordinate table."""
    if not blocks:
        raise InputError("no embeddings to map", "embedding map", "choose at least one model")
    dims = {b[3].shape[1] for b in blocks}
    if len(dims) != 1:
        raise InputError(f"models of different dimensions {sorted(dims)}", "embedding map",
                         "map models that share a dimension (an adapted model and its base)")
    x = np.concatenate([b[3] for b in blocks]).astype(np.float32)
    if len(x) <= params.n_neighbors + 1:
        raise InputError(f"{len(x)} points for n_neighbors = {params.n_neighbors}", "embedding map",
                         "lower n_neighbors or map more points")
    import warnings

    import umap

    knn = exact_knn(x, params.n_neighbors, params.metric)
    with warnings.catch_warnings():  # a seed means one thread; no index means no .transform
        warnings.filterwarnings("ignore", message=".*(overridden|knn_search_index).*")
        xy = umap.UMAP(n_neighbors=params.n_neighbors, min_dist=params.min_dist,
                       metric=params.metric, random_state=params.seed, n_components=2,
                       precomputed_knn=knn).fit_transform(x)
    rows = []
    s = 0
    for model, kind, ids, emb in blocks:
        part = xy[s:s + len(emb)]
        s += len(emb)
        rows.append(pd.DataFrame({"model": model, "kind": kind, "item": ids,
                                  "x": part[:, 0].astype(float), "y": part[:, 1].astype(float)}))
    return pd.concat(rows, ignore_index=True)
