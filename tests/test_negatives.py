"""Hard-negative mining (mnrl baseline) and Matryoshka evaluation at truncated dimensions."""

import numpy as np
import pytest

from bmembed_lab.chunking import Chunk
from bmembed_lab.errors import InputError
from bmembed_lab.negatives import mine_pairs, select_negatives, source_chunks
from bmembed_lab.pipeline import Pipeline
from bmembed_lab.querygen import SyntheticQuery
from bmembed_lab.retrieval import truncate

from .conftest import tiny_config


def test_select_negatives_hand_computed():
    cand = np.array([[5, 2, 7, 9, 4], [1, 3, -1, -1, -1]])
    score = np.array([[10.0, 9.8, 9.0, 6.0, 5.0], [4.0, 3.0, np.nan, np.nan, np.nan]])
    pos = np.array([5, 8])
    pos_score = np.array([10.0, 5.0])
    # row 0: 5 is the positive, 2 scores 9.8 >= 0.95 * 10 (false-negative guard), then 7, 9
    out = select_negatives(cand, score, pos, pos_score, n=2, margin=0.95)
    assert out.tolist() == [[7, 9], [1, 3]]
    # three asked, row 1 only has two: padded with -1
    assert select_negatives(cand, score, pos, pos_score, 3, 0.95)[1].tolist() == [1, 3, -1]
    # duplicate text of the positive is never a negative
    same = np.arange(10)
    same[7] = 5
    assert select_negatives(cand, score, pos, pos_score, 2, 0.95, same)[0].tolist() == [9, 4]
    with pytest.raises(InputError, match="negative_margin"):
        select_negatives(cand, score, pos, pos_score, 1, 1.5)


def _chunk(i, doc, text):
    return Chunk(f"c{i}", doc, text, 0, len(text), len(text.split()))


def test_source_chunks_and_mine_pairs_counts():
    chunks = [_chunk(0, "a", "alpha beta gamma delta  epsilon"), _chunk(1, "a", "zeta eta theta"),
              _chunk(2, "b", "alpha beta gamma delta epsilon"), _chunk(3, "b", "iota kappa")]
    qs = [SyntheticQuery("q0", "alpha?", "a", "e", ["alpha beta gamma\ndelta"], "offline"),
          SyntheticQuery("q1", "zeta?", "a", "e", ["nowhere to be found"], "offline"),
          SyntheticQuery("q2", "iota?", "b", "e", ["iota kappa"], "offline")]
    # whitespace-normalised, same document only (chunk 2 has the same text but doc b)
    assert source_chunks(qs, chunks).tolist() == [0, -1, 3]
    cand = np.array([[2, 0, 1, 3], [1, 0, 2, 3], [3, 2, 1, 0]])
    sc = np.array([[9.0, 9.0, 2.0, 1.0], [5, 4, 3, 2], [8.0, 3.0, 2.0, 1.0]])
    mined = mine_pairs(qs, chunks, cand, sc, lambda rows, pos: np.array([9.0, 8.0])[: len(rows)],
                       n=1, depth=4, margin=0.95)
    # q0: chunk 2 has the positive's text, 0 is the positive -> 1; q2: 3 is the positive -> 2
    assert mined.query_ids == ["q0", "q2"] and mined.negatives.tolist() == [[1], [2]]
    assert mined.counts["skipped: no source chunk"] == 1 and mined.counts["pairs"] == 2
    with pytest.raises(InputError, match="negative_depth"):
        mine_pairs(qs, chunks, cand, sc, None, n=4, depth=4, margin=0.95)


def test_truncate_renormalises():
    e = np.array([[3.0, 4.0, 12.0]]) / 13
    assert np.allclose(truncate(e, 2), [[0.6, 0.8]])


@pytest.mark.parametrize("source", ["bm25", "base"])
def test_pipeline_mnrl_with_matryoshka(tmp_path, beir_dir, tiny_model_dir, source):
    cfg = tiny_config(
        tmp_path,
        beir_dir,
        tiny_model_dir,
        training__steps=2,
        training__warmup_steps=1,
        training__lr=1e-3,
        training__negatives_from=source,
        training__negative_depth=6,
        training__negative_margin=1.0,  # a random model: every cosine is ~0.94
        training__matryoshka_dims=[32, 16],
        eval__systems=["bm25", "base", "mnrl", "mnrl@16", "base@16"],
    )
    pipe = Pipeline(cfg)
    mined, _ = pipe.mined_negatives()
    assert len(mined) > 0 and mined.negatives.shape == (len(mined), 1)
    assert not (mined.negatives == mined.positives[:, None]).any()
    res = pipe.evaluate()
    assert list(res["summary"].index) == ["bm25", "base", "mnrl", "mnrl@16", "base@16"]
    assert {"mnrl - base", "mnrl - bm25"} <= set(res["comparisons"].comparison)
    tm, _ = pipe.trained("mnrl")
    assert tm.info["hyperparameters"]["batch_size"] == 16 and tm.info["steps"] == 2
    with pytest.raises(InputError, match="name@d"):
        pipe.run("mnrl@999")
