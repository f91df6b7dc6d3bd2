"""Rank partitions and the target distribution against hand-computed cases."""

import numpy as np
import pytest

from bmembed_lab.errors import InputError
from bmembed_lab.partitions import entropy, rank_partitions, target_distribution


def covers(parts, k):
    return (
        parts[0][0] == 0
        and parts[-1][1] == k
        and all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
    )


def test_paper_illustration_section_3_2():
    assert rank_partitions(20, 4, "paper-illustration") == [(0, 2), (2, 6), (6, 12), (12, 20)]


def test_fine_to_coarse_geometric_from_first_three():
    p = rank_partitions(1000, 10, "fine-to-coarse", ratio=2.0)
    assert len(p) == 10 and p[0] == (0, 3) and covers(p, 1000)
    lengths = [b - a for a, b in p[1:]]
    assert all(l2 >= l1 for l1, l2 in zip(lengths, lengths[1:]))
    assert lengths[-1] / lengths[-2] == pytest.approx(2, rel=0.02)
    # m+1 convention: m intervals after [0, 3)
    assert len(rank_partitions(1000, 10, convention="m_plus_one")) == 11


def test_uniform_and_small_cases():
    p = rank_partitions(23, 5, "uniform")
    assert p == [(0, 3), (3, 8), (8, 13), (13, 18), (18, 23)]
    assert rank_partitions(4, 2) == [(0, 3), (3, 4)]
    assert rank_partitions(10, 1) == [(0, 3)]


def test_impossible_parameters():
    with pytest.raises(InputError, match="cannot give lists"):
        rank_partitions(5, 6)
    with pytest.raises(InputError, match="strategy"):
        rank_partitions(100, 5, "zigzag")
    with pytest.raises(InputError, match="ratio"):
        rank_partitions(100, 5, ratio=0)


def test_target_distribution_and_entropy():
    p = target_distribution(np.array([[2.0, 1.0, 0.0]]), alpha=2.0)
    e = np.exp([1.0, 0.5, 0.0])
    np.testing.assert_allclose(p[0], e / e.sum(), rtol=1e-6)
    assert p.dtype == np.float32
    assert entropy(np.array([1.0, 0, 0])) == 0
    assert entropy(np.full(4, 0.25)) == pytest.approx(np.log(4))
    # a tiny alpha makes the target one-hot, a huge one uniform
    assert entropy(target_distribution(np.array([30.0, 10.0, 5.0]), 0.1)) < 1e-6
    assert entropy(target_distribution(np.array([30.0, 10.0, 5.0]), 1e6)) == pytest.approx(
        np.log(3), abs=1e-4
    )
    with pytest.raises(InputError):
        target_distribution(np.zeros(3), 0)


def test_the_designers_target_is_the_training_losss_target():
    """Notebook 02 shows the target in numpy (no torch import when it opens); it must be the
    very distribution the ListNet loss trains towards."""
    import torch

    from bmembed_lab.losses import listnet_target

    rng = np.random.default_rng(0)
    scores = (rng.random((50, 9)) * 40).astype(np.float32)
    for alpha in (0.05, 0.5, 2.0, 30.0):
        np.testing.assert_allclose(
            target_distribution(scores, alpha),
            listnet_target(torch.as_tensor(scores), alpha).numpy(),
            rtol=2e-6,
            atol=1e-7,
        )


def test_target_spread_over_every_list_at_an_alpha():
    """02's histogram: a list with equal scores is uniform (1), one with a far-ahead top item
    is near one-hot at a low alpha and spreads at a high one; the peaked share follows."""
    from bmembed_lab.listview import target_spread

    scores = np.array([[5.0, 5.0, 5.0], [30.0, 1.0, 0.0]])
    low, high = target_spread(scores, 1.0), target_spread(scores, 50.0)
    assert low["normalised"][0] == pytest.approx(1.0, abs=1e-5) and low["normalised"][1] < 0.01
    assert low["peaked"] == 0.5 and high["peaked"] == 0.0 and high["normalised"][1] > 0.8
