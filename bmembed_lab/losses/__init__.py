"""Training losses, one per module: ListNet and ListMLE on BM25 lists (paper Section 3.3,
Appendix C), InfoNCE with in-batch and hard negatives (the CL baseline and sentence-transformers'
MultipleNegativesRankingLoss), and a Matryoshka wrapper (Kusupati et al., 2022)."""

from .infonce import infonce_loss
from .listmle import listmle_loss
from .listnet import listnet_loss, listnet_target
from .matryoshka import matryoshka_loss

__all__ = ["infonce_loss", "listmle_loss", "listnet_loss", "listnet_target", "matryoshka_loss"]
