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

    from bmembed_lab import auto, methods

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
        cached = pipe.cached_models()
        here = [m for m, info in found.items() if info and m in cached
                and (info.get("selection") or {}).get("gain over base")]
        for m in here:  # auto's own whole-corpus check (auto.corpus_gain), 10,000 resamples
            whole = auto.corpus_gain(pipe, m, n_boot=10000)
            pool = found[m]["selection"]["gain over base"]
            rows.append({"corpus": rec["corpus"], "seed": rec["seed"], "method": m,
                         "metric": pipe.cfg.training.dev_metric,
                         "questions": whole["queries"],
                         "pool gain": {k: pool[k] for k in ("diff", "low", "high")},
                         "whole-corpus gain": {k: whole[k] for k in ("diff", "low", "high")}})
            r = rows[-1]
            print(f"{r['corpus']} seed {r['seed']} {m}: pool {pool['diff']:+.2f} "
                  f"[{pool['low']:+.2f}, {pool['high']:+.2f}], whole corpus {whole['diff']:+.2f} "
                  f"[{whole['low']:+.2f}, {whole['high']:+.2f}] ({whole['queries']} dev questions)",
                  flush=True)
        OUT.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
