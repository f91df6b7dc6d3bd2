"""Training metrics for experiment trackers: ``[training] report_to = ["tensorboard", "mlflow"]``.

Every optimizer step logs ``train/loss``, ``train/learning_rate`` and ``train/steps_per_second``
(its throughput, dev evaluations left out), and every dev evaluation ``dev/<metric>`` at its
step. Off by default (``report_to = []``). Runs are written under the cache's ``tracking/``
folder and named by their model key; a resumed run appends to its own.

Both work offline, so nothing leaves the machine, and both show a corpus's runs side by side:
TensorBoard's event files in ``tracking/<key>/tensorboard`` (``tensorboard --logdir
<cache>/tracking``) and MLflow's local SQLite store ``tracking/mlflow.db``, experiment
``bmembed-lab``, one run per key (``mlflow ui --backend-store-uri
sqlite:///<cache>/tracking/mlflow.db``). MLflow's older file store is not used: MLflow 3 refuses
it unless opted in, as it is in maintenance mode.

Trackers are one table (:data:`TRACKERS`): a name and a function opening a writer for run
``run`` under the ``root`` folder. A writer has ``scalar(tag, value, step)`` and ``close()``.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from .errors import InputError

MLFLOW_EXPERIMENT = "bmembed-lab"  # every run of a cache, in one experiment


def not_installed(tracker: str, packages: str) -> InputError:
    return InputError(f"training.report_to names {tracker}, which is not installed",
                      "training.report_to", f"pip install {packages} (or pip install "
                      "'bmembed-lab[tracking]'), or leave it out")


def tensorboard_writer(root: Path, run: str):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise not_installed("tensorboard", "tensorboard") from None

    class Writer:
        def __init__(self):
            self.w = SummaryWriter(str(root / run / "tensorboard"))

        def scalar(self, tag: str, value: float, step: int) -> None:
            self.w.add_scalar(tag, value, step)

        def close(self) -> None:
            self.w.close()

    return Writer()


def mlflow_writer(root: Path, run: str):
    """MLflow's SQLite store ``root/mlflow.db`` (mlflow-skinny with sqlalchemy and alembic is
    enough; no server, no network): experiment ``bmembed-lab``, one run per ``run`` name (a
    resumed run reopens it)."""
    try:
        import alembic  # noqa: F401  # MLflow's SQLite store needs both
        import sqlalchemy  # noqa: F401
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise not_installed("mlflow", "mlflow-skinny sqlalchemy alembic") from None

    class Writer:
        def __init__(self):
            self.client = MlflowClient(tracking_uri=mlflow_uri(root))
            exp = self.client.get_experiment_by_name(MLFLOW_EXPERIMENT)
            exp_id = exp.experiment_id if exp else self.client.create_experiment(MLFLOW_EXPERIMENT)
            old = self.client.search_runs([exp_id], f"attributes.run_name = '{run}'")
            self.run_id = old[0].info.run_id if old else \
                self.client.create_run(exp_id, run_name=run).info.run_id

        def scalar(self, tag: str, value: float, step: int) -> None:
            self.client.log_metric(self.run_id, mlflow_name(tag), float(value), step=int(step))

        def close(self) -> None:
            self.client.set_terminated(self.run_id)

    return Writer()


def mlflow_name(tag: str) -> str:
    """A tag as MLflow allows metric names (no ``@``): ``dev/MAP@10`` -> ``dev/MAP_at_10``."""
    return re.sub(r"[^\w\-. :/]", "_", tag.replace("@", "_at_"))


def mlflow_uri(root: Path) -> str:
    """The MLflow tracking URI of a cache's ``tracking/`` folder (``mlflow ui`` takes it)."""
    return f"sqlite:///{(root / 'mlflow.db').resolve()}"


TRACKERS = {"tensorboard": tensorboard_writer, "mlflow": mlflow_writer}


class Tracking:
    """The trackers of one run; ``step(...)`` after each optimizer step, ``dev(...)`` after
    each dev evaluation."""

    def __init__(self, names, root: Path, run: str, metric: str = "score"):
        unknown = [n for n in names if n not in TRACKERS]
        if unknown:
            raise InputError(f"unknown tracker(s) {unknown}", "training.report_to",
                             f"use any of {sorted(TRACKERS)}, or []")
        root.mkdir(parents=True, exist_ok=True)
        self.writers = [TRACKERS[n](root, run) for n in names]
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
