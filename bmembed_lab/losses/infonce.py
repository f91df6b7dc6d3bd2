"""InfoNCE with in-batch negatives and optional hard negatives (the paper's CL baseline; with
hard negatives it is sentence-transformers' MultipleNegativesRankingLoss).

Inputs (L2-normalised embeddings):
    q:   (B, d) queries.
    p:   (B, d) each query's positive.
    neg: optional (B, h, d) hard negatives per query; every query is scored against all B
         positives and all B*h hard negatives of the batch.
Output: a scalar, cross-entropy of softmax(scale * q . candidates) with the own positive as
the label (scale 20 = temperature 0.05).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def infonce_loss(q: torch.Tensor, p: torch.Tensor, neg: torch.Tensor | None = None,
                 scale: float = 20.0) -> torch.Tensor:
    cand = p if neg is None else torch.cat([p, neg.reshape(-1, neg.shape[-1])], 0)
    logits = scale * q.float() @ cand.float().T
    return F.cross_entropy(logits, torch.arange(q.shape[0], device=q.device))
