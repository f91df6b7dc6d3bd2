"""Training losses, one per module (paper Section 3.3, Appendix C; seeds 002-004)."""

from .infonce import infonce_loss
from .listmle import listmle_loss
from .listnet import listnet_loss
from .matryoshka import matryoshka_loss

__all__ = ["infonce_loss", "listmle_loss", "listnet_loss", "matryoshka_loss"]
