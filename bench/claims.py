"""bench/claims.md, written from bench/results/claims_runs.json (``python bench/claims_run.py``)
and never by hand (its one-line summary too, into README.md between the claims markers): one
row per claim of the paper, one column per corpus or query set, each cell the estimate with its
paired 95% interval over questions and a verdict.

    python bench/claims.py

Verdicts: **supported** (the interval lies above zero in the claim's direction), **contradicted**
(below), **inconclusive** (it holds zero). With several seeds each seed gets its own interval and
the cell gives the questions' scores averaged over the seeds; a verdict that differs between
seeds is said in the cell, as is a verdict that rests on one seed. A claim with no measurement
for a column says "not run". Claims are one table (:data:`CLAIMS`); columns another
(:data:`COLUMNS`).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from claims_run import UNTRIED  # noqa: E402  (the variants' one home)

RUNS = ROOT / "bench" / "results" / "claims_runs.json"
OUT = ROOT / "bench" / "claims.md"
CELLS = ROOT / "bench" / "results" / "claims_table.json"  # the same cells, for checking prose
AUTO = ROOT / "bench" / "results" / "auto_runs.json"  # auto's decisions (bench/auto_run.py)
N_BOOT = 10000


@dataclass(frozen=True)
class Column:
    title: str
    corpus: str
    queries: str  # "questions" (labelled test questions) or "keyword" (held-out keyword-style)


COLUMNS = [
    Column("demo questions", "demo", "questions"),
    Column("demo keyword-style queries", "demo", "keyword"),
    Column("FinanceBench", "financebench", "questions"),
    Column("Multihop-RAG proxy", "multihop proxy", "questions"),
    Column("LegalBench-RAG sample (document level)", "legal", "questions"),
]


@dataclass(frozen=True)
class Claim:
    text: str
    kind: str  # diff | variant | masking | substitution | geometry
    a: str = ""  # the system (or variant) claimed better
    b: str = ""  # the one it is claimed better than
    metric: str = "MAP@10"


CLAIMS = [
    Claim("BMEmbed > base encoder", "diff", "bmembed", "base"),
    Claim("BMEmbed > BM25", "diff", "bmembed", "bm25"),
    Claim("BMEmbed > CL", "diff", "bmembed", "cl"),
    Claim("BMEmbed > MNRL", "diff", "bmembed", "mnrl"),
    Claim("RRF + BMEmbed > RRF", "diff", "rrf+bmembed", "rrf"),
    Claim("fine-to-coarse > uniform partitions", "variant", "default", "uniform"),
    Claim("a lower 1/alpha (0.1 against 0.5) hurts", "variant", "default", "inv-alpha-0.1"),
    Claim("BMEmbed raises uniformity at similar alignment (Section 5)", "geometry", "bmembed"),
    Claim("keyword masking hurts BMEmbed less than base (Hit@10)", "masking", "bmembed", "base",
          "Hit@10"),
    Claim("synonym substitution hurts BM25 most (Hit@10)", "substitution", "bm25", "",
          "Hit@10"),
]

# every trained method against the base model: "is any adaptation better than none here?"
AGAINST_BASE = [Claim(f"{name} > base encoder", "diff", system, "base")
                for name, system in (("BMEmbed", "bmembed"), ("CL", "cl"), ("MNRL", "mnrl"))]


def interval(a: np.ndarray, b: np.ndarray) -> dict:
    from bmembed_lab.metrics import paired_bootstrap

    return paired_bootstrap(100 * a, 100 * b, N_BOOT, 0)


def verdict(r: dict) -> str:
    return "supported" if r["low"] > 0 else "contradicted" if r["high"] < 0 else "inconclusive"


def paired(rows_a: list[dict], rows_b: list[dict], col: int) -> tuple[list, list]:
    """Per seed: (a, b) arrays over the questions both score; and the seeds' mean per question."""
    per_seed, ids = [], None
    for ra, rb in zip(rows_a, rows_b):
        common = sorted(set(ra) & set(rb))
        ids = common if ids is None else [q for q in ids if q in set(common)]
        per_seed.append((np.array([ra[q][col] for q in common]),
                         np.array([rb[q][col] for q in common])))
    mean = (np.mean([[ra[q][col] for q in ids] for ra in rows_a], axis=0),
            np.mean([[rb[q][col] for q in ids] for rb in rows_b], axis=0))
    return per_seed, mean


