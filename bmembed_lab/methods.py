"""The training methods: the one place a method is named and described.

A method is what the ``model`` stage trains: its loss, what one training item is, which stage
feeds it, and its batch rule. Config validation, the CLI, the system grammar
(:mod:`bmembed_lab.evaluation`), the pipeline, the workbench and notebook 03 all read this
table. Adding a method is one entry here plus its loss in :mod:`bmembed_lab.losses` (and, for
a new kind of input, one builder in :mod:`bmembed_lab.stages.train`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InputError

# what feeds a method, and the texts one training item encodes (m = list size, n = negatives)
INPUTS = {"lists": "the BM25 training lists: a query and its m passages (1 + m texts)",
          "evidence": "(training query, its evidence passage) pairs (2 texts)",
          "mined": "(training query, its source chunk, n mined hard negatives) (2 + n texts)"}


@dataclass(frozen=True)
class Method:
    name: str
    summary: str  # one line for help texts
    loss: str  # the loss module in losses/ ("listwise": training.loss picks listnet | listmle)
    inputs: str  # a key of INPUTS
    min_batch: int = 0  # in-batch negatives need a batch: training.batch_size is raised to this

    @property
    def uses_lists(self) -> bool:
        return self.inputs == "lists"

    def batch_size(self, requested: int) -> int:
        """The batch this method trains with when the config asks for ``requested``."""
        return max(requested, self.min_batch)

    def texts_per_item(self, list_size: int = 9, hard_negatives: int = 1) -> int:
        """Texts encoded per training item (for time estimates)."""
        return {"lists": 1 + list_size, "evidence": 2, "mined": 2 + hard_negatives}[self.inputs]


METHODS = {m.name: m for m in (
    Method("bmembed", "listwise on the BM25 lists (the paper's method)", "listwise", "lists"),
    Method("cl", "InfoNCE, the evidence passage as positive, in-batch negatives (the paper's "
                 "CL baseline, batch of 16)", "infonce", "evidence", min_batch=16),
    Method("mnrl", "MultipleNegativesRankingLoss with mined hard negatives (the practitioner "
                   "recipe)", "infonce", "mined", min_batch=16),
)}
NAMES = tuple(METHODS)
DEFAULT = NAMES[0]  # the paper's method: training.method's default, the reports' centre
AUTO = "auto"  # training.method = auto: train the candidates, export the dev winner or nothing
AUTO_CANDIDATES = NAMES  # what auto trains, in this order (bmembed_lab/auto.py)
CHOICES = (*NAMES, AUTO)  # what training.method and `train --method` accept
HELP = " | ".join(f"{m.name} ({m.summary})" for m in METHODS.values()) + (
    f" | {AUTO} (train {', '.join(AUTO_CANDIDATES)} within training.budget_minutes, export the "
    "one clearly best on dev, or nothing when none beats the base model)")


def get(name: str, where: str = "training.method") -> Method:
    """The method called ``name``; anything else is an :class:`InputError` naming ``where``."""
    if name not in METHODS:
        raise InputError(
            f"unknown training method {name!r}", where, f"use one of {', '.join(NAMES)}"
        )
    return METHODS[name]
