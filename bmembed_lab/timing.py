"""What a training run costs on this machine, measured by the runs already in the cache: the
training seconds per encoded text (dev evaluations taken out) and the seconds of one dev
evaluation, kept apart, so an estimate can add the evaluations it will run. Notebook 03's
estimate, ``auto``'s budget and the ablation sweep's all read them here.

A run's train.json gives its seconds, steps, batch and method, and (since the selection records
them) each dev evaluation's seconds. Runs shorter than :data:`MIN_STEPS` are left out of the
per-text rate (their start-up, not their steps, decides it: a 4-step run once turned a
19-minute estimate into 257); runs of the method asked about are preferred when there are any.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from . import methods
from .cache import MODEL

MIN_STEPS = 20


@dataclass
class Rates:
    per_text: float | None  # training seconds per encoded text
    per_eval: float | None  # seconds of one dev evaluation that encodes
    runs: int  # runs the per-text rate comes from


def measured(cache, method: str | None = None) -> Rates:
    """The median rates of the cached runs (of ``method`` where there are any)."""
    rates, evals = [], []
    root = cache.root / MODEL
    for path in (root.glob("*/train.json") if root.is_dir() else []):
        try:
            t = json.loads(path.read_text())
            hp, steps, seconds = t["hyperparameters"], t["steps"], t["seconds"]
        except (OSError, ValueError, KeyError):
            continue
        m = methods.METHODS.get(t.get("method"))
        if m is None or not steps or not seconds:
            continue
        spent = [c["seconds"] for c in (t.get("selection") or {}).get("curve", [])
                 if c.get("seconds")]
        evals += spent
        if steps >= MIN_STEPS:
            texts = steps * hp.get("batch_size", 1) * hp.get("grad_accum", 1) * \
                m.texts_per_item(9, hp.get("hard_negatives", 1))
            rates.append((m.name, max(seconds - sum(spent), 0.0) / texts))
    mine = [r for name, r in rates if name == method] or [r for _, r in rates]
    return Rates(float(np.median(mine)) if mine else None,
                 float(np.median(evals)) if evals else None, len(mine))


def estimate(cache, method: str, steps: int, per_step: int, list_size: int,
             eval_every: int = 0, hard_negatives: int = 1) -> dict:
    """{"train": seconds of the steps or None, "evals": seconds of the dev evaluations or None,
    "n_evals": how many encode} for a run of ``method``."""
    r = measured(cache, method)
    texts = steps * per_step * methods.get(method).texts_per_item(list_size, hard_negatives)
    n_evals = (steps // eval_every + (steps % eval_every > 0)) if eval_every else 0  # not step 0
    return {"train": None if r.per_text is None else r.per_text * texts,
            "evals": None if r.per_eval is None else r.per_eval * n_evals, "n_evals": n_evals,
            "rate": r.per_text, "runs": r.runs}
