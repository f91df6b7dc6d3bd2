"""ListNet with a BM25 label distribution (paper Eq. 2-3, Section 3.3).

Inputs:
    sim:  (B, m) float tensor, cosine similarity of each list's query to its m items.
    bm25: (B, m) raw BM25 scores of the same items (the labels).
Output: a scalar, the cross-entropy H(p_r, p_s) averaged over the B lists, where
    p_r = softmax(bm25 / alpha), computed in float32 (the reference computes it in bf16);
    p_s = softmax(sim / tau).
Reference values: tau = 0.05 (a scale of 20), 1/alpha = 0.5 (alpha = 2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def listnet_target(bm25: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
    """The label distribution softmax(bm25 / alpha) over the last axis, in float32 (paper Eq. 2).
    The partition designer's numpy twin (:func:`bmembed_lab.partitions.target_distribution`)
    is tested equal to it."""
    return torch.softmax(bm25.float() / alpha, dim=-1)


def listnet_loss(sim: torch.Tensor, bm25: torch.Tensor, alpha: float = 2.0,
                 tau: float = 0.05) -> torch.Tensor:
    target = listnet_target(bm25, alpha)
    log_pred = F.log_softmax(sim.float() / tau, dim=-1)
    return -(target * log_pred).sum(-1).mean()
