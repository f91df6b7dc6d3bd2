"""Rankings over chunks: BM25, dense (cosine of L2-normalised embeddings) and RRF fusion
(paper Sections 3.2 and 4, "RRF").

A :class:`Run` holds each query's top-k chunk indices and scores; rows shorter than k are padded
with index -1 and score nan.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bm25 import BM25Index, top_k_indices
from .safeio import load_npy, read_json, save_npy, write_json


@dataclass
class Run:
    system: str
    query_ids: list[str]
    indices: np.ndarray  # (n_queries, k) int64, -1 = padding
    scores: np.ndarray  # (n_queries, k)

    def ranked(self, row: int) -> list[int]:
        r = self.indices[row]
        return r[r >= 0].tolist()

    def save(self, folder: Path) -> None:
        write_json(folder / "run.json", {"system": self.system, "query_ids": self.query_ids})
        save_npy(folder / "indices.npy", self.indices)
        save_npy(folder / "scores.npy", self.scores)

    @classmethod
    def load(cls, folder: Path) -> "Run":
        meta = read_json(folder / "run.json")
        return cls(meta["system"], meta["query_ids"], load_npy(folder / "indices.npy"),
                   load_npy(folder / "scores.npy"))


def bm25_run(index: BM25Index, query_ids: list[str], query_tokens: list[list[str]], k: int,
             system: str = "bm25") -> Run:
    """Top-k BM25 chunks per query; chunks with score <= 0 (no shared term) are left out."""
    idx, val = index.topk(query_tokens, k, drop_nonpositive=True)
    return Run(system, list(query_ids), idx, val)


def dense_run(query_emb: np.ndarray, chunk_emb: np.ndarray, query_ids: list[str], k: int,
              system: str = "base", batch: int = 256, block: int = 32768) -> Run:
    """Top-k chunks by cosine similarity (embeddings are L2-normalised: a dot product).
    Exact, in bounded memory: ``batch`` queries at a time against ``block`` chunks at a time
    (a float16 or memory-mapped ``chunk_emb`` is read one block at a time), so the similarity
    matrix held never exceeds batch x block floats whatever the corpus size. Ties are broken
    by the lower chunk index, as one unblocked pass would.

    A score is a function of its two vectors only: summed in float64, then rounded to the
    float32 it is stored as. A float32 matrix product rounds an element differently by where
    BLAS's kernels place it (seen with OpenBLAS on an AMD Zen 4: two identical chunks scored
    one unit in the last place apart), which would rank duplicated chunks by their position in
    the matrix and make the blocks change the run."""
    n = len(chunk_emb)
    k_eff = min(k, n)
    idx = np.full((len(query_emb), k), -1, dtype=np.int64)
    val = np.full((len(query_emb), k), np.nan, dtype=np.float32)
    for s in range(0, len(query_emb), batch):
        q = np.asarray(query_emb[s:s + batch], dtype=np.float64)
        best_i = np.zeros((len(q), 0), dtype=np.int64)
        best_v = np.zeros((len(q), 0), dtype=np.float32)
        for c0 in range(0, n, block):
            sims = (q @ np.asarray(chunk_emb[c0:c0 + block], dtype=np.float64).T).astype(np.float32)
            top = top_k_indices(sims, k_eff)
            cand_i = np.concatenate([best_i, top + c0], 1)
            cand_v = np.concatenate([best_v, np.take_along_axis(sims, top, 1)], 1)
            keep = np.lexsort((cand_i, -cand_v), axis=1)[:, :k_eff]
            best_i = np.take_along_axis(cand_i, keep, 1)
            best_v = np.take_along_axis(cand_v, keep, 1)
        idx[s:s + len(q), :k_eff] = best_i
        val[s:s + len(q), :k_eff] = best_v
    return Run(system, list(query_ids), idx, val)


def truncate(emb: np.ndarray, dim: int) -> np.ndarray:
    """The first ``dim`` coordinates, re-normalised (Matryoshka evaluation)."""
    t = emb[:, :dim]
    return t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)


def rrf(runs: list[Run], u: int = 40, k: int | None = None, system: str = "rrf") -> Run:
    """Reciprocal rank fusion: score(d) = sum over runs of 1 / (u + rank_run(d)), ranks 1-based;
    a chunk missing from a run gets nothing from it. Ties break by chunk index."""
    if not runs:
        raise ValueError("rrf needs at least one run")
    qids = runs[0].query_ids
    for r in runs[1:]:
        if r.query_ids != qids:
            raise ValueError(f"runs {runs[0].system} and {r.system} rank different queries")
    k = k or max(r.indices.shape[1] for r in runs)
    idx = np.full((len(qids), k), -1, dtype=np.int64)
    val = np.full((len(qids), k), np.nan, dtype=np.float64)
    for q in range(len(qids)):
        fused: dict[int, float] = {}
        for r in runs:
            for rank, c in enumerate(r.ranked(q), 1):
                fused[c] = fused.get(c, 0.0) + 1.0 / (u + rank)
        order = sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        for j, (c, s) in enumerate(order):
            idx[q, j], val[q, j] = c, s
    return Run(system, list(qids), idx, val)
