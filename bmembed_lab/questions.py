"""The question sets the workbench scores: one vocabulary, one record.

Every set is named here once, and every place that scores questions (the CLI, the notebooks,
the bench, results files, ``check`` and the dev selection) asks
:meth:`bmembed_lab.pipeline.Pipeline.questions` for a :class:`Questions` by one of these
names: its ids, texts and relevance labels come together, so no caller picks labels for a set
on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import InputError
from .relevance import Relevance

SETS = {
    "test": "the labelled questions every table reports",
    "dev": "the labelled questions held out of the tables, for choices and model selection",
    "heldout": "held-out keyword-style queries (the training generator's kind, never trained "
               "on; gold = the passage each was made from)",
    "heldout_dev": "the dev part of the held-out queries (selects the step without labels)",
    "masked": "the test questions with their keywords masked (paper Section 6)",
    "substituted": "the test questions with their keywords replaced by synonyms (Section 6)",
}
# how reports name a set where its key is terse
LABELS = {"heldout": "held-out synthetic", "heldout_dev": "held-out synthetic (dev part)"}
# the perturbation study's labels (the paper's Table 5) and the set each one scores
STUDY_SETS = {"original": "test", "masked": "masked", "substituted": "substituted"}


def check_set(which: str, where: str = "questions") -> str:
    if which not in SETS:
        raise InputError(f"unknown question set {which!r}", where, f"use one of {', '.join(SETS)}")
    return which


def dev_set(labelled: bool) -> str:
    """The set that selects a training run's exported step: the labelled dev questions, or
    without labels the held-out queries' dev part (agreement with the teacher, BM25)."""
    return "dev" if labelled else "heldout_dev"


def check_sets(labelled: bool, has_dev: bool) -> str:
    """The set ``check`` measures BM25 against the base encoder on, before any training."""
    return ("dev" if has_dev else "test") if labelled else "heldout"


@dataclass(frozen=True)
class Questions:
    """One scored set: its name, ids, texts, relevance labels and their key. ``labelled`` is
    False for held-out synthetic queries, whose gold is the passage they were made from (a
    score on them measures agreement with BM25, not retrieval quality)."""

    which: str
    ids: list[str]
    texts: list[str]
    relevance: Relevance
    relevance_key: str
    labelled: bool = True
    described: str = ""  # how reports name it, where the set's name alone would mislead

    @property
    def label(self) -> str:
        return self.described or LABELS.get(self.which, self.which)

    def __len__(self) -> int:
        return len(self.ids)
