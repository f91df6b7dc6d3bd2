"""Dense top-k and RRF against hand-computed cases."""

import numpy as np
import pytest

from bmembed_lab.retrieval import Run, dense_run, rrf


def test_dense_run_orders_by_cosine_and_pads():
    c = np.eye(3, dtype=np.float32)
    q = np.array([[0.6, 0.8, 0.0]], dtype=np.float32)
    run = dense_run(q, c, ["q"], k=5)
    assert run.ranked(0) == [1, 0, 2]
    assert run.indices[0, 3:].tolist() == [-1, -1]
    np.testing.assert_allclose(run.scores[0, :3], [0.8, 0.6, 0.0])


def test_rrf_hand_computed():
    a = Run("a", ["q"], np.array([[10, 20, 30]]), np.zeros((1, 3)))
    b = Run("b", ["q"], np.array([[30, 10, -1]]), np.zeros((1, 3)))
    fused = rrf([a, b], u=40)
    # 10: 1/41 + 1/42; 30: 1/43 + 1/41; 20: 1/42
    assert fused.ranked(0) == [10, 30, 20]
    np.testing.assert_allclose(fused.scores[0, :3], [1/41 + 1/42, 1/43 + 1/41, 1/42])
    assert rrf([a, b], u=0).ranked(0) == [10, 30, 20]


def test_rrf_rejects_mismatched_queries():
    a = Run("a", ["q1"], np.zeros((1, 1), int), np.zeros((1, 1)))
    b = Run("b", ["q2"], np.zeros((1, 1), int), np.zeros((1, 1)))
    with pytest.raises(ValueError, match="different queries"):
        rrf([a, b])


def test_run_roundtrip(tmp_path):
    r = Run("x", ["a", "b"], np.array([[1, -1], [0, 2]]), np.array([[0.5, np.nan], [1.0, 0.2]]))
    r.save(tmp_path)
    back = Run.load(tmp_path)
    assert back.query_ids == ["a", "b"] and back.ranked(0) == [1]
    np.testing.assert_array_equal(back.indices, r.indices)


def test_dense_run_in_blocks_is_exact_with_ties_and_float16_memmap(tmp_path):
    """Blocks of chunks and batches of queries give the very run one unblocked pass gives:
    the same indices (ties, here duplicated chunks, broken by the lower index) and scores,
    also over a memory-mapped float16 .npy. The reference scores come without BLAS (each pair's
    products summed on its own, in float64): a float32 matrix product can score identical
    chunks apart by where it places them (OpenBLAS on an AMD Zen 4 did)."""
    rng = np.random.default_rng(0)
    c = rng.normal(size=(1000, 16)).astype(np.float32)
    c[500:520] = c[3]  # 21 identical chunks: a tie across blocks
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    q = np.concatenate([c[[3, 10]], rng.normal(size=(30, 16)).astype(np.float32)])
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    ids = [f"q{i}" for i in range(len(q))]
    one = dense_run(q, c, ids, 25, batch=len(q), block=len(c))
    sims = (
        (q[:, None, :].astype(np.float64) * c[None, :, :].astype(np.float64))
        .sum(-1)
        .astype(np.float32)
    )
    want = np.lexsort((np.broadcast_to(np.arange(len(c)), sims.shape), -sims), axis=1)[:, :25]
    assert (one.indices == want).all()
    np.testing.assert_array_equal(one.scores, np.take_along_axis(sims, want, 1))
    assert list(one.indices[0, :21]) == [3] + list(range(500, 520))
    tied = np.isin(one.indices, [3, *range(500, 520)])
    for row in range(len(q)):  # the duplicated chunks score exactly alike, in every query
        assert len(set(one.scores[row][tied[row]].tolist())) <= 1
    blocked = dense_run(q, c, ids, 25, batch=7, block=64)
    np.testing.assert_array_equal(blocked.indices, one.indices)
    np.testing.assert_array_equal(blocked.scores, one.scores)
    np.save(tmp_path / "c16.npy", c.astype(np.float16))
    mm = np.load(tmp_path / "c16.npy", mmap_mode="r")
    half = dense_run(q, mm, ids, 25, batch=7, block=64)
    ref = dense_run(q, np.asarray(mm, dtype=np.float32), ids, 25)
    assert (half.indices == ref.indices).all()
    assert dense_run(q[:2], c[:5], ids[:2], 8).indices[0, 5:].tolist() == [-1, -1, -1]
