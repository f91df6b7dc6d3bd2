"""Matryoshka wrapper (Kusupati et al., 2022; sentence-transformers' MatryoshkaLoss): the same
loss on the first ``dims`` coordinates of every embedding, re-normalised, summed with
``weights``.

Inputs: ``loss_fn(*embeddings)`` over (..., d) L2-normalised tensors, the embeddings, ``dims``
(each <= d). Output: a scalar, sum_k weights[k] * loss_fn(truncate(e, dims[k]) for e in embeddings).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def matryoshka_loss(loss_fn: Callable[..., torch.Tensor], embeddings: list[torch.Tensor],
                    dims: list[int], weights: list[float] | None = None) -> torch.Tensor:
    weights = weights or [1.0] * len(dims)
    total = 0.0
    for dim, w in zip(dims, weights):
        total = total + w * loss_fn(*[F.normalize(e[..., :dim], dim=-1) for e in embeddings])
    return total
