"""Training losses, one per module: ListNet and ListMLE on BM25 lists (paper Section 3.3,
Appendix C), InfoNCE with in-batch and hard negatives (the CL baseline and sentence-transformers'
MultipleNegativesRankingLoss), a Matryoshka wrapper (Kusupati et al., 2022) and the anchored
student's KL term to the base model's own list distribution."""

from .anchor import anchor_kl
from .infonce import infonce_loss
from .listmle import listmle_loss
from .listnet import listnet_loss, listnet_target
from .matryoshka import matryoshka_loss

__all__ = [
    "anchor_kl", "infonce_loss", "listmle_loss", "listnet_loss", "listnet_target",
    "matryoshka_loss",
]
