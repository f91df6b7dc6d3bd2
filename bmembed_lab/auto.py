"""``training.method = "auto"``: the workbench picks the adaptation for this corpus, or says
there is none.

In: a pipeline and a time budget (``training.budget_minutes``; 0 = none). It trains the
candidates (:data:`bmembed_lab.methods.AUTO_CANDIDATES`) one after another, each with the dev
selection every run has (:mod:`bmembed_lab.selection`: the same dev pool, so every candidate's
best-step scores are paired with every other's and with the base model's), skipping a candidate
whose estimated time (measured seconds per text on this machine) no longer fits the budget.
Out: :class:`Decision`, which ``train`` and ``evaluate`` print (recomputed from the cached
runs' train.json, each holding its dev scores per query), and the export (:func:`export`): the
winner's ``merged/`` with the decision in its model card, or no model at all.

The rule (:func:`choose`): a candidate is eligible when its best dev score beats the base
model's with a paired 95% interval above zero, on the dev pool that picked its step and again
(:func:`confirm`) on the same dev questions ranking the whole corpus; the winner is the
eligible candidate with the highest dev score; no eligible candidate means the base model is
the answer and nothing new is exported. The second look costs one encoding of the corpus per
candidate that passed the first (`evaluate` reuses it); it is there because the pool (relevant,
BM25's and base's top chunks) flattered the contrastive methods by 1 to 2.5 points on the demo
and the proxy (bench/results/dev_pool_check.json): on the demo it picked MNRL, which lost on
the test questions. Every cached run is reused, so a rerun after an interruption trains only what is
missing.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from . import methods
from .metrics import paired_bootstrap


@dataclass
class Candidate:
    method: str
    dev: float | None = None  # best dev score (the exported step's)
    base: float | None = None  # the base model's on the same dev queries
    gain: dict | None = None  # best minus base: {diff, low, high, queries}, paired 95%
    step: int | None = None
    seconds: float | None = None
    values: list | None = None  # per-query dev scores at the best step (paired comparisons)
    skipped: str = ""  # why it did not run (budget, no data)
    corpus_gain: dict | None = None  # the same gain, the dev questions ranking the whole corpus


@dataclass
class Decision:
    winner: str | None
    reason: str
    candidates: list[Candidate] = field(default_factory=list)
    against_winner: dict = field(default_factory=dict)  # method -> winner minus it on dev
    metric: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        for c in d["candidates"]:
            c.pop("values")
        return d

    def lines(self) -> list[str]:
        """The decision as a reader sees it: one line per candidate, then the verdict."""
        out = [f"auto: {len(self.candidates)} candidate(s), selected on the dev split by "
               f"{self.metric} with paired 95% intervals"]
        for c in self.candidates:
            if c.skipped:
                out.append(f"  {c.method}: not run ({c.skipped})")
                continue
            g = c.gain
            gain = "" if g is None else (f", {g['diff']:+.2f} [{g['low']:+.2f}, {g['high']:+.2f}]"
                                         " over base")
            vs = self.against_winner.get(c.method)
            vs = "" if vs is None else (f"; the winner {vs['diff']:+.2f} [{vs['low']:+.2f}, "
                                        f"{vs['high']:+.2f}] above it")
            w = c.corpus_gain
            whole = "" if w is None else (f"; ranking the whole corpus {w['diff']:+.2f} "
                                          f"[{w['low']:+.2f}, {w['high']:+.2f}]")
            out.append(f"  {c.method}: dev {c.dev:.2f} at step {c.step} (base {c.base:.2f}"
                       f"{gain}{whole}){vs}; {c.seconds:.0f} s")
        out.append(f"  -> {self.reason}")
        return out


def choose(cands: list[Candidate], metric: str = "", n_boot: int = 2000, seed: int = 0
           ) -> Decision:
    """The winner among ``cands`` by the rule in the module docstring."""
    ran = [c for c in cands if not c.skipped and c.dev is not None]
    pooled = [c for c in ran if c.gain is not None and c.gain["low"] > 0]
    eligible = [c for c in pooled if c.corpus_gain is None or c.corpus_gain["low"] > 0]
    if not eligible:
        lost = [c.method for c in pooled]
        why = ("no candidate ran" if not ran else "no candidate beats the base model on dev "
               "with a paired interval above zero" + (
                   f" ({', '.join(lost)} did on the dev pool, not ranking the whole corpus)"
                   if lost else "") + ": the base model is the answer, nothing new is exported")
        return Decision(None, why, cands, {}, metric)
    win = max(eligible, key=lambda c: c.dev)
    against = {}
    for c in ran:
        if c is not win and c.values and win.values and len(c.values) == len(win.values):
            r = paired_bootstrap(np.asarray(win.values), np.asarray(c.values), n_boot, seed)
            against[c.method] = {k: r[k] for k in ("diff", "low", "high")}
    g = win.gain
    clear = [m for m, r in against.items() if r["low"] > 0]
    higher = [c.method for c in ran if c.dev > win.dev]  # above it on dev, not clearly above base
    tied = [m for m in against if m not in clear and m not in higher]
    reason = (f"{win.method} wins: the highest dev {metric} ({win.dev:.2f}) of the candidates "
              f"clearly above base ({g['diff']:+.2f} [{g['low']:+.2f}, {g['high']:+.2f}])"
              + (f"; clearly above {', '.join(clear)} too" if clear else "")
              + (f"; not clearly above {', '.join(tied)}" if tied else "")
              + (f"; {', '.join(higher)} scored higher on dev but not clearly above base"
                 if higher else ""))
    return Decision(win.method, reason, cands, against, metric)


def candidate(method: str, info: dict) -> Candidate:
    """A trained run's :class:`Candidate`, from its train.json."""
    sel = info.get("selection") or {}
    return Candidate(method, sel.get("best"), sel.get("base"), sel.get("gain over base"),
                     sel.get("best_step"), info.get("seconds"), sel.get("best_values"))


