"""The study table of the lexical-sensitivity study (paper Section 6, Table 5): each system on
original, masked and substituted questions, the change from the original on the same questions
with its paired-bootstrap interval, the gold chunk's rank changes, and a reading of the numbers
in sentences.

In: a per-query metrics table with columns system, variant, query_id and the metrics. Out:
pandas tables and a list of sentences.
"""

from __future__ import annotations

import pandas as pd

from ..evaluation import parse_system
from ..metrics import paired_bootstrap

VARIANTS = ("original", "masked", "substituted")
STUDY_METRICS = ["Hit@1", "Hit@4", "Hit@10", "MAP@10"]


def study_table(per_query: pd.DataFrame, n_boot: int = 10000, seed: int = 0,
                metrics: list[str] | None = None) -> pd.DataFrame:
    """The paper's Table 5 in long form. In: per-query metrics with columns system, variant,
    query_id and the metrics. Out: one row per (system, perturbed variant, metric): the
    original and perturbed means on the queries the variant has (percent), the change
    (perturbed - original, points) and its paired-bootstrap 95% interval."""
    metrics = metrics or STUDY_METRICS
    rows = []
    for system in dict.fromkeys(per_query.system):
        s = per_query[per_query.system == system]
        orig = s[s.variant == "original"].set_index("query_id")
        for variant in ("masked", "substituted"):
            pert = s[s.variant == variant].set_index("query_id")
            common = pert.index.intersection(orig.index)
            if not len(common):
                continue
            for m in metrics:
                a, b = pert.loc[common, m].to_numpy(float), orig.loc[common, m].to_numpy(float)
                r = paired_bootstrap(a, b, n_boot, seed)
                rows.append(
                    {
                        "system": system,
                        "variant": variant,
                        "metric": m,
                        "queries": len(common),
                        "original": 100 * b.mean(),
                        "perturbed": 100 * a.mean(),
                        "change": 100 * r["diff"],
                        "ci_low": 100 * r["low"],
                        "ci_high": 100 * r["high"],
                    }
                )
    return pd.DataFrame(rows)


def table5(study: pd.DataFrame) -> pd.DataFrame:
    """Wide view in the paper's Table 5 layout: per system, a row for masked and one for
    substituted questions; each metric as original -> perturbed on the same questions, with
    the change and its 95% interval (negative = worse, as everywhere in the study)."""
    rows = []
    for system in dict.fromkeys(study.system):
        s = study[study.system == system]
        for variant in ("masked", "substituted"):
            v = s[s.variant == variant].set_index("metric")
            if len(v):
                rows.append({"system": system, "questions": variant, "n": int(v.queries.iloc[0]),
                             **{m: f"{v.loc[m, 'original']:.1f} → {v.loc[m, 'perturbed']:.1f} "
                                   f"({v.loc[m, 'change']:+.1f} [{v.loc[m, 'ci_low']:+.1f}, "
                                   f"{v.loc[m, 'ci_high']:+.1f}])" for m in v.index}})
    return pd.DataFrame(rows)


def rank_changes(per_query: pd.DataFrame) -> pd.DataFrame:
    """Per query and system: the gold chunk's rank (1-based, NaN = not in the run's depth)
    under each variant, and its change from the original as original - perturbed, so that a
    negative change is worse (the gold chunk fell), as with every metric change; and
    ``<variant> perturbed``, False where the question has no such version (no keyword to
    mask, no substitute found): then its NaN rank means "not perturbed", not "not retrieved"."""
    t = per_query.pivot_table(index=["query_id", "system"], columns="variant", values="gold_rank",
                              aggfunc="first", dropna=False)
    has = per_query.assign(row=1).pivot_table(index=["query_id", "system"], columns="variant",
                                              values="row", aggfunc="count", fill_value=0)
    t = t.reindex(columns=[v for v in VARIANTS if v in t.columns])
    for v in ("masked", "substituted"):
        if v in t.columns:
            t[f"{v} change"] = t["original"] - t[v]
            t[f"{v} perturbed"] = has[v].reindex(t.index, fill_value=0).to_numpy() > 0
    return t.reset_index()


def rank_change_view(changes: pd.DataFrame, depth: int) -> pd.DataFrame:
    """:func:`rank_changes` for reading: ranks as numbers or 'not in top N', changes as
    signed numbers (negative = the gold chunk fell) or 'lost' / 'found' / 'same'."""
    def rank(x) -> str:
        return f"not in top {depth}" if pd.isna(x) else str(int(x))

    def change(orig, pert) -> str:
        if pd.isna(orig) and pd.isna(pert):
            return "-"
        if pd.isna(pert):
            return "lost"
        if pd.isna(orig):
            return "found"
        d = int(orig - pert)
        return "same" if d == 0 else f"{d:+d}"
    def done(v: str) -> list[bool]:
        return list(changes.get(f"{v} perturbed", pd.Series(True, index=changes.index)))

    out = pd.DataFrame({"system": changes.system})
    for v in VARIANTS:
        if v in changes.columns:
            ok = done(v) if v != "original" else [True] * len(changes)
            out[f"{v} rank"] = [rank(x) if d else "not perturbed" for x, d in zip(changes[v], ok)]
    for v in ("masked", "substituted"):
        if v in changes.columns:
            out[f"{v}: change (- = worse)"] = [
                change(a, b) if d else "not perturbed"
                for a, b, d in zip(changes["original"], changes[v], done(v))
            ]
    return out.reset_index(drop=True)


