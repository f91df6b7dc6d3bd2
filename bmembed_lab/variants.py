"""The bmembed variants' inputs, read off the training lists and the base encoder's cached
embeddings (nothing here runs a model): the anchored student's base cosines over each list
(``training.anchor``), the query-side student's fixed passage embeddings
(``training.query_side``) and the hybrid teacher's targets (``training.teacher = "hybrid"``,
:mod:`bmembed_lab.teacher`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from . import teacher
from .sampling import TrainingLists


def list_base_sims(lists: TrainingLists, chunk_emb: np.ndarray, query_emb: np.ndarray
                   ) -> np.ndarray:
    """(n_lists, m) the base model's cosine of each list's query (row i of ``query_emb``) to
    each of its items (rows of ``chunk_emb``, the base encoder's cached chunk embeddings): the
    distribution the anchored student is kept near. No model runs here beyond the queries'
    encoding, which the caller does once."""
    q = np.asarray(query_emb, dtype=np.float32)
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    c = np.asarray(chunk_emb, dtype=np.float32)
    c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    return np.einsum("nd,nmd->nm", q, c[lists.chunk_indices])


def list_items(lists: TrainingLists, chunk_emb: np.ndarray) -> np.ndarray:
    """(n_lists, m, d) the lists' passages' rows of ``chunk_emb`` (the base encoder's cached
    chunk embeddings), L2-normalised in float32: what the query-side student scores against."""
    c = np.asarray(chunk_emb, dtype=np.float32)
    c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    return c[lists.chunk_indices]


def hybrid_lists(lists: TrainingLists, chunk_emb: np.ndarray, query_emb: np.ndarray, u: int
                 ) -> TrainingLists:
    """The lists with the hybrid teacher's targets (:mod:`bmembed_lab.teacher`)."""
    base = teacher.dense_ranks(query_emb, chunk_emb, lists.chunk_indices)
    return replace(lists, scores=teacher.hybrid_scores(lists.ranks, lists.scores, base, u))


def query_side(info: dict) -> bool:
    """Whether a trained run (its train.json) is a query-side student: its documents are the
    base model's embeddings."""
    return bool((info.get("hyperparameters") or {}).get("query_side"))


def prepare(t, lists: TrainingLists, chunk_emb, query_emb, rrf_u: int):
    """(lists, base cosines, fixed passages) for the training config ``t``: the lists with the
    hybrid teacher's targets where it is asked for, and the other two None unless their
    variant is on. ``chunk_emb()`` and ``query_emb()`` give the base encoder's chunk and list
    query embeddings; they are called only when a variant needs them."""
    sims = list_base_sims(lists, chunk_emb(), query_emb()) if t.anchor else None
    items = list_items(lists, chunk_emb()) if t.query_side else None
    if t.teacher == "hybrid":
        lists = hybrid_lists(lists, chunk_emb(), query_emb(), rrf_u)
    return lists, sims, items
