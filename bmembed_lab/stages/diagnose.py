"""Stages `check`, `diagnostics` and `embedding_map`: whether adaptation should help here
(ours, before training), and why it works or not (paper Section 5, Appendix E): alignment (raw
and normalised) of the evaluation (question, gold chunk) pairs and the uniformity of the chunks
under each encoder; and one joint 2-D UMAP map of the questions and chunks under several
encoders, so their points share one coordinate system.

Keys: check = protocol, bootstrap, seed over the BM25 and base runs of the questions it uses,
their labels, the training queries and base's chunk embeddings; diagnostics = points cap, seed,
t, over the query and chunk embedding keys and the relevance key; embedding_map = the map
parameters and the systems, over every embedding key. Saved as ``check.json``,
``diagnostics.json`` and ``map.parquet``. Algorithms: :mod:`bmembed_lab.check`,
:mod:`bmembed_lab.diagnostics`, :mod:`bmembed_lab.embedmap`.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from .. import check as check_rule
from .. import diagnostics, embedmap
from ..cache import CHECK, DIAGNOSTICS, EMBEDDING_MAP, StageCache, cached
from ..hashing import code_version
from ..questions import Questions, check_sets
from ..safeio import read_json, write_json
from ..ticker import ticking



def check(cache: StageCache, pipe) -> tuple[dict, str]:
    """(`bmembed-lab check`'s measurements and verdict, its key), for ``pipe``'s config."""
    labelled = pipe.labelled()
    q = pipe.questions(check_sets(labelled, labelled and len(pipe.questions("dev")) > 0))
    keys = [pipe.run(s, q.which)[1] for s in ("bm25", "base")] + [
        q.relevance_key, pipe.synthetic_queries()[1], pipe.chunk_embeddings("base")[1]]
    cfg = pipe.cfg
    conf = {"protocol": cfg.encoder.protocol, "bootstrap": cfg.eval.bootstrap,
            "seed": cfg.eval.seed}
    return cached(cache, CHECK, conf, keys, code_version(check_rule),
                  lambda: check_rule.run_check(pipe),
                  lambda v, d: write_json(d / "check.json", v),
                  lambda d: read_json(d / "check.json"))


def alignment_uniformity(cache: StageCache, c_emb: np.ndarray, c_key: str, q_emb: np.ndarray,
                         q_key: str, q: Questions, max_points: int, seed: int
                         ) -> tuple[dict, str]:
    """({alignment, alignment_norm, uniformity, ...} of one encoder, its key): the pairs are
    (question row, gold chunk row) of every question of ``q`` (``q_emb``'s rows)."""
    pairs = [(i, c) for i, qid in enumerate(q.ids) for c in q.relevance.grades[qid]]
    conf = {"max_points": max_points, "seed": seed, "t": 2.0}
    return cached(cache, DIAGNOSTICS, conf, [q_key, c_key, q.relevance_key],
                  code_version(diagnostics),
                  lambda: diagnostics.alignment_uniformity(q_emb, c_emb, pairs, max_points, seed),
                  lambda v, d: write_json(d / "diagnostics.json", v),
                  lambda d: read_json(d / "diagnostics.json"))


def _umap(blocks, params) -> pd.DataFrame:
    n = sum(len(b[3]) for b in blocks)
    with ticking(f"embedding map: UMAP of {n:,} points (about 15 s for 5,000 on 2 cores)"):
        return embedmap.joint_umap(blocks, params)


def map_points(systems: tuple[str, ...], params: embedmap.MapParams | None,
               query_ids: list[str], grades: dict[str, dict], chunk_ids: list[str], embeddings
               ) -> tuple[list, list]:
    """(blocks for :func:`embedmap.joint_umap`, the embeddings' keys): at most
    ``params.max_queries`` questions and ``params.max_chunks`` chunks under each system (seeded
    subsamples, the questions' gold chunks always kept). ``embeddings(system)`` gives (chunk
    embeddings, key, query embeddings, key)."""
    params = params or embedmap.MapParams()
    qsel = embedmap.subsample(len(query_ids), params.max_queries, set(), params.seed)
    gold = {c for i in qsel for c in grades[query_ids[i]]}
    csel = embedmap.subsample(len(chunk_ids), params.max_chunks, gold, params.seed)
    blocks, keys = [], []
    for s in systems:
        c_emb, c_key, q_emb, q_key = embeddings(s)
        blocks += [(s, "query", [query_ids[i] for i in qsel], q_emb[qsel]),
                   (s, "chunk", [chunk_ids[i] for i in csel], c_emb[csel])]
        keys += [c_key, q_key]
    return blocks, keys


def embedding_map(cache: StageCache, systems: tuple[str, ...], params: embedmap.MapParams | None,
                  query_ids: list[str], grades: dict[str, dict], chunk_ids: list[str], embeddings
                  ) -> tuple[pd.DataFrame, str]:
    """(model, kind, item, x, y per mapped point, its key): the points of :func:`map_points` in
    one joint UMAP fit."""
    params = params or embedmap.MapParams()
    blocks, keys = map_points(systems, params, query_ids, grades, chunk_ids, embeddings)
    conf = asdict(params) | {"systems": list(systems)}
    return cached(cache, EMBEDDING_MAP, conf, keys, code_version(embedmap),
                  lambda: _umap(blocks, params),
                  lambda v, d: v.to_parquet(d / "map.parquet"),
                  lambda d: pd.read_parquet(d / "map.parquet"))


def pca_map(blocks: list) -> pd.DataFrame:
    """The same table as the UMAP map from one joint PCA of the blocks (the first two principal
    axes of every point together): linear and instant, so not cached; a preview while UMAP
    fits, and a view that keeps global distances, which UMAP does not."""
    x = np.concatenate([b[3] for b in blocks]).astype(np.float64)
    from threadpoolctl import threadpool_limits  # (scikit-learn's, which umap-learn needs)

    x -= x.mean(axis=0)
    with threadpool_limits(1):  # a dims x dims problem: 0.04 s on one thread, 0.7-1.3 s on two
        _, vecs = np.linalg.eigh(x.T @ x)  # when another job holds a core (2-core AMD EPYC)
    xy = x @ vecs[:, ::-1][:, :2]  # the covariance's top two eigenvectors
    rows, s = [], 0
    for model, kind, ids, emb in blocks:
        part, s = xy[s:s + len(emb)], s + len(emb)
        rows.append(pd.DataFrame({"model": model, "kind": kind, "item": ids,
                                  "x": part[:, 0], "y": part[:, 1]}))
    return pd.concat(rows, ignore_index=True)
