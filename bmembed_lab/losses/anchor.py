"""The anchored student's extra term: KL(p_base || p_s) over each list, where p_base is the
base model's own distribution over the list's items and p_s the student's, both
softmax(cosine / tau). Weighted by ``training.anchor`` and added to the listwise loss, it keeps
the student near where it started on the lists it learns from (0 at step 0, whatever the BM25
labels say), the listwise analogue of a KL penalty to a reference policy.

Inputs:
    sim:      (B, m) the student's cosine similarity of each list's query to its m items.
    base_sim: (B, m) the base model's, computed once before training (no gradient).
Output: a scalar, the KL divergence averaged over the B lists (float32).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def anchor_kl(sim: torch.Tensor, base_sim: torch.Tensor, tau: float = 0.05) -> torch.Tensor:
    log_base = F.log_softmax(base_sim.float() / tau, dim=-1)
    log_pred = F.log_softmax(sim.float() / tau, dim=-1)
    return (log_base.exp() * (log_base - log_pred)).sum(-1).mean()
