"""Every training run in a cache, side by side: what notebook 09 and ``bmembed-lab runs`` show.

A run is an exported model entry of the cache (``model/<key>/``): its ``train.json`` gives the
method, the hyperparameters, the loss of every step and the dev curve that chose the exported
step. :func:`settings_table` lists the runs with what sets each apart (seed, alpha,
anchor ...), the dev questions they were chosen on (runs on the same ones compare)
and their dev gain over the base model with its paired interval;
:func:`curves` puts every run's loss and dev scores on one long table for an overlay;
:func:`test_table` scores each run's export on the test questions against the base model
(encoding the corpus once per run, then cached like any ``label=folder`` system).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .cache import MODEL

SHOWN = {  # hyperparameter -> its name where a run departs from the others (the rest stay out)
    "seed": "seed", "steps": "steps", "batch_size": "batch", "lr": "lr",
    "alpha": "alpha", "loss": "loss", "anchor": "anchor",
    "contrastive": "contrastive", "query_side": "query side", "teacher": "teacher",
    "lora": "LoRA",
    "hard_negatives": "hard negatives", "warmup_steps": "warm-up steps",
}


TOOLTIPS = {  # column -> what it says (notebook 09's headers; every key a settings_table column)
    "dev set": "the dev questions the run's exported step was chosen on, and the base model's "
               "score there: runs with the same text compare",
    "differs in": "the settings where this run departs from what most runs used (batch: lists "
                  "or question-positive pairs per step; lists: the key of its training lists, "
                  "the same for runs on the same queries and lists: sampling strategy, m, k)",
    "exported": "the step the dev split chose (its weights are the export) and the training "
                "time in minutes on the machine that ran it, dev evaluations included",
}


@dataclass
class Run:
    key: str  # the model entry's key
    info: dict  # its train.json
    folder: Path  # its export (merged/), what `evaluate` reads as label=folder

    @property
    def method(self) -> str:
        return self.info.get("method", "?")

    @property
    def label(self) -> str:
        """A short system name (an identifier, as ``label=folder`` wants): the method and the
        key's first six characters."""
        return f"{self.method}_{self.key[:6]}"


def read(cache, required: bool = False) -> list[Run]:
    """The exported runs of ``cache``, oldest first (unreadable entries are left out); with
    ``required``, none is :class:`~bmembed_lab.errors.NotComputed` (the notebooks' note)."""
    root = cache.root / MODEL
    out = []
    for path in (root.glob("*/train.json") if root.is_dir() else []):
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if (path.parent / "merged").is_dir():
            out.append((path.stat().st_mtime, Run(path.parent.name, info, path.parent / "merged")))
    if required and not out:
        from .errors import NotComputed

        raise NotComputed(MODEL)
    return [r for _, r in sorted(out, key=lambda x: x[0])]


def hyperparameters(run: Run) -> dict:
    """The run's training options, with the default of each option its train.json predates."""
    from dataclasses import asdict

    from .options import TrainingConfig

    return asdict(TrainingConfig()) | run.info.get("hyperparameters", {})


def settings(runs: list[Run]) -> list[str]:
    """Per run, ``name value`` for each :data:`SHOWN` setting (and the training data's key)
    where the run departs from what most of the runs used: what sets it apart, in a few words
    ("seed 1", "alpha 10.0 · anchor 1.0"), "" for a run with the common settings."""
    values = [{SHOWN[k]: v.get(k) for k in SHOWN} | {"lists": data_key(r)}
              for r, v in zip(runs, map(hyperparameters, runs))]
    common = {k: Counter(json.dumps(v[k]) for v in values).most_common(1)[0][0]
              for k in values[0]} if values else {}
    return [" · ".join(f"{k} {v[k]}" for k in v if json.dumps(v[k]) != common[k])
            for v in values]


def data_key(run: Run) -> str:
    """The first characters of the training lists' key: runs with the same one trained on the
    same queries and lists (sampling strategy, m, k)."""
    return str(run.info.get("data_key", "?")).split("-")[-1][:6]


def dev_set(sel: dict) -> str:
    """Which dev questions a run was chosen on: runs with the same text are comparable (a cache
    shared by several corpora or dev settings holds several)."""
    g = (sel or {}).get("gain over base") or {}
    if "base" not in (sel or {}):
        return "-"
    return f"{g.get('queries', '?')} questions · base {sel['base']:.2f}"


def gain_text(sel: dict) -> str:
    g = (sel or {}).get("gain over base")
    return "-" if not g else f"{g['diff']:+.2f} [{g['low']:+.2f}, {g['high']:+.2f}]"


def settings_table(runs: list[Run]) -> pd.DataFrame:
    """One row per run: its label, method, dev gain over the base model (paired 95% interval),
    what sets its settings apart (:func:`settings`), the dev questions it was chosen on, the
    exported step and its training minutes (one column: a projector's width holds the table);
    runs on the same dev questions together."""
    rows = [{"run": r.label, "method": r.method,
             f"dev {sel.get('metric', 'score')} − base [95%]": gain_text(sel),
             "differs in": apart or "(the common settings)", "dev set": dev_set(sel),
             "exported": f"step {sel.get('best_step')}, "
                         f"{r.info.get('seconds', 0.0) / 60:.1f} min"}
            for r, apart, sel in zip(runs, settings(runs),
                                     [r.info.get("selection") or {} for r in runs])]
    return pd.DataFrame(rows).sort_values("dev set", kind="stable", ignore_index=True)


def curves(runs: list[Run]) -> pd.DataFrame:
    """Long table: run, kind ("training loss" or "dev <metric>"), step, value."""
    rows = []
    for r in runs:
        rows += [{"run": r.label, "kind": "training loss", "step": x["step"], "value": x["loss"]}
                 for x in r.info.get("losses", [])]
        sel = r.info.get("selection") or {}
        rows += [{"run": r.label, "kind": f"dev {sel.get('metric', 'score')}",
                  "step": c["step"], "value": c["score"]} for c in sel.get("curve", [])]
    return pd.DataFrame(rows, columns=["run", "kind", "step", "value"])


def scorable(runs: list[Run]) -> list[Run]:
    """The runs whose export ranks on its own: a query-side student's export is a query encoder
    (its passages are the base model's), scored under its own config by ``evaluate``."""
    return [r for r in runs if not r.info.get("hyperparameters", {}).get("query_side")]


def test_table(pipe, runs: list[Run], metric: str = "MAP@10") -> pd.DataFrame:
    """Each run's export on the test questions: its ``metric`` and its difference from the base
    model with the paired 95% interval (each export encodes the corpus once, then is cached)."""
    from .evaluation import compare_systems

    runs = scorable(runs)
    res = pipe.evaluate(["base", *[f"{r.label}={r.folder}" for r in runs]])
    rows = []
    for r in runs:
        c = compare_systems(res["per_query"], r.label, "base", [metric]).iloc[0]
        rows.append({"run": r.label, "method": r.method,
                     metric: round(float(res["summary"].loc[r.label, metric]), 2),
                     "minus base [95%]": f"{c['diff']:+.2f} [{c['ci_low']:+.2f}, "
                                         f"{c['ci_high']:+.2f}]",
                     "questions": int(c["queries"])})
    return pd.DataFrame(rows, columns=["run", "method", metric, "minus base [95%]", "questions"])
