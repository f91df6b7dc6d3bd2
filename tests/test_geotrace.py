"""Alignment and uniformity along training (bmembed_lab/geotrace.py): each dev evaluation
traces the pool's geometry from what it encoded, step 0 from the base encoder's embeddings."""

from dataclasses import replace

import numpy as np
import pytest

from bmembed_lab import selection
from bmembed_lab.diagnostics import alignment_uniformity
from bmembed_lab.geotrace import GeometryTrace, pool_pairs

from .conftest import tiny_config


def _pool(doc_of=None):
    return selection.DevPool(["q1", "q2"], ["one", "two"], [[4, 7], [7, 9]],
                             [{7: 1.0}, {1: 1.0} if doc_of else {9: 1.0}], [{}, {}], [1, 1],
                             "MAP@10", doc_of=doc_of)


def test_the_pool_pairs_are_each_questions_relevant_candidates_by_chunk_or_by_document():
    assert _pool().chunk_indices == [4, 7, 9]
    assert pool_pairs(_pool()) == [(0, 1), (1, 2)]  # rows in chunk_indices
    doc_of = [0] * 4 + [0, 0, 0, 1, 0, 1]  # chunks 7 and 9 belong to document 1
    assert pool_pairs(_pool(doc_of)) == [(1, 1), (1, 2)]  # q1's chunk 7 is not its document


def test_a_run_traces_its_geometry_at_every_dev_evaluation(tmp_path, beir_dir, tiny_model_dir):
    from bmembed_lab.config import EncoderConfig
    from bmembed_lab.encoder import Encoder
    from bmembed_lab.pipeline import Pipeline

    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, eval__dev_fraction=0.5, eval__seed=3,
                      sampling__m=3, training__steps=4, training__warmup_steps=1,
                      training__eval_every=2, training__patience=0, training__lr=1e-3,
                      training__dev_pool=5)  # (uniformity needs two candidates or more)
    pipe = Pipeline(cfg)
    pool, _, texts = pipe.dev_pool()
    assert len(pool.chunk_indices) > 1 and pool_pairs(pool)
    tm, _ = pipe.trained("bmembed", progress=False)
    trace = tm.info["geometry_trace"]
    assert [r["step"] for r in trace] == [c["step"] for c in tm.info["selection"]["curve"]]
    assert [r["step"] for r in trace] == [0, 2, 4]
    assert all(np.isfinite(r[k]) for r in trace for k in ("alignment", "alignment_norm",
                                                           "uniformity_abs"))
    # step 0 (read from base's cached embeddings) is what encoding the pool with base gives,
    # and the exported model's own embeddings give its step's row
    for model, step in ((cfg.encoder.model, 0), (str(tm.merged), tm.info["selection"]
                                                   ["best_step"])):
        enc = Encoder.load(replace(EncoderConfig(model=model), precision="fp32"))
        c = enc.encode([texts[i] for i in pool.chunk_indices], progress=False)
        q = enc.encode(pool.query_texts, is_query=True, progress=False)
        want = alignment_uniformity(q, c, pool_pairs(pool), seed=cfg.eval.seed)
        got = next(r for r in trace if r["step"] == step)
        for k in ("alignment", "alignment_norm", "uniformity_abs"):
            assert got[k] == pytest.approx(want[k], abs=1e-4), (step, k)


def test_no_pairs_no_trace():
    pool = _pool()
    pool.grades = [{}, {}]
    t = GeometryTrace(pool)
    assert t.measure(np.eye(2, 3), np.eye(3)) is None
    t.start(np.eye(2, 3), np.eye(3))
    assert t.rows == []
