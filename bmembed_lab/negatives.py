"""Hard-negative mining for the practitioner baseline (sentence-transformers'
MultipleNegativesRankingLoss with mined hard negatives; docs/method.md): (query, positive
chunk, hard negatives) triples.

In: the synthetic queries, the chunks, and a candidate ranking per query (BM25's top-k from the
training ranking stage, or the base encoder's cosine top-k). Out: :class:`MinedPairs`, per
query the positive chunk and ``n`` negatives drawn from the top ``depth`` candidates with the
positive removed and a margin guard against false negatives: a candidate scoring at least
``margin`` x the positive's score is skipped (sentence-transformers calls the same rule
``relative_margin = 1 - margin`` in ``mine_hard_negatives``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .chunking import Chunk
from .errors import InputError

_WS = re.compile(r"\s+")


@dataclass
class MinedPairs:
    query_ids: list[str]
    queries: list[str]
    positives: np.ndarray  # (n,) chunk index
    negatives: np.ndarray  # (n, n_neg) chunk index
    counts: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.queries)


def source_chunks(queries, chunks: list[Chunk], head_chars: int = 60) -> np.ndarray:
    """Index of the chunk holding each query's evidence passage (its first ``head_chars``
    characters, whitespace-normalised, inside a chunk of the same document), -1 if none."""
    by_doc: dict[str, list[int]] = {}
    for i, c in enumerate(chunks):
        by_doc.setdefault(c.doc_id, []).append(i)
    norm = {}
    out = np.full(len(queries), -1, dtype=np.int64)
    for qi, q in enumerate(queries):
        if not q.evidence:
            continue
        head = _WS.sub(" ", q.evidence[0]).strip()[:head_chars]
        for ci in by_doc.get(q.doc_id, []):
            if ci not in norm:
                norm[ci] = _WS.sub(" ", chunks[ci].text)
            if head and head in norm[ci]:
                out[qi] = ci
                break
    return out


def select_negatives(cand_idx: np.ndarray, cand_scores: np.ndarray, positive: np.ndarray,
                     positive_score: np.ndarray, n: int, margin: float,
                     same_text: np.ndarray | None = None) -> np.ndarray:
    """Per row the first ``n`` candidates (in rank order) that are not the positive, not
    padding (-1), not a duplicate text of the positive, and score below ``margin`` x the
    positive's score. Shapes: cand_* (q, depth), positive / positive_score (q,). Returns
    (q, n) chunk indices, -1 where a row has too few."""
    if n < 1:
        raise InputError(f"training.hard_negatives = {n}", "config", "use 1 or more for mnrl")
    if not 0 < margin <= 1:
        raise InputError(f"training.negative_margin = {margin}", "config",
                         "use a value in (0, 1]; 0.95 skips candidates within 5% of the positive")
    ok = (cand_idx >= 0) & (cand_idx != positive[:, None])
    ok &= cand_scores < margin * positive_score[:, None]
    if same_text is not None:  # chunks whose text equals the positive's
        ok &= same_text[cand_idx.clip(0)] != same_text[positive.clip(0)][:, None]
    out = np.full((len(cand_idx), n), -1, dtype=np.int64)
    for r in range(len(cand_idx)):
        picked = cand_idx[r][ok[r]][:n]
        out[r, :len(picked)] = picked
    return out


def mine_pairs(queries, chunks: list[Chunk], cand_idx: np.ndarray, cand_scores: np.ndarray,
               positive_score_fn, n: int, depth: int, margin: float) -> MinedPairs:
    """(query, source chunk, n hard negatives) for every query whose source chunk is found
    and that has n negatives left after the guard; the rest are counted as skipped.
    ``cand_*``: (q, >= depth) candidates in rank order; ``positive_score_fn(rows, pos)`` gives
    the miner's score of each row's positive."""
    if depth <= n:
        raise InputError(f"training.negative_depth = {depth} with hard_negatives = {n}", "config",
                         "draw from a depth larger than the number of negatives (default 30)")
    pos = source_chunks(queries, chunks)
    rows = np.flatnonzero(pos >= 0)
    counts = {"queries": len(queries), "skipped: no source chunk": int(len(queries) - len(rows))}
    texts = {c.text: i for i, c in enumerate(chunks)}
    same_text = np.array([texts[c.text] for c in chunks])
    neg = select_negatives(cand_idx[rows, :depth], cand_scores[rows, :depth], pos[rows],
                           positive_score_fn(rows, pos[rows]), n, margin, same_text)
    full = (neg >= 0).all(1)
    counts["skipped: fewer hard negatives than asked"] = int((~full).sum())
    rows, neg = rows[full], neg[full]
    counts["pairs"] = int(len(rows))
    if not len(rows):
        raise InputError("no query has a source chunk and enough hard negatives", "training",
                         "raise training.negative_depth or training.negative_margin, or lower "
                         "training.hard_negatives")
    return MinedPairs([queries[r].query_id for r in rows], [queries[r].text for r in rows],
                      pos[rows], neg, counts)