def cell_text(per_seed: list[tuple], mean: tuple, note: str = "", bold: bool = True) -> str:
    seeds = [interval(a, b) for a, b in per_seed]
    pooled = interval(*mean)
    verdicts = [verdict(r) for r in seeds]
    v = f"**{verdict(pooled)}**" if bold else verdict(pooled)
    text = f"{pooled['diff']:+.2f} [{pooled['low']:+.2f}, {pooled['high']:+.2f}] {v}"
    if len(seeds) == 1:
        text += "; 1 seed"
        if min(abs(pooled["low"]), abs(pooled["high"])) < 1:
            text += " (interval within 1 point of zero: needs 3)"
    else:
        text += f"; {len(seeds)} seeds (" + ", ".join(f"{r['diff']:+.2f}" for r in seeds) + ")"
        if len(set(verdicts)) > 1:
            text += ", the verdict differs between seeds: " + "/".join(verdicts)
    return text + (f"; {note}" if note else "")


def records(runs: list[dict], col: Column, variant: str = "default") -> list[dict]:
    return sorted((r for r in runs if r["corpus"] == col.corpus and r["variant"] == variant),
                  key=lambda r: r["seed"])


def cell(claim: Claim, col: Column, runs: list[dict]) -> str:
    recs = records(runs, col)
    m = ("MAP@10", "Hit@10").index(claim.metric)
    if claim.kind == "diff":
        have = [r for r in recs if claim.a in r[col.queries] and claim.b in r[col.queries]]
        if not have:
            return "not run"
        per_seed, mean = paired([r[col.queries][claim.a] for r in have],
                                [r[col.queries][claim.b] for r in have], m)
        return cell_text(per_seed, mean, rung(have, claim.a, claim.b))
    if col.queries != "questions":
        return "n/a (questions only)"
    if claim.kind == "variant":
        base = {r["seed"]: r for r in recs if "bmembed" in r["questions"]}
        other = [r for r in records(runs, col, claim.b) if r["seed"] in base]
        if not other:
            return "not run"
        per_seed, mean = paired([base[r["seed"]]["questions"]["bmembed"] for r in other],
                                [r["questions"]["bmembed"] for r in other], m)
        du = [r["geometry"]["bmembed"]["uniformity_abs"]
              - base[r["seed"]]["geometry"]["bmembed"]["uniformity_abs"] for r in other]
        return cell_text(per_seed, mean, f"default minus {claim.b}; {rung(other, 'bmembed')}; "
                         f"uniformity (absolute) {claim.b} minus default "
                         + ", ".join(f"{x:+.3f}" for x in du))
    if claim.kind in ("masking", "substitution"):
        return perturbation_cell(claim, recs)
    return geometry_cell(claim, recs)


def change(rec: dict, system: str, variant: str) -> dict:
    """Per question: Hit@10 under ``variant`` minus on the original question."""
    p = rec["perturbation"].get(system, {})
    if variant not in p or "original" not in p:
        return {}
    return {q: [p[variant][q][0] - p["original"][q][0]] for q in p[variant]}


def perturbation_cell(claim: Claim, recs: list[dict]) -> str:
    if claim.kind == "masking":
        have = [r for r in recs if change(r, claim.a, "masked") and change(r, claim.b, "masked")]
        if not have:
            return "not run"
        per_seed, mean = paired([change(r, claim.a, "masked") for r in have],
                                [change(r, claim.b, "masked") for r in have], 0)
        return cell_text(per_seed, mean, "BMEmbed's change minus base's, in points")
    others = ("base", "bmembed")
    have = [r for r in recs if all(change(r, s, "substituted") for s in (claim.a, *others))]
    if not have:
        return "not run"
    parts, verdicts = [], []
    for other in others:  # each other system's change minus BM25's: above zero = BM25 hurt more
        per_seed, mean = paired([change(r, other, "substituted") for r in have],
                                [change(r, claim.a, "substituted") for r in have], 0)
        verdicts.append(verdict(interval(*mean)))
        parts.append(f"vs {other}: " + cell_text(per_seed, mean, bold=False))
    v = ("supported" if set(verdicts) == {"supported"} else
         "contradicted" if "contradicted" in verdicts else "inconclusive")
    return (f"**{v}**: " + "; ".join(parts)
            + " (the other system's change minus BM25's, in points)")


def geometry_cell(claim: Claim, recs: list[dict]) -> str:
    have = [r for r in recs if claim.a in r["geometry"] and "base" in r["geometry"]]
    if not have:
        return "not run"
    du = [r["geometry"][claim.a]["uniformity_abs"] - r["geometry"]["base"]["uniformity_abs"]
          for r in have]
    da = [r["geometry"][claim.a]["alignment_norm"] - r["geometry"]["base"]["alignment_norm"]
          for r in have]
    similar = all(abs(x) <= 0.05 for x in da)
    v = ("supported" if all(x > 0 for x in du) and similar else
         "contradicted" if all(x < 0 for x in du) else "inconclusive")
    return (f"uniformity (absolute) {', '.join(f'{x:+.3f}' for x in du)}, normalised alignment "
            f"{', '.join(f'{x:+.3f}' for x in da)} ({len(have)} seed{'s' * (len(have) > 1)}; "
            f"no interval: one number per encoder) **{v}**")


