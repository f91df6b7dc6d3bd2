"""Evaluation: the grammar of system names, per-query metrics of runs, the system comparison
table and paired-bootstrap intervals between systems (paper Section 4, Tables 2 and 6).

In: runs (ranked chunk indices per query) and the chunk relevance labels. Out: pandas tables
(one row per query and system; one per system; one per compared pair and metric).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import InputError
from .methods import DEFAULT, NAMES
from .metrics import (TEXTBOOK_MAP, TREC_MAP, glossary, interval_text, p_text, paired_bootstrap,
                      query_metrics, small_sample_note)
from .relevance import Relevance
from .retrieval import Run

log = logging.getLogger(__name__)
SYSTEMS_HELP = (f"bm25 | base | rrf (BM25 + base fused) | a trained encoder: {', '.join(NAMES)} "
                "| rrf+<trained> (BM25 + that encoder fused) | a dense system truncated to its "
                f"first d dimensions as name@d (base@128, {NAMES[-1]}@128) | any local model "
                "folder as label=folder (an earlier export: mine=runs/model/merged), scored "
                "without training")


@dataclass(frozen=True)
class System:
    """A parsed system name. ``kind``: bm25 | dense | rrf. ``encoder``: the dense model
    (``base`` or a trained method; for rrf the fused dense part). ``dim``: truncation or None."""

    name: str
    kind: str
    encoder: str = ""
    dim: int | None = None
    folder: str = ""  # label=folder systems: the local model folder

    @property
    def trained_dense(self) -> bool:
        """A dense system whose encoder was trained here (bmembed, cl@128, ...)."""
        return self.kind == "dense" and self.encoder in NAMES

    @property
    def adapted(self) -> bool:
        """A dense system other than the base encoder: trained here or a model folder."""
        return self.kind == "dense" and self.encoder != "base"


def systems_for(trained: list[str], which: str = "compare") -> list[str]:
    """The systems the notebooks and reports show, given the trained models in the cache
    (``Pipeline.cached_models``): ``compare`` = BM25, base, RRF, every trained model and its
    RRF with BM25 (the evaluation ``make demo`` computes: 00 and 04 read it); ``study`` = the
    same without plain RRF (07's lexical study); ``dense`` = base and every trained model
    (what ``diagnose`` evaluates: 05 and 06 read it)."""
    fused = [f"rrf+{m}" for m in trained]
    return {"compare": ["bm25", "base", "rrf", *trained, *fused],
            "study": ["bm25", "base", *trained, *fused], "dense": ["base", *trained]}[which]


def unique_systems(systems: list[str]) -> list[str]:
    """``systems`` in order, each once: a repeated one is scored once (a repeat doubled the
    question count of its comparisons), with a warning naming it."""
    out = list(dict.fromkeys(systems))
    for s in dict.fromkeys(s for s in systems if systems.count(s) > 1):
        log.warning("system %r is listed %d times: it is evaluated once", s, systems.count(s))
    return out


def parse_system(name: str, where: str = "eval.systems", folders: bool = True) -> System:
    """``bm25 | base[@d] | rrf | <trained>[@d] | rrf+<trained> | label=folder`` ->
    :class:`System`; anything else is an :class:`InputError` naming ``where`` and the grammar.
    ``label=folder`` (only where ``folders``) scores a local model folder, such as an earlier
    export, on these queries without training anything; its tables say ``label``."""
    if "=" in name:
        label, _, folder = name.partition("=")
        if not folders:
            raise InputError(f"system '{name}': a model folder is scored by `evaluate` and `run`",
                             where, "give it in eval.systems or evaluate --systems")
        if not label.isidentifier() or label in ("bm25", "base", "rrf") + NAMES or not folder:
            raise InputError(
                f"system '{name}': label=folder needs a plain new label and a folder",
                where,
                "write e.g. mine=runs/bmembed/merged (label: letters, digits, _)",
            )
        return System(label, "dense", f"folder:{folder}", folder=folder)
    base, at, dim = name.partition("@")
    if name == "bm25":
        return System(name, "bm25")
    if name == "rrf":
        return System(name, "rrf", "base")
    if name.startswith("rrf+") and name[4:] in NAMES:
        return System(name, "rrf", name[4:])
    if base in ("base",) + NAMES:
        if not at:
            return System(name, "dense", base)
        if dim.isdigit() and int(dim) > 0:
            return System(name, "dense", base, int(dim))
        raise InputError(f"system '{name}': the dimension after @ must be a positive whole number",
                         where, "use " + SYSTEMS_HELP)
    raise InputError(f"unknown system '{name}'", where, "use " + SYSTEMS_HELP)


def default_comparisons(systems: list[str]) -> list[tuple[str, str]]:
    """The (a, b) pairs that ``evaluate`` bootstraps, a - b, among the systems given: every
    trained encoder against base (at the same dimension) and BM25; every rrf+<trained> against
    rrf; rrf against BM25 and base; base against BM25."""
    have = set(systems)
    parsed = [parse_system(s) for s in systems]
    pairs: list[tuple[str, str]] = []
    for s in parsed:
        if s.adapted:
            base = f"base@{s.dim}" if s.dim else "base"
            pairs += [(s.name, other) for other in (base, "bm25") if other in have]
    pairs += [
        (s.name, "rrf") for s in parsed if s.kind == "rrf" and s.name != "rrf" and "rrf" in have
    ]
    if "rrf" in have:
        pairs += [("rrf", other) for other in ("bm25", "base") if other in have]
    if {"base", "bm25"} <= have:
        pairs.append(("base", "bm25"))
    return pairs


HEADLINE = ["Hit@1", "Hit@4", "Hit@10", "MAP@10", TEXTBOOK_MAP, TREC_MAP, "MRR@10", "nDCG@10"]


def per_query_table(run: Run, rel: Relevance, ks=(1, 4, 10)) -> pd.DataFrame:
    """One row per labelled query of the run: system, query_id, every metric, gold rank."""
    rows = []
    for i, qid in enumerate(run.query_ids):
        if qid not in rel.grades:
            continue
        ranked, grades, facts = rel.judged(qid, run.ranked(i))
        m = query_metrics(ranked, grades, facts, rel.n_facts[qid], ks)
        first = next((r for r, c in enumerate(ranked, 1) if c in grades), None)
        rows.append({"system": run.system, "query_id": qid, **m, "gold_rank": first})
    return pd.DataFrame(rows)


def summary_table(per_query: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """Mean of each metric per system (in percent), systems in first-seen order."""
    metrics = metrics or [m for m in HEADLINE if m in per_query.columns]
    order = list(dict.fromkeys(per_query["system"]))
    t = per_query.groupby("system", sort=False)[metrics].mean().loc[order] * 100
    t.insert(0, "queries", per_query.groupby("system", sort=False).size().loc[order])
    return t


def metric_note(per_query: pd.DataFrame, n_facts: dict, unit: str = "chunk") -> str:
    """A sentence under a summary table whose MAP@10 (Multihop-RAG's) and MRR@10 columns agree on
    every question, so that nobody looks for a difference between them; "" where they differ.
    With one gold fact per question (``n_facts``: query id -> number of gold facts) that is
    what the two definitions give (Section 4's metrics; docs/method.md). ``unit``: what is
    ranked, "chunk" or "document" (:attr:`~bmembed_lab.relevance.Relevance.level`)."""
    if not {"MAP@10", "MRR@10"} <= set(per_query.columns) or per_query.empty:
        return ""
    if not np.allclose(per_query["MAP@10"], per_query["MRR@10"]):
        return ""
    one_fact = all(n_facts.get(q, 0) == 1 for q in per_query.query_id)
    return ("MAP@10 (Multihop-RAG's) equals MRR@10 here, question by question" + (
        ": every question has one gold fact, and with one fact MAP@10 is 1 / the rank of the first "
        f"{unit} that holds it, which is MRR@10." if one_fact else "."))


def compare_systems(per_query: pd.DataFrame, a: str, b: str, metrics: list[str] | None = None,
                    n_boot: int = 10000, seed: int = 0) -> pd.DataFrame:
    """Paired bootstrap of system a minus system b on their common queries, per metric
    (differences in percentage points)."""
    metrics = metrics or ["Hit@1", "Hit@4", "Hit@10", "MAP@10", "nDCG@10"]
    pa = per_query[per_query.system == a].set_index("query_id")
    pb = per_query[per_query.system == b].set_index("query_id")
    common = pa.index.intersection(pb.index)
    rows = []
    for m in metrics:
        r = paired_bootstrap(
            pa.loc[common, m].to_numpy(), pb.loc[common, m].to_numpy(), n_boot, seed
        )
        rows.append({"comparison": f"{a} - {b}", "metric": m, "diff": 100 * r["diff"],
                     "ci_low": 100 * r["low"], "ci_high": 100 * r["high"], "p_value": r["p_value"],
                     "queries": r["n"]})
    return pd.DataFrame(rows)


def compare_all(per_query: pd.DataFrame, pairs: list[tuple[str, str]], n_boot: int = 10000,
                seed: int = 0) -> pd.DataFrame:
    """:func:`compare_systems` for every pair, stacked (empty frame for no pair)."""
    if not pairs:
        return pd.DataFrame()
    return pd.concat([compare_systems(per_query, a, b, n_boot=n_boot, seed=seed) for a, b in pairs],
                     ignore_index=True)


def format_comparisons(comparisons: pd.DataFrame) -> list[str]:
    """One line per comparison and metric: difference in points [95% interval], p-value (or
    'no question differs'); a closing note when few questions decide them."""
    lines = [f"  {r.comparison:<16} {r.metric:<8} " + (
        f"{r['diff']:+6.2f} [{r.ci_low:+6.2f}, {r.ci_high:+6.2f}]  {p_text(r.p_value)}"
        if (r['diff'], r.ci_low, r.ci_high) != (0, 0, 0) else interval_text(0, 0, 0))
        for _, r in comparisons.iterrows()]
    note = small_sample_note(int(comparisons["queries"].min())) if len(comparisons) else None
    return lines + ([f"  NOTE {note}"] if note else [])


def regime_lines(results: dict[str, dict], trained: str = DEFAULT, metric: str = "Hit@10"
                 ) -> list[str]:
    """Per query set (name -> an ``evaluate`` result): where BM25 stands against the base
    encoder, and what training on BM25's lists did to it, with intervals, and one computed
    sentence per set saying whether the two moved together."""
    out = []
    for name, res in results.items():
        c = res["comparisons"]
        if c.empty:
            continue
        row = {r.comparison: r for _, r in c[c.metric == metric].iterrows()}
        teacher, gain = row.get("base - bm25"), row.get(f"{trained} - base")
        if teacher is None or gain is None:
            continue

        def fmt(r, flip=1):  # + 0.0: no "-0.0" when a flipped difference is zero
            return (
                f"{flip * r['diff'] + 0.0:+.1f} "
                f"[{min(flip * r.ci_low, flip * r.ci_high) + 0.0:+.1f}, "
                f"{max(flip * r.ci_low, flip * r.ci_high) + 0.0:+.1f}]"
            )

        lead = (
            "BM25 ahead"
            if teacher.ci_high < 0
            else "base ahead"
            if teacher.ci_low > 0
            else "no clear leader"
        )
        moved = (
            "gains" if gain.ci_low > 0 else "loses" if gain.ci_high < 0 else "does not move clearly"
        )
        out.append(f"  {name} ({int(gain.queries)}): BM25 - base {fmt(teacher, -1)} ({lead}); "
                   f"{trained} - base {fmt(gain)}: it {moved}")
    return out


def format_table(t: pd.DataFrame, digits: int = 2, explain: bool = False) -> str:
    """Plain-text rendering for the terminal and the README; ``explain`` adds a line per
    column saying what it scores and divides by (:func:`~bmembed_lab.metrics.glossary`)."""
    text = t.to_string(float_format=lambda x: f"{x:.{digits}f}")
    return text + "".join(f"\n  {line}" for line in glossary(t.columns)) if explain else text


def in_dev_split(query_id: str, fraction: float, seed: int) -> bool:
    """Whether a labelled query belongs to the dev split: a hash of (seed, id) below
    ``fraction``. Stable (a query keeps its side when others are added) and disjoint."""
    h = int.from_bytes(hashlib.sha256(f"{seed}:{query_id}".encode()).digest()[:8], "big")
    return h / 2.0**64 < fraction


def sample_queries(query_ids: list[str], n: int, seed: int) -> list[str]:
    """A seeded subset of at most n ids, in their original order (n <= 0: all)."""
    if n <= 0 or n >= len(query_ids):
        return list(query_ids)
    keep = set(np.random.default_rng(seed).choice(len(query_ids), n, replace=False).tolist())
    return [q for i, q in enumerate(query_ids) if i in keep]
