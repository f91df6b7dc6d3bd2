"""Alignment and uniformity along training, from what each dev evaluation encodes anyway.

A dev evaluation (:func:`bmembed_lab.selection.dev_score`) encodes the dev pool's candidate
chunks and its questions; :class:`GeometryTrace` reads both as they pass and computes, for that
step, the pool's alignment (raw and normalised: Wang and Isola's, as `diagnostics` does on the
test questions) over each question's relevant candidates and the uniformity of the candidates.
Nothing is encoded twice, except where step 0 is read from the base encoder's cached embeddings
(then its row comes from those). The rows go into the export's ``train.json``
(``geometry_trace``), which notebook 05 draws: how the geometry moved step by step, not only
where it ended. The pool is not the test set: its level differs from 05's table, its direction
is what the trace shows.
"""

from __future__ import annotations

import numpy as np

from .diagnostics import alignment_uniformity
from .errors import InputError

KEYS = ("alignment", "alignment_norm", "uniformity_abs")  # what a row keeps, besides its step


def pool_pairs(pool) -> list[tuple[int, int]]:
    """(question row, row in ``pool.chunk_indices``) of every relevant candidate: a chunk
    relevant itself, or through its document where the pool is scored by document."""
    row = {c: i for i, c in enumerate(pool.chunk_indices)}
    out = []
    for q, (cands, grades) in enumerate(zip(pool.candidates, pool.grades)):
        for c in cands:
            label = pool.doc_of[c] if pool.doc_of is not None else c
            if grades.get(label, 0) > 0:
                out.append((q, row[c]))
    return out


class _Recording:
    """An encoder that keeps the last query embeddings it returned (everything else is the
    wrapped encoder's)."""

    def __init__(self, enc):
        self._enc, self.queries = enc, None

    def __getattr__(self, name):
        return getattr(self._enc, name)

    def encode(self, texts, is_query: bool = False, **kw):
        out = self._enc.encode(texts, is_query=is_query, **kw)
        if is_query:
            self.queries = out
        return out


class GeometryTrace:
    """``wrap`` a dev scorer that fills ``kept["chunks"]`` (the pool's chunk embeddings) and
    chain ``on_eval`` after the selector's own: one row per evaluated step, in ``rows``."""

    def __init__(self, pool, seed: int = 0):
        self.pool, self.seed, self.rows = pool, seed, []
        self.pairs = pool_pairs(pool)
        self._pending: dict | None = None

    def measure(self, query_emb: np.ndarray, chunk_emb: np.ndarray) -> dict | None:
        """The row's numbers from the pool's question and candidate embeddings, or None where
        no question has a relevant candidate (a pool of held-out synthetic queries may not)."""
        if not self.pairs:
            return None
        try:
            g = alignment_uniformity(np.asarray(query_emb, dtype=np.float32),
                                     np.asarray(chunk_emb, dtype=np.float32), self.pairs,
                                     seed=self.seed)
        except InputError:
            return None
        return {k: round(float(g[k]), 6) for k in KEYS}

    def wrap(self, score, kept: dict):
        def traced(enc):
            rec = _Recording(enc)
            values = score(rec)
            if rec.queries is not None and kept.get("chunks") is not None:
                self._pending = self.measure(rec.queries, kept["chunks"])
            return values
        return traced

    def at_step(self, then=None):
        """The selector's ``on_eval``: files the pending row under its step, then ``then``."""
        def on_eval(step: int, score: float):
            if self._pending is not None:
                self.rows.append({"step": step, **self._pending})
                self._pending = None
            if then is not None:
                then(step, score)
        return on_eval

    def start(self, query_emb: np.ndarray, chunk_emb: np.ndarray) -> None:
        """Step 0 from the base encoder's embeddings, where the selector reads step 0 from
        them instead of encoding (``DevPool.start``)."""
        row = self.measure(query_emb, chunk_emb)
        if row is not None:
            self.rows.insert(0, {"step": 0, **row})