AGAINST = ("bmembed", "mnrl", "base")  # what each untried variant is measured against


def untried_cell(variant: str, col: Column, runs: list[dict]) -> str:
    """An untried variant (its model is its record's "bmembed") against default BMEmbed and
    MNRL of the same seed and against base, each with its paired interval."""
    default = {r["seed"]: r[col.queries] for r in records(runs, col)}
    recs = [r for r in records(runs, col, variant) if "bmembed" in r[col.queries]]
    if not recs:
        return "not run"
    parts = []
    for other in AGAINST:
        def scores(r, other=other):
            return r[col.queries] if other == "base" else default.get(r["seed"], {})
        have = [r for r in recs if other in scores(r)]
        if not have:
            parts.append(f"vs {other}: not run")
            continue
        per_seed, mean = paired([r[col.queries]["bmembed"] for r in have],
                                [scores(r)[other] for r in have], 0)
        parts.append(f"vs {other}: " + cell_text(per_seed, mean, bold=False))
    return "; ".join(parts) + f"; {rung(recs, 'bmembed')}; {cost(recs, default_recs(runs, col))}"


def default_recs(runs: list[dict], col: Column) -> list[dict]:
    return [r for r in records(runs, col) if "bmembed" in r.get("training", {})]


def cost(recs: list[dict], default: list[dict]) -> str:
    """Training seconds per step (dev evaluations included) of a variant beside default
    BMEmbed's, from the same machine's runs."""
    def per_step(rs):
        t = [r["training"]["bmembed"] for r in rs if "bmembed" in r.get("training", {})]
        return np.mean([x["seconds"] / x["steps"] for x in t]) if t else None
    mine, theirs = per_step(recs), per_step(default)
    if mine is None:
        return "cost not recorded"
    return f"{mine:.2f} s per step" + (f" (default BMEmbed {theirs:.2f})" if theirs else "")


def rung(recs: list[dict], *systems: str) -> str:
    """The trained systems' recipe: the rung (steps x lists) and each one's steps and batch."""
    trained = {s.removeprefix("rrf+") for s in systems} & set(recs[0].get("training", {}))
    info = [f"{s} {recs[0]['training'][s]['steps']} steps, batch {recs[0]['training'][s]['batch']}"
            for s in sorted(trained)]
    return f"rung {recs[0]['rung']}" + (f" ({'; '.join(info)})" if info else "")


def auto_cell(col: Column, runs: list[dict], autos: list[dict]) -> str:
    """The model `auto` exports (the winner, or base when none wins) against base, per seed
    whose decision is known, pooled as above."""
    decided = {a["seed"]: a for a in autos if a["corpus"] == col.corpus and a["determined"]}
    recs = [r for r in records(runs, col) if r["seed"] in decided]
    recs = [r for r in recs if (decided[r["seed"]]["winner"] or "base") in r[col.queries]]
    if not recs:
        return "not run"
    exported = [decided[r["seed"]]["winner"] or "base" for r in recs]
    per_seed, mean = paired([r[col.queries][e] for r, e in zip(recs, exported)],
                            [r[col.queries]["base"] for r in recs], 0)
    open_ = [a["seed"] for a in autos if a["corpus"] == col.corpus and not a["determined"]]
    return cell_text(per_seed, mean, "exports " + ", ".join(
        f"{e} (seed {r['seed']})" for r, e in zip(recs, exported)) + (
        f"; seed(s) {', '.join(map(str, open_))} undetermined" if open_ else ""))


def auto_summary(runs: list[dict], autos: list[dict]) -> str:
    cells = [auto_cell(c, runs, autos) for c in COLUMNS]
    done = [x for x in cells if x != "not run"]
    return (f"`auto` on {len(done)} of {len(COLUMNS)} sets: clearly better than base on "
            f"{sum('**supported**' in x for x in done)}, clearly worse on "
            f"{sum('**contradicted**' in x for x in done)} (target: never worse, better on at "
            "least three of five).")


