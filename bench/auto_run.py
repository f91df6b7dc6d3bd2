"""What `training.method = "auto"` exports on each corpus and seed of the claims table.

For every record of bench/results/claims_runs.json (the default recipe) whose corpus and seed
have all of auto's candidates trained (:data:`bmembed_lab.methods.AUTO_CANDIDATES`), the same
pipeline is opened (`claims_run.pipeline`: the same config, overrides and seed) for its cache,
where the runs the record measured are found by their training seconds (the record stores
them), and `auto`'s rule (`auto.confirm` and `auto.choose`, what `bmembed-lab train` applies
after training the candidates) decides among them: nothing is trained. A seed where a candidate
cleared the dev pool but its run is gone (or moved to another cache key) is undetermined. The
decision (the winner or none, why, each candidate's dev score and its paired interval against
base, on the pool and ranking the whole corpus) goes to
bench/results/auto_runs.json, one entry per (corpus, seed); bench/claims.py then scores the
model auto exports (the winner, or the base model when there is none) on the test questions and
the keyword-style queries from the per-question scores the claims runs stored.

    python bench/auto_run.py [--corpus NAME]   # after bench/claims_run.py, in its clone
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
OUT = ROOT / "bench" / "results" / "auto_runs.json"


def measured_run(cache_root: Path, seconds: float) -> dict | None:
    """The train.json of the cached run whose training took ``seconds`` (the claims record
    stores each run's seconds: the very runs whose test scores it holds, found even where the
    code has since moved their cache keys)."""
    from bmembed_lab.cache import MODEL

    for path in (cache_root / MODEL).glob("*/train.json"):
        info = json.loads(path.read_text())
        if abs(info.get("seconds", -1) - seconds) < 1e-6:
            return info
    return None


def candidates(pipe, rec: dict) -> tuple[list, list[str]]:
    """auto's candidates for one record, as `auto.run` would see them after training: each
    measured run's dev result from its train.json, and for each clearly above base on the dev
    pool, the whole-corpus check (`auto.confirm`), which needs the run in the cache under the
    current code's key. Returns (candidates, the methods that could not be judged: their run
    is gone, so only its name's dev verdict is known, or it cannot be evaluated here)."""
    from bmembed_lab import auto, methods

    cands, unknown = [], []
    cached = pipe.cached_models()
    for m in methods.AUTO_CANDIDATES:
        seconds = rec["training"][m]["seconds"]
        info = measured_run(pipe.cache.root, seconds)
        if info is None:  # the run's cache is gone: its name still says its dev verdict
            if "[" not in rec["training"][m]["name"]:  # clearly above base on the pool
                unknown.append(m)
            cands.append(auto.Candidate(m, skipped="not clearly above base on the dev pool "
                                        "(its run's cache is gone)"))
            continue
        c = auto.candidate(m, info)
        if c.gain is not None and c.gain["low"] > 0:
            same = m in cached and abs(pipe.trained(m)[0].info["seconds"] - seconds) < 1e-6
            if same:
                c.corpus_gain = auto.corpus_gain(pipe, m)
            else:
                unknown.append(m)
        cands.append(c)
    return cands, unknown


def main() -> None:
    from claims_run import OUT as RUNS
    from claims_run import pipeline

    from bmembed_lab import auto, methods

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="", help="one corpus only (default: every one)")
    a = ap.parse_args()
    rows = json.loads(OUT.read_text()) if OUT.is_file() else []
    for rec in json.loads(RUNS.read_text()):
        if rec["variant"] != "default" or (a.corpus and rec["corpus"] != a.corpus):
            continue
        if not all(m in rec["training"] for m in methods.AUTO_CANDIDATES):
            print(f"{rec['corpus']} seed {rec['seed']}: not every candidate trained, skipped")
            continue
        pipe, _ = pipeline(rec["corpus"], "default", rec["seed"])
        key = {"corpus": rec["corpus"], "seed": rec["seed"]}
        cands, unknown = candidates(pipe, rec)
        decision = auto.choose(cands, pipe.cfg.training.dev_metric, seed=pipe.cfg.eval.seed)
        entry = key | decision.to_dict() | {"determined": not unknown, "unjudged": unknown}
        print(f"{rec['corpus']} seed {rec['seed']}: " + ("\n  ".join(decision.lines())
              if not unknown else f"undetermined: {', '.join(unknown)} cleared the dev pool "
              "but cannot be checked on the whole corpus here"), flush=True)
        rows = [r for r in rows if (r["corpus"], r["seed"]) != (rec["corpus"], rec["seed"])]
        rows.append(entry)
        OUT.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
