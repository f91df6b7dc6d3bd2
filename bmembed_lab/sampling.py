"""BM25 ranking of the synthetic queries and rank-partition sampling of training lists
(paper Section 3.2, Appendix D).

:func:`rank_for_training` ranks every query's top k chunks with :class:`~.bm25.BM25Index`
(rank_bm25-identical scores); :func:`sample_lists` cuts each query's ranks into the intervals
of :func:`~.partitions.rank_partitions` and draws one chunk per interval, ``lists_per_query``
times. Degenerate cases, each skipped and counted rather than guessed at:

* empty query (no word token): ``empty query``;
* no chunk shares a word with the query (every score 0): ``no BM25 match``;
* fewer candidates than k (k above the corpus size, or few chunks sharing a word): the partition
  is laid over the candidates there are, so the intervals keep their shape at a smaller scale;
* fewer candidates than the partition needs (m items, or ``first + m - 1`` ranks for
  fine-to-coarse): ``too few candidates``;
* chunks with identical text: only the first is ranked (``sampling.drop_duplicate_chunks``), so a
  list never holds the same passage twice under two ids.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .bm25 import BM25Index, tokenize_cfg
from .safeio import load_npy, read_json, save_npy, write_json
from .config import BM25Config, SamplingConfig
from .errors import InputError
from .partitions import rank_partitions


@dataclass
class Ranking:
    """Top-k BM25 chunks of the queries kept (rows padded with -1 / nan)."""

    query_ids: list[str]
    query_texts: list[str]
    indices: np.ndarray  # (n_queries, k) int64
    scores: np.ndarray  # (n_queries, k) float64, raw BM25
    skipped: dict = field(default_factory=dict)  # reason -> [query ids]

    def n_candidates(self) -> np.ndarray:
        return (self.indices >= 0).sum(axis=1)

    def save(self, d: Path) -> None:
        write_json(
            d / "ranking.json",
            {"query_ids": self.query_ids, "query_texts": self.query_texts, "skipped": self.skipped},
        )
        save_npy(d / "indices.npy", self.indices)
        save_npy(d / "scores.npy", self.scores)

    @classmethod
    def load(cls, d: Path) -> "Ranking":
        """Arrays memory-mapped read-only: a pipeline that only needs the ranking's key (the
        cached training lists hold what it drew) reads none of its rows."""
        m = read_json(d / "ranking.json")
        return cls(m["query_ids"], m["query_texts"], load_npy(d / "indices.npy", mmap=True),
                   load_npy(d / "scores.npy", mmap=True), m["skipped"])


@dataclass
class TrainingLists:
    """One row per list: the query, and per item its chunk, 0-based BM25 rank and raw score.
    Items are in rank order (the first is the top-[0, first) 'positive')."""

    query_ids: list[str]
    query_texts: list[str]
    chunk_indices: np.ndarray  # (n_lists, n_items) int64
    ranks: np.ndarray  # (n_lists, n_items) int64
    scores: np.ndarray  # (n_lists, n_items) float64
    chunk_ids: list[list[str]]
    n_candidates: np.ndarray  # (n_lists,) ranks the partition was laid over
    counts: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)  # reason -> [query ids]

    def __len__(self) -> int:
        return len(self.query_ids)

    def frame(self) -> pd.DataFrame:
        """Long format: one row per (list, item)."""
        n, m = self.chunk_indices.shape
        return pd.DataFrame({
            "list": np.repeat(np.arange(n), m), "query_id": np.repeat(self.query_ids, m),
            "query": np.repeat(self.query_texts, m), "item": np.tile(np.arange(m), n),
            "rank": self.ranks.ravel(), "chunk_index": self.chunk_indices.ravel(),
            "chunk_id": [c for row in self.chunk_ids for c in row], "bm25": self.scores.ravel()})

    def records(self, chunk_texts: list[str]):
        """One dict per list in the JSONL that FlagEmbedding trains on and sentence-transformers
        reads with ``datasets``: ``query``, ``pos`` (the list's first item, drawn from BM25's
        top interval), ``neg`` (the other items, in rank order), with their raw BM25 scores
        (``pos_scores``, ``neg_scores``: the targets of a distillation loss), their 0-based BM25
        ranks and chunk ids."""
        for i, q in enumerate(self.query_texts):
            idx = [int(j) for j in self.chunk_indices[i]]
            s = [float(x) for x in self.scores[i]]
            yield {"query_id": self.query_ids[i], "query": q, "pos": [chunk_texts[idx[0]]],
                   "neg": [chunk_texts[j] for j in idx[1:]], "pos_scores": s[:1],
                   "neg_scores": s[1:], "ranks": [int(r) for r in self.ranks[i]],
                   "chunk_ids": list(self.chunk_ids[i])}

    def save(self, d: Path) -> None:
        write_json(d / "lists.json", {"query_ids": self.query_ids, "query_texts": self.query_texts,
                                      "chunk_ids": self.chunk_ids, "counts": self.counts,
                                      "skipped": self.skipped})
        for name in ("chunk_indices", "ranks", "scores", "n_candidates"):
            save_npy(d / f"{name}.npy", getattr(self, name))

    @classmethod
    def load(cls, d: Path) -> "TrainingLists":
        m = read_json(d / "lists.json")
        arrays = {
            n: load_npy(d / f"{n}.npy")
            for n in ("chunk_indices", "ranks", "scores", "n_candidates")
        }
        return cls(m["query_ids"], m["query_texts"], chunk_ids=m["chunk_ids"], counts=m["counts"],
                   skipped=m["skipped"], **arrays)


def duplicate_mask(texts: list[str]) -> np.ndarray:
    """True for every text identical (after whitespace normalisation) to an earlier one."""
    seen: set[bytes] = set()
    out = np.zeros(len(texts), dtype=bool)
    for i, t in enumerate(texts):
        h = hashlib.blake2b(" ".join(t.split()).encode(), digest_size=16).digest()
        out[i] = h in seen
        seen.add(h)
    return out


def rank_for_training(index: BM25Index, query_ids: list[str], query_texts: list[str],
                      bm25: BM25Config, k: int, exclude: np.ndarray | None = None,
                      progress=None) -> Ranking:
    """Each query's top-k chunks with a positive BM25 score; empty and unmatched queries are
    skipped and listed in ``skipped``."""
    if k < 1:
        raise InputError(f"sampling.k = {k}", "config", "use k >= 1 (paper: 1000)")
    toks = tokenize_cfg(query_texts, bm25)
    skipped: dict[str, list[str]] = {"empty query": [q for q, t in zip(query_ids, toks) if not t]}
    keep = [i for i, t in enumerate(toks) if t]
    idx, val = index.topk([toks[i] for i in keep], k, drop_nonpositive=True, exclude=exclude,
                          progress=progress)
    matched = (idx >= 0).any(axis=1)
    skipped["no BM25 match"] = [query_ids[keep[i]] for i in np.flatnonzero(~matched)]
    rows = [keep[i] for i in np.flatnonzero(matched)]
    return Ranking([query_ids[i] for i in rows], [query_texts[i] for i in rows], idx[matched],
                   val[matched], {r: v for r, v in skipped.items() if v})


def query_seed(seed: int, query_id: str) -> list[int]:
    return [seed, int(hashlib.sha256(query_id.encode()).hexdigest()[:12], 16)]


def sample_lists(
    ranking: Ranking, cfg: SamplingConfig, chunk_ids: list[str] | None = None
) -> TrainingLists:
    """``lists_per_query`` lists per query, one chunk drawn uniformly from each interval of
    ``rank_partitions(n, m, ...)`` where n = min(k, the query's candidates). Seeded per query, so
    a query's lists do not depend on the other queries."""
    if cfg.lists_per_query < 1:
        raise InputError(
            f"sampling.lists_per_query = {cfg.lists_per_query}", "config", "use 1 or more"
        )
    rank_partitions(cfg.k, cfg.m, cfg.strategy, cfg.ratio, cfg.first, cfg.convention)  # validates
    parts_cache: dict[int, np.ndarray | None] = {}
    qids, qtexts, rows_idx, rows_rank, rows_score, ncand = [], [], [], [], [], []
    skipped = {r: list(v) for r, v in ranking.skipped.items()}
    for i, (qid, text) in enumerate(zip(ranking.query_ids, ranking.query_texts)):
        n = int((ranking.indices[i] >= 0).sum())
        if n not in parts_cache:
            try:
                parts_cache[n] = np.array(
                    rank_partitions(
                        min(cfg.k, n), cfg.m, cfg.strategy, cfg.ratio, cfg.first, cfg.convention
                    )
                )
            except InputError:
                parts_cache[n] = None
        parts = parts_cache[n]
        if parts is None:
            skipped.setdefault("too few candidates", []).append(qid)
            continue
        rng = np.random.default_rng(query_seed(cfg.seed, qid))
        lo, hi = parts[:, 0], parts[:, 1]
        ranks = lo + np.floor(rng.random((cfg.lists_per_query, len(parts))) * (hi - lo)).astype(
            np.int64
        )
        for r in ranks:
            qids.append(qid)
            qtexts.append(text)
            rows_rank.append(r)
            rows_idx.append(ranking.indices[i, r])
            rows_score.append(ranking.scores[i, r])
            ncand.append(min(cfg.k, n))
    if not qids:
        raise InputError(
            f"no training list could be drawn (skipped: "
            f"{ {r: len(v) for r, v in skipped.items()} })",
            "sampling",
            "lower sampling.m or check the queries (do they share words with the corpus?)",
        )
    idx = np.array(rows_idx, dtype=np.int64)
    counts = {
        "queries ranked": len(ranking.query_ids),
        "queries with lists": len(set(qids)),
        "lists": len(qids),
        "items per list": idx.shape[1],
        **{f"skipped: {r}": len(v) for r, v in skipped.items()},
        "queries with fewer than k candidates": int((ranking.n_candidates() < cfg.k).sum()),
    }
    ids = (
        [[chunk_ids[j] for j in row] for row in idx]
        if chunk_ids is not None
        else [[str(j) for j in row] for row in idx]
    )
    return TrainingLists(
        qids,
        qtexts,
        idx,
        np.array(rows_rank, dtype=np.int64),
        np.array(rows_score, dtype=np.float64),
        ids,
        np.array(ncand, dtype=np.int64),
        counts,
        skipped,
    )