def render(runs: list[dict], autos: list[dict] = ()) -> str:
    lines = ["# Which of the paper's claims hold, corpus by corpus", "",
             "Written by `python bench/claims.py` from `bench/results/claims_runs.json` "
             "(`python bench/claims_run.py`); do not edit. MAP@10 differences in points on the "
             "test questions (or the held-out keyword-style queries) with paired 95% bootstrap "
             "intervals over questions, under the clean protocol; several seeds are pooled by "
             "averaging each question's score over the seeds.", ""]
    lines += ["| claim | " + " | ".join(c.title for c in COLUMNS) + " |",
              "|---" * (len(COLUMNS) + 1) + "|"]
    for claim in CLAIMS:
        lines.append(f"| {claim.text} | " + " | ".join(cell(claim, c, runs) for c in COLUMNS)
                     + " |")
    lines += ["", summary(runs), "", "## Is any adaptation better than none?", "",
              "Each trained method against the base encoder, as above (the base model is the "
              "answer where every row loses or ties).", "",
              "| method | " + " | ".join(c.title for c in COLUMNS) + " |",
              "|---" * (len(COLUMNS) + 1) + "|"]
    for claim in AGAINST_BASE:
        lines.append(f"| {claim.text} | " + " | ".join(cell(claim, c, runs) for c in COLUMNS)
                     + " |")
    lines += ["", "## Variants the paper did not try", "",
              "Each variant's MAP@10 minus default BMEmbed's and MNRL's (same seed) and base's, "
              "in points, with paired 95% intervals; written from the same file. Seconds per "
              "step are training seconds (dev evaluations included) over steps, on the 2-core "
              "machine the runs were made on, sometimes shared with other work: a rough "
              "cost, not a benchmark.", "",
              "| variant | " + " | ".join(c.title for c in COLUMNS) + " |",
              "|---" * (len(COLUMNS) + 1) + "|"]
    for name, text in UNTRIED.items():
        lines.append(f"| {text} | " + " | ".join(untried_cell(name, c, runs) for c in COLUMNS)
                     + " |")
    lines += ["", "## What `training.method = \"auto\"` exports", "",
              "auto's rule (`bmembed_lab/auto.py`) applied to each seed's trained candidates "
              "(`bench/results/auto_runs.json`, `python bench/auto_run.py`): the winner on dev, "
              "or the base model when none is clearly above it there; its test MAP@10 minus "
              "base's, as above (0 where base is exported).", "",
              "| | " + " | ".join(c.title for c in COLUMNS) + " |",
              "|---" * (len(COLUMNS) + 1) + "|",
              "| auto's export > base encoder | "
              + " | ".join(auto_cell(c, runs, list(autos)) for c in COLUMNS) + " |",
              "", auto_summary(runs, list(autos))]
    return "\n".join(lines) + "\n"


def summary(runs: list[dict]) -> str:
    """One line: how many cells are measured, and how many of those support their claim."""
    cells = [cell(cl, c, runs) for cl in CLAIMS for c in COLUMNS]
    measured = [x for x in cells if x != "not run" and not x.startswith("n/a")]
    support = sum("**supported**" in x for x in measured)
    against = sum("**contradicted**" in x for x in measured)
    return (f"Summary: {len(measured)} of {len(cells)} cells measured; {support} support their "
            f"claim, {against} contradict it, {len(measured) - support - against} inconclusive.")


def main() -> None:
    from benchutil import write_block

    runs = json.loads(RUNS.read_text()) if RUNS.is_file() else []
    autos = json.loads(AUTO.read_text()) if AUTO.is_file() else []
    OUT.write_text(render(runs, autos))
    CELLS.write_text(json.dumps({  # every cell's text, so prose quoting one can be checked
        "claims": {cl.text: {c.title: cell(cl, c, runs) for c in COLUMNS} for cl in CLAIMS},
        "against base": {cl.text: {c.title: cell(cl, c, runs) for c in COLUMNS}
                         for cl in AGAINST_BASE},
        "variants": {text: {c.title: untried_cell(name, c, runs) for c in COLUMNS}
                     for name, text in UNTRIED.items()},
        "auto": {c.title: auto_cell(c, runs, autos) for c in COLUMNS},
        "summary": summary(runs), "auto summary": auto_summary(runs, autos)},
        indent=1, ensure_ascii=False))
    write_block(ROOT / "README.md", "claims", summary(runs) + " " + auto_summary(runs, autos)
                + " " + measured_note(runs))
    print(OUT.read_text())


def measured_note(runs: list[dict]) -> str:
    """Which columns have measurements, and with how many seeds of BMEmbed."""
    parts = []
    for col in COLUMNS:
        seeds = [r["seed"] for r in records(runs, col) if "bmembed" in r[col.queries]]
        if seeds:
            parts.append(f"{col.title} ({len(seeds)} seed{'s' * (len(seeds) > 1)} of BMEmbed)")
    return ("Measured so far: " + ", ".join(parts) + "; the other columns read \"not run\"."
            if parts else "Nothing measured yet.")


if __name__ == "__main__":
    main()