def reading(study: pd.DataFrame, metric: str = "Hit@10") -> list[str]:
    """What the study's numbers say, as sentences computed from them (for the notebook and
    the bench report): which system masking hurts most, whether an adapted encoder leans on
    keywords more than the base one, and what survives substitution."""
    s = study[study.metric == metric]
    out = []

    def sig(r) -> str:
        if r.ci_high < 0:
            return "a drop whose 95% interval excludes zero"
        if r.ci_low > 0:
            return "a gain whose 95% interval excludes zero"
        return "within noise (the interval contains zero)"

    for variant, verb in (
        ("masked", "Masking the keywords"),
        ("substituted", "Substituting synonyms"),
    ):
        v = s[s.variant == variant].set_index("system")
        if v.empty:
            continue
        worst = v.change.idxmin()
        least = v.change.idxmax()
        r, best = v.loc[worst], v.loc[least].change
        # a change is said as what it is: a loss, no change, or a gain (never "loses +2.2")
        other = (
            f"{least} loses least ({best:+.1f})"
            if best < -0.05
            else f"{least} gains ({best:+.1f})"
            if best > 0.05
            else f"{least} does not move ({best:+.1f})"
        )
        if r.change < -0.05:
            out.append(
                f"{verb} costs {worst} the most: {metric} {r.original:.1f} -> {r.perturbed:.1f} "
                f"({r.change:+.1f} points, {sig(r)}); {other}."
            )
        else:
            out.append(
                f"{verb} costs no system any {metric}: every change is {r.change:+.1f} points or "
                "above."
            )
        kept = (v.perturbed / v.original.where(v.original > 0)).dropna()
        if len(kept):
            out.append(f"Share of {metric} kept when {variant}: " + ", ".join(
                f"{k} {100 * x:.0f}%" for k, x in kept.sort_values(ascending=False).items()) + ".")
        for adapted in [x for x in v.index if parse_system(x).trained_dense]:
            if "base" in v.index:
                a, b = v.loc[adapted], v.loc["base"]
                d = a.change - b.change
                overlap = not (a.ci_high < b.ci_low or b.ci_high < a.ci_low)
                losses = a.change < 0 and b.change < 0  # else a gain is in play: say "fares"
                than = (
                    f"loses {abs(d):.1f} points {'less' if d > 0 else 'more'} than base"
                    if losses
                    else f"fares {abs(d):.1f} points {'better' if d > 0 else 'worse'} than base"
                )
                if abs(a.original - b.original) > 5 and a.original > 0 and b.original > 0:
                    out.append(
                        f"When {variant}, {adapted} starts from {a.original:.1f} against base's "
                        f"{b.original:.1f}, so their point {'losses' if losses else 'changes'} "
                        f"({a.change:+.1f} vs {b.change:+.1f}) "
                        f"are not comparable; it keeps {100 * a.perturbed / a.original:.0f}% of "
                        "its "
                        f"{metric}, base {100 * b.perturbed / b.original:.0f}%."
                    )
                elif abs(d) < 1.0:
                    out.append(
                        f"When {variant}, {adapted} {'loses' if losses else 'changes'} about as "
                        "much "
                        f"as base ({a.change:+.1f} vs "
                        f"{b.change:+.1f}): adapting it did not change how much it rests on these "
                        "words."
                    )
                elif overlap:
                    out.append(
                        f"When {variant}, {adapted} {than} "
                        f"({a.change:+.1f} vs {b.change:+.1f}), but the intervals overlap: "
                        "the difference is not established (compare the shares kept, as the two "
                        "start from different values)."
                    )
                else:
                    lean = "more" if d < 0 else "less"
                    out.append(
                        f"When {variant}, {adapted} {than} "
                        f"({a.change:+.1f} vs {b.change:+.1f}, non-overlapping intervals): it "
                        "leans "
                        f"{lean} on the exact keywords than the encoder it was adapted from."
                    )
    if "bm25" in set(s.system):
        m = s[(s.system == "bm25") & (s.variant == "masked")]
        if len(m) and m.iloc[0].original > 0:
            out.append(f"BM25 keeps {100 * m.iloc[0].perturbed / m.iloc[0].original:.0f}% of its "
                       f"{metric} without the keywords: the share of its hits that the other "
                       "shared words carry.")
    return out


def run_study(systems: list[str], per_query, n_boot: int, seed: int, progress=None) -> dict:
    """Every system on every variant: ``per_query(system, variant)`` gives its per-query
    metrics table. Out: the stacked per-query table (with a variant column), the study table,
    its Table 5 layout, the gold chunks' rank changes and the reading."""
    tables = []
    todo = [(s, v) for s in systems for v in VARIANTS]
    for i, (s, v) in enumerate(todo):
        t = per_query(s, v)
        t.insert(1, "variant", v)
        tables.append(t)
        if progress:
            progress(i + 1, len(todo))
    pq = pd.concat(tables, ignore_index=True)
    study = study_table(pq, n_boot, seed)
    return {"per_query": pq, "study": study, "table": table5(study),
            "rank_changes": rank_changes(pq), "reading": reading(study)}
