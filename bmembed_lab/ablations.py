"""The paper's ablations, rerun on your corpus: partition strategy against list size m, the
BM25 depth k, and the label temperature 1/alpha, one axis at a time, each variant the config
with a few overrides (:data:`AXES`).

In: a config file (and overrides), the variants to run, a time budget. Every variant is its own
pipeline over the same stage cache, so its lists, trained model, evaluation and alignment /
uniformity are cached stages: a rerun costs nothing, an interrupted sweep resumes at the
variant it was training, and variants that equal the default (or each other) share one run.
Out: one row per variant (:func:`measure`): BMEmbed's test metrics, its difference to the
default recipe and to base with paired 95% intervals over the same questions, and its
alignment / uniformity (raw and normalised) beside base's. :func:`read` builds the same rows
from the cache alone, for notebook 08, which never trains.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import methods
from .errors import NotComputed


@dataclass(frozen=True)
class Variant:
    axis: str  # a key of AXES
    label: str
    overrides: tuple[str, ...]
    value: float  # m, k or 1/alpha: the axis's x
    strategy: str = ""  # the partition strategy (partitions axis)


STRATEGIES = ("fine-to-coarse", "uniform")
AXES = {  # axis -> (what varies, its variants), the paper's grid
    "partitions": ("list size m per partition strategy", [
        Variant("partitions", f"{s} m={m}", (f'sampling.strategy="{s}"', f"sampling.m={m}"), m, s)
        for s in STRATEGIES for m in (3, 6, 9)]),
    "k": ("BM25 depth k", [Variant("k", f"k={k}", (f"sampling.k={k}",), k) for k in (100, 1000)]),
    "inv_alpha": ("1/alpha, the BM25 label temperature", [
        Variant("inv_alpha", f"1/alpha={a}", (f"training.alpha={1 / a}",), a)
        for a in (0.1, 0.5, 1.0)]),
}
METRICS = ("MAP@10", "Hit@10")


def variants(axes: list[str] | None = None) -> list[Variant]:
    """The variants of ``axes`` (all by default), in the table's order."""
    return [v for a in (axes or list(AXES)) for v in AXES[a][1]]


def pipeline(config, overrides: list[str], variant: Variant | None = None,
             read_only: bool = False):
    """The pipeline of one variant (None: the default recipe) over the config's cache."""
    from .config import load_config
    from .pipeline import Pipeline

    extra = list(variant.overrides) if variant is not None else []
    return Pipeline(load_config(config, list(overrides) + extra), read_only=read_only)


def measure(pipe, default, n_boot: int = 2000) -> dict:
    """One variant's row: BMEmbed's test metrics under ``pipe``, minus the default recipe's
    (``default``, a pipeline) and minus base, with paired intervals; its geometry beside
    base's. Everything it reads is a cached stage (computed here where ``pipe`` may)."""
    from .metrics import paired_bootstrap

    name = methods.DEFAULT
    mine = per_query(pipe, ["base", name])
    theirs = per_query(default, ["base", name])
    row = {}
    for metric in METRICS:
        a = mine[(name, metric)]
        row[metric] = 100 * float(np.mean(a))
        for label, b in (("default", theirs[(name, metric)]), ("base", mine[("base", metric)])):
            r = paired_bootstrap(100 * a, 100 * b, n_boot, pipe.cfg.eval.seed)
            row |= {f"{metric} - {label}": r["diff"], f"{metric} - {label} low": r["low"],
                    f"{metric} - {label} high": r["high"]}
    for system in ("base", name):
        g = pipe.alignment_uniformity(system)
        tag = "" if system == name else " (base)"
        row |= {f"alignment{tag}": g["alignment"], f"alignment_norm{tag}": g["alignment_norm"],
                f"uniformity{tag}": g["uniformity_abs"]}
    info = pipe.trained(name)[0].info
    return row | {"steps": info["steps"], "best_step": (info.get("selection") or {}).get(
        "best_step"), "seconds": info["seconds"], "questions": len(a),
        "model": info["config_hash"]}


def per_query(pipe, systems: list[str]) -> dict:
    """{(system, metric): per-question values in question-id order} on the test questions,
    from the config's own evaluation where it scores them (what `run` caches), so a notebook
    opened after `run` finds the default recipe's scores."""
    own = list(pipe.cfg.eval.systems)
    table = pipe.evaluate(own if set(systems) <= set(own) else systems)["per_query"]
    table = table.sort_values("query_id")
    return {(s, m): table[table.system == s][m].to_numpy(dtype=float)
            for s in systems for m in METRICS}


def row_of(v: Variant | None) -> dict:
    if v is None:
        return {"axis": "default", "variant": "default", "value": np.nan, "strategy": ""}
    return {"axis": v.axis, "variant": v.label, "value": v.value, "strategy": v.strategy}


