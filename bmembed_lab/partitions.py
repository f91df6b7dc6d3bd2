"""Rank partitions and the listwise target distribution (paper Section 3.2, Appendix D).

Ranks are 0-based and intervals half-open [start, end). Strategies:

* ``fine-to-coarse`` (the reference "paper version"): a first interval [0, first) holding the
  top chunks (first = 3), then the ranks [first, k) cut into intervals whose lengths grow
  geometrically by ``ratio`` (2 by default; Appendix D: L(P_i+1) = 2 L(P_i)), every rank
  covered, each interval at least one rank long;
* ``uniform``: the same with ratio 1;
* ``paper-illustration``: the Section 3.2 figure, lengths growing arithmetically (1, 2, ..., n)
  over [0, k): m=4, k=20 gives [0,2) [2,6) [6,12) [12,20).

The m convention: ``m_items`` (default, the current reference code) makes a list of m items,
so m - 1 intervals follow the first; ``m_plus_one`` (the code of the paper's experiments) makes
m intervals after the first, lists of m + 1 items.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

STRATEGIES = ("fine-to-coarse", "uniform", "paper-illustration")
CONVENTIONS = ("m_items", "m_plus_one")


def _split_lengths(total: int, weights: np.ndarray) -> list[int]:
    """Integer lengths >= 1 proportional to weights, summing to total (largest remainders)."""
    n = len(weights)
    if total < n:
        raise InputError(f"{total} ranks cannot fill {n} intervals", "partitions",
                         "lower m or raise k")
    raw = total * weights / weights.sum()
    base = np.floor(raw).astype(int)
    order = np.argsort(-(raw - base), kind="stable")
    base[order[: total - base.sum()]] += 1
    while (base < 1).any():  # an interval rounded to zero borrows from the longest
        base[np.argmax(base)] -= 1
        base[np.argmin(base)] += 1
    return base.tolist()


def rank_partitions(k: int, m: int, strategy: str = "fine-to-coarse", ratio: float = 2.0,
                    first: int = 3, convention: str = "m_items") -> list[tuple[int, int]]:
    """The [start, end) rank intervals that one list draws from, one chunk per interval."""
    if strategy not in STRATEGIES:
        raise InputError(f"unknown partition strategy {strategy!r}", "sampling.strategy",
                         f"use one of {', '.join(STRATEGIES)}")
    if convention not in CONVENTIONS:
        raise InputError(f"unknown m convention {convention!r}", "sampling.convention",
                         f"use one of {', '.join(CONVENTIONS)}")
    n_items = m if convention == "m_items" else m + 1
    if (
        n_items < 1
        or k < n_items
        or (strategy != "paper-illustration" and n_items > 1 and k < first + n_items - 1)
    ):
        raise InputError(f"k = {k} ranks cannot give lists of {n_items} items ({strategy})",
                         "sampling", "use k >= m + first, or lower m")
    if ratio <= 0:
        raise InputError(
            f"ratio = {ratio}", "sampling.ratio", "use a positive growth ratio (default 2)"
        )
    if strategy == "paper-illustration":
        lengths = _split_lengths(k, np.arange(1, n_items + 1, dtype=float))
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        return [(int(s), int(s + n)) for s, n in zip(starts, lengths)]
    if n_items == 1:
        return [(0, min(first, k))]
    r = 1.0 if strategy == "uniform" else ratio
    lengths = _split_lengths(k - first, r ** np.arange(n_items - 1, dtype=float))
    bounds = np.concatenate([[0, first], first + np.cumsum(lengths)])
    return [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def target_distribution(scores: np.ndarray, alpha: float) -> np.ndarray:
    """softmax(scores / alpha) in float32 (paper Eq. 2's label side); rows are lists. In numpy,
    so the partition designer never imports torch; tests/test_partitions.py pins it to the
    training loss's own target (:func:`~bmembed_lab.losses.listnet_target`)."""
    if alpha <= 0:
        raise InputError(f"alpha = {alpha}", "training.alpha", "use a positive label temperature")
    z = np.asarray(scores, dtype=np.float32) / np.float32(alpha)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def entropy(p: np.ndarray) -> np.ndarray:
    """Shannon entropy in nats along the last axis (0 for one-hot, ln n for uniform)."""
    p = np.asarray(p, dtype=np.float64)
    return -(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)).sum(axis=-1)


def partition_boundaries(k: int, m: int, strategy: str = "fine-to-coarse", ratio: float = 2.0,
                         first: int = 3, convention: str = "m_items") -> np.ndarray:
    """The interval edges alone, e.g. [0, 3, 4, 6, ..., k]: what a plot of the rank axis draws."""
    parts = rank_partitions(k, m, strategy, ratio, first, convention)
    return np.array([parts[0][0]] + [b for _, b in parts], dtype=np.int64)


def target_warning(p: np.ndarray, low: float = 0.1, high: float = 0.9) -> str | None:
    """A warning when a target distribution (one list, or the mean over lists) is near one-hot
    (normalised entropy H / ln n below ``low``: the loss reduces to picking the top item) or
    near uniform (above ``high``: the BM25 order carries almost no signal); else None."""
    p = np.atleast_2d(np.asarray(p, dtype=np.float64))
    n = p.shape[-1]
    if n < 2:
        return "a list of one item: the target is trivially one-hot"
    h = float(np.mean(entropy(p))) / np.log(n)
    if h < low:
        return (f"near one-hot: normalised entropy {h:.2f} < {low}; the list reduces to its top "
                "item (raise alpha)")
    if h > high:
        return (f"near uniform: normalised entropy {h:.2f} > {high}; the BM25 order carries "
                "little signal (lower alpha)")
    return None
