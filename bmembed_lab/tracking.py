"""Training metrics for an experiment tracker: ``[training] report_to = ["tensorboard"]``.

Every optimizer step logs ``train/loss``, ``train/learning_rate`` and ``train/steps_per_second``
(its throughput, dev evaluations left out), and every dev evaluation ``dev/<metric>`` at its
step. Off by default (``report_to = []``). Runs are written under the cache's ``tracking/``
folder, one sub-folder per training run (its model key), so ``tensorboard --logdir
<cache>/tracking`` shows every run of a corpus side by side; a resumed run appends to its own.

Trackers are one table (:data:`TRACKERS`): a name and a function opening a writer for a run
folder. A writer has ``scalar(tag, value, step)`` and ``close()``.
"""

from __future__ import annotations

import time
from pathlib import Path

from .errors import InputError


def tensorboard_writer(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise InputError("training.report_to names tensorboard, which is not installed",
                         "training.report_to", "pip install tensorboard (or "
                         "pip install 'bmembed-lab[tracking]'), or leave it out") from None

    class Writer:
        def __init__(self):
            self.w = SummaryWriter(str(folder))

        def scalar(self, tag: str, value: float, step: int) -> None:
            self.w.add_scalar(tag, value, step)

        def close(self) -> None:
            self.w.close()

    return Writer()


TRACKERS = {"tensorboard": tensorboard_writer}


class Tracking:
    """The trackers of one run; ``step(...)`` after each optimizer step, ``dev(...)`` after
    each dev evaluation."""

    def __init__(self, names, folder: Path, metric: str = "score"):
        unknown = [n for n in names if n not in TRACKERS]
        if unknown:
            raise InputError(f"unknown tracker(s) {unknown}", "training.report_to",
                             f"use any of {sorted(TRACKERS)}, or []")
        folder.mkdir(parents=True, exist_ok=True)
        self.writers = [TRACKERS[n](folder / n) for n in names]
        self.metric, self.last = metric, None

    def wrap(self, on_step=None):
        """An ``on_step(step, loss, lr)`` callback that logs the step, then calls ``on_step``."""
        def logged(step, loss, lr):
            self.step(step, loss, lr)
            if on_step is not None:
                on_step(step, loss, lr)
        return logged

    def step(self, step: int, loss: float, lr: float) -> None:
        """Throughput counts the steps since the last step or dev evaluation, so an
        evaluation's time is never a slow step."""
        now = time.perf_counter()
        rate = None if self.last is None or now <= self.last[1] else \
            (step - self.last[0]) / (now - self.last[1])
        self.last = (step, now)
        for w in self.writers:
            w.scalar("train/loss", loss, step)
            w.scalar("train/learning_rate", lr, step)
            if rate is not None:
                w.scalar("train/steps_per_second", rate, step)

    def dev(self, step: int, score: float) -> None:
        for w in self.writers:
            w.scalar(f"dev/{self.metric}", score, step)
        self.last = (step, time.perf_counter())  # the next step's clock starts after it

    def close(self) -> None:
        for w in self.writers:
            w.close()
