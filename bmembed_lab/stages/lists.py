"""Stages `train_ranking` and `lists`: rank every training query's top ``k`` chunks with BM25,
then draw the training lists by rank partitions (paper Section 3.2, Appendix D).

Keys: train_ranking = ``[bm25]`` + k + duplicate-chunk removal, over the chunk and query keys;
lists = ``[sampling]`` (partition strategy, m, ratio, first, convention, lists per query,
seed), over the ranking key. Saved by :class:`~bmembed_lab.sampling.Ranking` and
:class:`~bmembed_lab.sampling.TrainingLists` (npy + JSON). Algorithms:
:func:`bmembed_lab.sampling.rank_for_training` and :func:`bmembed_lab.sampling.sample_lists`
(the partitions themselves: :mod:`bmembed_lab.partitions`).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Callable

import numpy as np

from .. import bm25, partitions, sampling
from ..bm25 import BM25Index
from ..cache import LISTS, RANKING, StageCache, cached
from ..hashing import code_version
from ..ticker import ticking
from ..chunking import Chunk
from ..config import Config
from ..errors import InputError
from ..querygen import QuerySet



def training_ranking(cfg: Config, cache: StageCache, chunks: list[Chunk], chunks_key: str,
                     qs: QuerySet, qs_key: str, index: Callable[[], BM25Index], progress=None
                     ) -> tuple[sampling.Ranking, str]:
    """(BM25 top-k chunk indices and scores of every training query, its key). ``index()``
    gives the corpus' BM25 index (built once per pipeline, only when this stage computes)."""
    s = cfg.sampling

    def compute() -> sampling.Ranking:
        excl = (
            sampling.duplicate_mask([c.text for c in chunks]) if s.drop_duplicate_chunks else None
        )
        # the first run on a machine compiles the ranking kernel (about 15 s) before any batch
        with ticking(f"BM25 ranking of {len(qs.queries):,} training queries",
                     disable=progress is not None):
            return sampling.rank_for_training(
                index(),
                [x.query_id for x in qs.queries],
                [x.text for x in qs.queries],
                cfg.bm25,
                s.k,
                excl,
                progress,
            )

    conf = asdict(cfg.bm25) | {"k": s.k, "dedup": s.drop_duplicate_chunks}
    return cached(cache, RANKING, conf, [chunks_key, qs_key], code_version(bm25, sampling), compute,
                  lambda v, d: v.save(d), sampling.Ranking.load)


def training_lists(cfg: Config, cache: StageCache, ranking: sampling.Ranking, ranking_key: str,
                   chunks: list[Chunk]) -> tuple[sampling.TrainingLists, str]:
    """(the training lists: per list a query, m chunks, their ranks and BM25 scores; its key)."""
    s = cfg.sampling
    conf = {k: v for k, v in asdict(s).items() if k != "drop_duplicate_chunks"}
    return cached(cache, LISTS, conf, [ranking_key], code_version(sampling, partitions),
                  lambda: draw_lists(ranking, s, [c.chunk_id for c in chunks]),
                  lambda v, d: v.save(d), sampling.TrainingLists.load)


def draw_lists(ranking: sampling.Ranking, s, chunk_ids: list[str]) -> sampling.TrainingLists:
    """The lists, or, when not one can be drawn, an error that says why in words and names
    the list size that fits this corpus (a few small files: too few BM25 candidates for m).
    02's partition designer draws its one list here too, so it says the same."""
    try:
        return sampling.sample_lists(ranking, s, chunk_ids)
    except InputError as err:
        if err.where != "sampling" or not err.what.startswith("no training list"):
            raise
        skipped = ([f"{len(ranking.query_ids)} too few candidates"] if ranking.query_ids else []
                   ) + [f"{len(v)} {r}" for r, v in ranking.skipped.items()]
        raise InputError(f"no training list could be drawn (skipped: {', '.join(skipped)})",
                         "sampling", _fewer_items(ranking, s) + "check the queries (do they "
                         "share words with the corpus? a word found in most chunks scores "
                         "nothing under BM25)") from None


def _fewer_items(ranking: sampling.Ranking, s) -> str:
    """The fix's first half: the largest m that the median ranked query's candidate count
    allows under the config's strategy (or "lower sampling.m")."""
    if not ranking.query_ids:
        return "lower sampling.m or "
    n = min(s.k, int(np.median((ranking.indices >= 0).sum(axis=1))))
    for m in range(s.m - 1, 1, -1):
        try:
            partitions.rank_partitions(n, m, s.strategy, s.ratio, s.first, s.convention)
        except InputError:
            continue
        return (f"set sampling.m = {m} or lower (the median query has {n} BM25 candidates, too "
                f"few for m = {s.m} {s.strategy} partitions; m = {m} fits it), or give more "
                "documents, or ")
    return "lower sampling.m or "
