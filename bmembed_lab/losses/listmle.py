"""ListMLE: the Plackett-Luce likelihood of the BM25 order (Xia et al., 2008; paper Table 7).

Inputs:
    sim:  (B, m) cosine similarities of each list's query to its m items.
    bm25: (B, m) raw BM25 scores, which only fix the order (ties keep list order).
Output: a scalar, mean over lists of  sum_i [ logsumexp(s_i, ..., s_m) - s_i ]  where s = sim / tau
re-ordered by descending BM25 score.
"""

from __future__ import annotations

import torch


def listmle_loss(sim: torch.Tensor, bm25: torch.Tensor, tau: float = 0.05) -> torch.Tensor:
    order = torch.sort(bm25.float(), dim=-1, descending=True, stable=True).indices
    s = torch.gather(sim.float() / tau, -1, order)
    # logsumexp over each suffix s_i..s_m, via a reversed cumulative logsumexp
    tail = torch.logcumsumexp(s.flip(-1), dim=-1).flip(-1)
    return (tail - s).sum(-1).mean()
