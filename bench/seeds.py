"""How much of a single run's BMEmbed - base difference is the recipe, and how much the seed?
Trains one config's BMEmbed recipe once per seed (``training.seed`` and ``sampling.seed`` together:
data order, dropout masks and the sampled lists all change; the queries, the corpus and the
evaluation questions do not), and reports, on the test split, each seed's paired interval next to
the spread across seeds and the seeds' mean.

    python bench/seeds.py [--config configs/demo.toml] [--seeds 0,1,2,3,4] [--set key=value ...]
    python bench/seeds.py --render

The exported step of every seed is chosen on the dev split, as in any run. "mean of the seeds"
averages each test question's score over the seeds before the paired bootstrap over questions:
its interval covers the questions' variation for these seeds, and the line beside it gives the
seeds' own spread (standard deviation of the per-seed differences). Results:
bench/results/seeds.json (one record per config and seed, written after every seed, so a killed
run loses nothing); the table between <!-- seeds:start --> and <!-- seeds:end --> in
bench/README.md. Every stage is cached, so seed 0 of the demo reuses `make demo`'s run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
OUT = ROOT / "bench" / "results" / "seeds.json"
METRICS = ("MAP@10", "Hit@10")


def measure(config: str, sets: list[str], seed: int) -> dict:
    """One seed: test-split comparisons of bmembed against base and BM25, the per-question
    scores (for the pooled comparison), held-out keyword-style queries when configured, and the
    dev selection."""
    from bmembed_lab.config import load_config
    from bmembed_lab.pipeline import Pipeline

    pipe = Pipeline(
        load_config(ROOT / config, sets + [f"training.seed={seed}", f"sampling.seed={seed}"])
    )
    t0 = time.perf_counter()
    res = pipe.evaluate(["bm25", "base", "bmembed"])
    out = {
        "config": config,
        "sets": sets,
        "seed": seed,
        "protocol": pipe.cfg.encoder.protocol,
        "comparisons": res["comparisons"].to_dict(orient="records"),
        "per_query": res["per_query"][["system", "query_id", *METRICS]].to_dict(orient="records"),
        "selection": pipe.trained("bmembed")[0].info.get("selection"),
    }
    if pipe.cfg.eval.heldout_queries:
        held = pipe.evaluate(["bm25", "base", "bmembed"], "heldout")
        out["heldout"] = held["comparisons"].to_dict(orient="records")
    out["seconds"] = time.perf_counter() - t0
    return out


def _find(comps: list[dict], comparison: str, metric: str) -> dict:
    return next(c for c in comps if c["comparison"] == comparison and c["metric"] == metric)


def pooled(rows: list[dict], n_boot: int = 10000) -> list[dict]:
    """bmembed averaged over the seeds, question by question, against base (paired bootstrap)."""
    import pandas as pd

    from bmembed_lab.evaluation import compare_systems

    pq = pd.concat([pd.DataFrame(r["per_query"]) for r in rows])
    base = pq[pq.system == "base"].drop_duplicates("query_id")
    mean = pq[pq.system == "bmembed"].groupby("query_id", as_index=False)[list(METRICS)].mean()
    both = pd.concat([base, mean.assign(system="bmembed (mean of seeds)")])
    return compare_systems(both, "bmembed (mean of seeds)", "base", list(METRICS), n_boot).to_dict(
        orient="records"
    )


def render(rows: list[dict]) -> str:
    from benchutil import interval as iv

    out = ["### Run-to-run variation: one recipe, several seeds (`python bench/seeds.py`)", "",
           "Each seed changes data order, dropout masks and the sampled lists; queries, corpus and "
           "evaluation questions stay the same. Test split, paired 95% intervals over questions; "
           "the exported step is chosen on dev.", ""]
    for config in dict.fromkeys(r["config"] for r in rows):
        group = sorted((r for r in rows if r["config"] == config), key=lambda r: r["seed"])
        held = all("heldout" in r for r in group)
        out += [
            f"**{' '.join([config, *group[0]['sets']])}** (protocol {group[0]['protocol']}):",
            "",
            "| seed | exported step (dev verdict) | BMEmbed - base, MAP@10 | BMEmbed - base, "
            "Hit@10 | "
            "BMEmbed - BM25, Hit@10 |"
            + (" keyword queries: BMEmbed - base, Hit@10 |" if held else ""),
            "|---|---|---|---|---|" + ("---|" if held else ""),
        ]
        for r in group:
            sel = r.get("selection") or {}
            g = sel.get("gain over base") or {}
            verdict = ("WORSE THAN BASE" if sel.get("worse_than_base") else
                       "NOT CLEARLY BETTER" if g.get("low", 1) <= 0 else "clearly better")
            verdict += f", {g['diff']:+.2f}" if g else ""
            line = (f"| {r['seed']} | {sel.get('best_step', '?')} ({verdict}) | "
                    f"{iv(_find(r['comparisons'], 'bmembed - base', 'MAP@10'))} | "
                    f"{iv(_find(r['comparisons'], 'bmembed - base', 'Hit@10'))} | "
                    f"{iv(_find(r['comparisons'], 'bmembed - bm25', 'Hit@10'))} |")
            if held:
                line += f" {iv(_find(r['heldout'], 'bmembed - base', 'Hit@10'))} |"
            out.append(line)
        diffs = [_find(r["comparisons"], "bmembed - base", "MAP@10")["diff"] for r in group]
        pool = {c["metric"]: c for c in pooled(group)}
        sd = statistics.stdev(diffs) if len(diffs) > 1 else float("nan")
        clear = sum(
            _find(r["comparisons"], "bmembed - base", "MAP@10")["ci_high"] < 0 for r in group
        )
        out += [
            "",
            f"- {len(group)} seeds: BMEmbed - base, MAP@10, per seed from {min(diffs):+.2f} to "
            f"{max(diffs):+.2f}; mean {statistics.mean(diffs):+.2f}, standard deviation {sd:.2f} "
            f"across seeds; {clear} of {len(group)} intervals lie wholly below zero.",
            f"- Each test question's score averaged over the seeds, against base (paired): MAP@10 "
            f"{iv(pool['MAP@10'])}, Hit@10 {iv(pool['Hit@10'])}.",
            "",
        ]
    return "\n".join(out).rstrip()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--config", default="configs/demo.toml")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--set", action="append", default=[], help="config override, repeatable")
    ap.add_argument("--render", action="store_true", help="only redraw the README table")
    a = ap.parse_args()
    rows = json.loads(OUT.read_text()) if OUT.is_file() else []
    if not a.render:
        for seed in map(int, a.seeds.split(",")):
            r = measure(a.config, a.set, seed)
            rows = [
                x for x in rows if (x["config"], x["sets"], x["seed"]) != (a.config, a.set, seed)
            ] + [r]
            OUT.write_text(json.dumps(rows, indent=1, default=str))
            d = _find(r["comparisons"], "bmembed - base", "MAP@10")
            print(f"seed {seed}: bmembed - base MAP@10 {d['diff']:+.2f} [{d['ci_low']:+.2f}, "
                  f"{d['ci_high']:+.2f}], {r['seconds']:.0f} s", flush=True)
    from benchutil import write_block

    write_block(ROOT / "bench" / "README.md", "seeds", render(rows))


if __name__ == "__main__":
    main()