def run(config, overrides: list[str] = (), axes: list[str] | None = None,
        budget_minutes: float = 0.0, say=print) -> pd.DataFrame:
    """Train and measure every variant of ``axes`` that fits the budget (estimates printed
    first, from seconds per text measured on this machine; a variant that no longer fits is
    skipped and said so); returns :func:`read`'s table of what is now cached."""
    from .auto import estimate_seconds

    default = pipeline(config, overrides)
    todo = variants(axes)
    per_run = estimate_seconds(default, methods.DEFAULT)
    missing = [v for v in todo if methods.DEFAULT not in pipeline(config, overrides, v)
               .cached_models()]
    say(f"ablations: {len(todo)} variants, {len(missing)} not trained yet" + (
        f", about {per_run * len(missing) / 60:.0f} min of training and dev evaluations"
        if per_run is not None else " (no run timed on this machine yet: no estimate)"))
    t0 = time.perf_counter()
    measure(default, default)  # the reference every row is compared with
    for v in todo:
        left = budget_minutes * 60 - (time.perf_counter() - t0) if budget_minutes else None
        if v in missing and left is not None and per_run is not None and per_run > left:
            say(f"ablations: {v.label} skipped: estimated {per_run / 60:.1f} min, "
                f"{max(left, 0) / 60:.1f} min of the budget left")
            continue
        say(f"ablations: {v.label}")
        measure(pipeline(config, overrides, v).adopt(default), default)
    return read(config, overrides, axes)


def read(config, overrides: list[str] = (), axes: list[str] | None = None) -> pd.DataFrame:
    """The sweep's table from the cache alone (nothing is computed): one row per variant
    whose every stage is cached, the default recipe first; variants not run are left out."""
    default = pipeline(config, overrides, read_only=True)
    rows = [row_of(None) | measure(default, default)]
    for v in variants(axes):
        try:
            rows.append(row_of(v) | measure(pipeline(config, overrides, v, read_only=True)
                                            .adopt(default), default))
        except NotComputed:
            continue
    table = pd.DataFrame(rows)  # a variant whose options are the default's is the same run
    table["same as default"] = (table.model == table.model.iloc[0]) & (table.axis != "default")
    return table


def display_rows(table: pd.DataFrame) -> list[dict]:
    """The table as it is read (the CLI, bench/README.md, notebook 08): per variant MAP@10, its
    difference to the default recipe and to base as "d [low, high]" text, its |uniformity|,
    normalised alignment and exported step."""
    def iv(r, col):
        return f"{r[col]:+.2f} [{r[col + ' low']:+.2f}, {r[col + ' high']:+.2f}]"

    return [{"variant": r.variant, "MAP@10": f"{r['MAP@10']:.2f}",
             "minus the default [95%]": "(reference)" if r.axis == "default" else
             "= the default recipe" if r.get("same as default") else iv(r, "MAP@10 - default"),
             "minus base [95%]": iv(r, "MAP@10 - base"), "|uniformity|": f"{r.uniformity:.3f}",
             "normalised alignment": f"{r.alignment_norm:.3f}",
             "exported step": f"{r.best_step} of {r.steps}"} for _, r in table.iterrows()]


def lines(table: pd.DataFrame) -> list[str]:
    """:func:`display_rows` as aligned text lines."""
    out = [f"{'variant':<22} {'MAP@10':>6}  {'- default':<24} {'- base':<24} "
           f"{'uniformity':>10} {'align (norm)':>12}"]
    for r in display_rows(table):
        out.append(f"{r['variant']:<22} {r['MAP@10']:>6}  {r['minus the default [95%]']:<24} "
                   f"{r['minus base [95%]']:<24} {r['|uniformity|']:>10} "
                   f"{r['normalised alignment']:>12}")
    return out


def reading(table: pd.DataFrame) -> str:
    """One computed sentence on what the sweep shows."""
    rows = table[(table.axis != "default") & ~table["same as default"].astype(bool)]
    if rows.empty:
        return "No variant is in the cache yet: only the default recipe is measured."
    best = rows.loc[rows["MAP@10 - default"].idxmax()]
    clear = rows[rows["MAP@10 - default low"] > 0]
    worse = rows[rows["MAP@10 - default high"] < 0]
    text = (f"Of {len(rows)} variant{'s' * (len(rows) != 1)}, {len(clear)} beat the default "
            f"recipe on MAP@10 with an interval above zero and {len(worse)} fall below it; the "
            f"best is {best.variant} "
            f"({best['MAP@10 - default']:+.2f} [{best['MAP@10 - default low']:+.2f}, "
            f"{best['MAP@10 - default high']:+.2f}] against the default).")
    if "inv_alpha" in set(rows.axis) and (rows.axis == "inv_alpha").sum() > 1:
        a = rows[rows.axis == "inv_alpha"].sort_values("value")
        trend = "rises" if a.uniformity.iloc[-1] > a.uniformity.iloc[0] else "falls"
        text += (f" Uniformity (absolute) {trend} from {a.uniformity.iloc[0]:.3f} to "
                 f"{a.uniformity.iloc[-1]:.3f} as 1/alpha goes from {a.value.iloc[0]:g} to "
                 f"{a.value.iloc[-1]:g}.")
    same = list(table.variant[table["same as default"].astype(bool)])
    return text + (f" ({', '.join(same)}: the default recipe itself.)" if same else "") + \
        " One seed per variant."
