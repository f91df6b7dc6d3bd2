"""Alignment / uniformity on hand-computed cases; the joint UMAP map and its cache."""

import numpy as np
import pytest

from bmembed_lab.diagnostics import alignment, alignment_norm, alignment_uniformity, uniformity
from bmembed_lab.embedmap import MapParams, joint_umap, subsample
from bmembed_lab.errors import InputError


def test_alignment_hand_computed():
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert alignment(x, x) == 0.0  # identical pairs
    assert alignment(x, x[::-1]) == pytest.approx(2.0)  # orthogonal unit vectors: |x - y|^2 = 2
    with pytest.raises(InputError, match="equal shape"):
        alignment(x, x[:1])


def test_alignment_norm_divides_by_the_nearest_chunk_distance():
    x = np.array([[1.0, 0.0]])
    y = np.array([[0.0, 1.0]])  # |x - y|^2 = 2
    pool = np.array([[0.6, 0.8], [0.0, 1.0]])  # nearest to x: (0.6, 0.8), |x - p|^2 = 0.8
    an, skipped = alignment_norm(x, y, pool)
    assert an == pytest.approx(2 / 0.8) and skipped == 0
    # the gold chunk is the nearest chunk: 1
    assert alignment_norm(x, np.array([[0.6, 0.8]]), pool)[0] == pytest.approx(1.0)
    # a query sitting on a chunk is skipped and counted
    an2, sk2 = alignment_norm(np.vstack([x, pool[:1]]), np.vstack([y, y]), pool)
    assert sk2 == 1 and an2 == pytest.approx(2.5)


def test_uniformity_collapsed_is_zero_spread_is_negative():
    same = np.tile([[0.0, 1.0]], (5, 1))
    assert uniformity(same) == pytest.approx(0.0)
    antipodal = np.array([[1.0, 0.0], [-1.0, 0.0]])  # |x - y|^2 = 4: log exp(-2 * 4) = -8
    assert uniformity(antipodal) == pytest.approx(-8.0)
    rng = np.random.default_rng(0)
    spread = rng.normal(size=(200, 16))
    spread /= np.linalg.norm(spread, axis=1, keepdims=True)
    u = uniformity(spread)
    assert u < -1.0  # strictly negative, reported as |u|
    clustered = spread * 0.05 + np.array([1.0] + [0.0] * 15)
    clustered /= np.linalg.norm(clustered, axis=1, keepdims=True)
    assert abs(uniformity(clustered)) < abs(u)


def test_alignment_uniformity_bundle():
    c = np.eye(3)
    q = np.array([[1.0, 0.0, 0.0], [0.0, 0.6, 0.8]])
    r = alignment_uniformity(q, c, [(0, 0), (1, 2)])
    # pair 2: |q1 - c2|^2 = 0.36 + 0.04 = 0.4, nearest chunk of q1 is c2 (0.4): ratio 1;
    # pair 1: q0 sits on c0 -> skipped for the normalised version
    assert r["alignment"] == pytest.approx(0.2) and r["alignment_norm"] == pytest.approx(1.0)
    assert r["pairs_skipped"] == 1 and r["uniformity"] == pytest.approx(np.log(np.exp(-4.0)))
    assert r["uniformity_abs"] == pytest.approx(4.0)


def test_subsample_keeps_required_items():
    idx = subsample(100, 10, {3, 97}, seed=0)
    assert len(idx) == 10 and {3, 97} <= set(idx.tolist()) and list(idx) == sorted(idx)
    assert subsample(5, 10, set(), 0).tolist() == [0, 1, 2, 3, 4]


def test_joint_umap_shares_one_fit():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 8)).astype(np.float32)
    b = a + 0.01  # the "adapted" model barely moved: its points land near the base ones
    m = joint_umap([("base", "chunk", [f"c{i}" for i in range(40)], a),
                    ("tuned", "chunk", [f"c{i}" for i in range(40)], b)], MapParams(n_neighbors=5))
    assert len(m) == 80 and set(m.model) == {"base", "tuned"}
    base = m[m.model == "base"][["x", "y"]].to_numpy()
    tuned = m[m.model == "tuned"][["x", "y"]].to_numpy()
    spread = np.ptp(base, axis=0).max()
    assert np.median(np.linalg.norm(base - tuned, axis=1)) < 0.2 * spread
    with pytest.raises(InputError, match="different dimensions"):
        joint_umap(
            [("a", "chunk", ["x"] * 40, a), ("b", "chunk", ["x"] * 40, a[:, :4])], MapParams()
        )


def test_the_reading_says_what_moved_and_never_contradicts_the_numbers():
    from bmembed_lab.diagnostics import reading

    base = {"system": "base", "alignment": 1.0, "alignment_norm": 2.0, "uniformity_abs": 3.00}
    shrunk = {"system": "bmembed", "alignment": 0.8, "alignment_norm": 2.2, "uniformity_abs": 2.17}
    spread = {"system": "cl", "alignment": 1.0, "alignment_norm": 1.8, "uniformity_abs": 3.4}
    a, b = reading([base, shrunk, spread], {"bmembed": "MAP@10 -1.2 [-2.5, -0.0]"})
    assert "|uniformity| fell 3.000 → 2.170 (less evenly spread)" in a
    assert "raw alignment fell 1.000 → 0.800 (better)" in a and "normalised alignment rose" in a
    assert "disagree" in a and "This does not match the paper's claim" in a
    assert "On retrieval, bmembed - base: MAP@10 -1.2 [-2.5, -0.0]." in a
    assert "This matches the paper's claim" in b and "disagree" not in b
    assert reading([shrunk]) == []
    # the population the alignment is measured on, named next to the retrieval's question count
    assert reading([base, shrunk | {"pairs": 1145}])[0].startswith(
        "**bmembed** against base, over 1,145 (question, gold chunk) pairs: raw alignment")


def test_exact_knn_agrees_with_scikit_learns_brute_force_search():
    """The map's neighbours (passed to UMAP, so it builds no approximate index) are sklearn's
    exact ones, itself first, for cosine and euclidean; another metric is left to UMAP."""
    from sklearn.neighbors import NearestNeighbors

    from bmembed_lab.embedmap import exact_knn

    x = np.random.default_rng(1).normal(size=(300, 16)).astype(np.float32)
    for metric in ("cosine", "euclidean"):
        idx, dist, _ = exact_knn(x, 15, metric, block=64)
        ref_d, ref_i = NearestNeighbors(n_neighbors=15, metric=metric,
                                        algorithm="brute").fit(x).kneighbors(x)
        assert (idx[:, 0] == np.arange(300)).all()
        assert np.allclose(dist, ref_d, atol=1e-4) and (idx == ref_i).mean() > 0.999
    assert exact_knn(x, 15, "manhattan") == (None, None, None)
