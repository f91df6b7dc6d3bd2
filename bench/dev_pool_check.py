"""Does the dev pool judge a model as the whole corpus would?

Model selection (and `auto`) scores each candidate on the dev questions ranking a pool: their
relevant chunks plus BM25's and the base model's top chunks (bmembed_lab/selection.py), so a
dev evaluation costs a few hundred encodings, not the corpus. For every trained run of the claims
table whose cache is still here (found by its training seconds, as bench/auto_run.py does), this
scores the same exported model on the same dev questions ranking the whole corpus (the corpus's
embeddings are the test evaluation's, cached; only the dev questions are encoded) and sets the
gain over base there beside the pool's gain that selection saw, each with its paired 95%
interval. Results: bench/results/dev_pool_check.json.

    python bench/dev_pool_check.py [--corpus NAME]   # in the clone that ran bench/claims_run.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
OUT = ROOT / "bench" / "results" / "dev_pool_check.json"


def main() -> None:
    from auto_run import measured_run
    from claims_run import OUT as RUNS
    from claims_run import pipeline

    from bmembed_lab import methods
    from bmembed_lab.metrics import paired_bootstrap

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="")
    a = ap.parse_args()
    rows = []
    for rec in json.loads(RUNS.read_text()):
        if rec["variant"] != "default" or (a.corpus and rec["corpus"] != a.corpus):
            continue
        pipe, _ = pipeline(rec["corpus"], "default", rec["seed"])
        found = {m: measured_run(pipe.cache.root, rec["training"][m]["seconds"])
                 for m in methods.AUTO_CANDIDATES if m in rec["training"]}
        here = [m for m, info in found.items()
                if info and m in pipe.cached_models() and (info.get("selection") or {})
                .get("gain over base")]
        if not here:
            continue
        table = pipe.evaluate(["base", *here], "dev")["per_query"]
        metric = pipe.cfg.training.dev_metric
        t = table.pivot_table(index="query_id", columns="system", values=metric)
        for m in here:
            whole = paired_bootstrap(100 * t[m].to_numpy(), 100 * t["base"].to_numpy(), 10000, 0)
            pool = found[m]["selection"]["gain over base"]
            rows.append({"corpus": rec["corpus"], "seed": rec["seed"], "method": m,
                         "metric": metric, "questions": len(t),
                         "pool gain": {k: pool[k] for k in ("diff", "low", "high")},
                         "whole-corpus gain": {k: whole[k] for k in ("diff", "low", "high")}})
            r = rows[-1]
            print(f"{r['corpus']} seed {r['seed']} {m}: pool {pool['diff']:+.2f} "
                  f"[{pool['low']:+.2f}, {pool['high']:+.2f}], whole corpus {whole['diff']:+.2f} "
                  f"[{whole['low']:+.2f}, {whole['high']:+.2f}] ({len(t)} dev questions)",
                  flush=True)
        OUT.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