def estimate_seconds(pipe, method: str) -> float | None:
    """A run's estimated seconds, training and dev evaluations, from the runs already timed on
    this machine (:mod:`bmembed_lab.timing`), or None when none is."""
    from .timing import estimate

    t = pipe.cfg.training
    per_step = methods.get(method).batch_size(t.batch_size) * t.grad_accum
    e = estimate(pipe.cache, method, t.steps, per_step, pipe.cfg.sampling.m, t.eval_every,
                 t.hard_negatives)
    return None if e["train"] is None else e["train"] + (e["evals"] or 0.0)


def corpus_gain(pipe, method: str, n_boot: int = 2000) -> dict:
    """``method`` minus base on the dev questions ranking the whole corpus (the dev metric, in
    points, paired 95% interval)."""
    t = pipe.evaluate(["base", method], "dev")["per_query"].pivot_table(
        index="query_id", columns="system", values=pipe.cfg.training.dev_metric)
    r = paired_bootstrap(100 * t[method].to_numpy(), 100 * t["base"].to_numpy(), n_boot,
                         pipe.cfg.eval.seed)
    return {k: r[k] for k in ("diff", "low", "high")} | {"queries": len(t)}


def confirm(pipe, cands: list[Candidate]) -> None:
    """Score again, ranking the whole corpus, each candidate clearly above base on the pool."""
    for c in cands:
        if not c.skipped and c.gain is not None and c.gain["low"] > 0:
            c.corpus_gain = corpus_gain(pipe, c.method)


def run(pipe, progress: bool = True, say=print, train: bool = True) -> tuple[Decision, object]:
    """Train the candidates within the budget and choose: (decision, the winner's
    :class:`~bmembed_lab.stages.train.TrainedModel` or None). ``train`` False trains nothing
    and decides among the cached runs (what ``evaluate`` shows)."""
    from .errors import InputError

    budget = pipe.cfg.training.budget_minutes * 60
    t0, cands, models = time.perf_counter(), [], {}
    cached = pipe.cached_models()
    for method in methods.AUTO_CANDIDATES:
        if method not in cached:
            est = estimate_seconds(pipe, method)
            left = budget - (time.perf_counter() - t0) if budget else None
            if not train:
                cands.append(Candidate(method, skipped="not trained yet"))
                continue
            say(f"auto: {method}: estimated " + (f"{est / 60:.1f} min of training" if est
                                                  is not None else "time unknown (no run timed "
                                                  "on this machine yet)"))
            if left is not None and est is not None and est > left:
                cands.append(Candidate(method, skipped=f"estimated {est / 60:.1f} min, "
                                       f"{max(left, 0) / 60:.1f} min of the budget left"))
                continue
        try:
            tm, _ = pipe.trained(method, progress=progress)
        except InputError as err:  # e.g. cl without evidence: a counted, stated skip
            cands.append(Candidate(method, skipped=str(err).splitlines()[0]))
            continue
        models[method] = tm
        cands.append(candidate(method, tm.info))
    confirm(pipe, cands)
    decision = choose(cands, pipe.cfg.training.dev_metric, seed=pipe.cfg.eval.seed)
    if not train:
        return decision, models.get(decision.winner)
    return decision, export(pipe.cache, decision, models)


def export(cache, decision: Decision, models: dict):
    """Store the decision as a cache entry (``auto/<key>/``: decision.json and README.md) and,
    with a winner, its ``merged/`` beside them (hard links where the file system allows, the
    weights are not copied) with the decision appended to its model card. Returns the entry as
    a :class:`~bmembed_lab.stages.train.TrainedModel`, or None without a winner."""
    import json
    import os
    import shutil

    from .cache import AUTO, StageCache
    from .hashing import code_version
    from .safeio import atomic_write_text, read_json
    from .stages.train import TrainedModel

    def link(src, dst):
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    inputs = [f"{m}:{models[m].info.get('config_hash', '')}" if m in models else f"{m}:skipped"
              for m in methods.AUTO_CANDIDATES]
    key = StageCache.make_key(AUTO, decision.to_dict(), inputs, code_version(__name__))
    note = "\n".join(["", "## Chosen by `training.method = auto`", "", "```",
                      *decision.lines(), "```", ""])

    def write(d):
        atomic_write_text(d / "decision.json", json.dumps(decision.to_dict(), indent=1))
        atomic_write_text(d / "README.md", note.lstrip())
        if decision.winner is None:
            return
        src = models[decision.winner]
        shutil.copytree(src.merged, d / "merged", copy_function=link)
        os.unlink(d / "merged" / "README.md")  # a link to the winner's card: write a new one
        atomic_write_text(d / "merged" / "README.md",
                          (src.merged / "README.md").read_text() + note)
        shutil.copy2(src.path / "train.json", d / "train.json")

    if not cache.enabled:  # nothing to store: the winner's own export is the answer
        return models.get(decision.winner)
    entry = cache.lookup(AUTO, key) or cache.store(AUTO, key, write, {"inputs": inputs})
    if decision.winner is None:
        return None
    return TrainedModel(entry.path, read_json(entry.path / "train.json"))
