"""What `training.method = "auto"` exports on each corpus and seed of the claims table.

For every record of bench/results/claims_runs.json (the default recipe) whose corpus and seed
have all of auto's candidates trained (:data:`bmembed_lab.methods.AUTO_CANDIDATES`), the same
pipeline is opened (`claims_run.pipeline`: the same config, overrides and seed) for its cache,
where the runs the record measured are found by their training seconds (the record stores
them), and `auto`'s rule (`auto.choose`, what `bmembed-lab train` applies after training the
candidates) decides among them: nothing is trained here. The decision (the winner or
none, why, each candidate's dev score and its paired interval against base) goes to
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


def from_names(rec: dict) -> dict:
    """The decision where a measured run's cache is gone: each run's name carries its dev
    verdict against base ("[NOT CLEARLY BETTER ...]", "[WORSE ...]", or none: its paired
    interval above zero, auto's eligibility rule), which settles the winner when at most one
    candidate is eligible; with more, the dev scores that would break the tie are not stored."""
    from bmembed_lab import methods

    ok = [m for m in methods.AUTO_CANDIDATES if "[" not in rec["training"][m]["name"]]
    how = "from the runs' dev verdicts (their cached runs are gone)"
    if len(ok) > 1:
        return {"winner": None, "determined": False, "eligible": ok,
                "reason": f"undetermined {how}: {', '.join(ok)} all clearly above base on dev"}
    return {"winner": ok[0] if ok else None, "determined": True, "eligible": ok,
            "reason": (f"{ok[0]} wins: the only candidate clearly above base on dev" if ok else
                       "no candidate clearly above base on dev: the base model is the answer")
            + f" ({how})"}


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
        found = {m: measured_run(pipe.cache.root, rec["training"][m]["seconds"])
                 for m in methods.AUTO_CANDIDATES}
        key = {"corpus": rec["corpus"], "seed": rec["seed"]}
        if None in found.values():
            entry = key | from_names(rec)
            print(f"{rec['corpus']} seed {rec['seed']}: {entry['reason']}", flush=True)
        else:
            decision = auto.choose([auto.candidate(m, info) for m, info in found.items()],
                                   pipe.cfg.training.dev_metric, seed=pipe.cfg.eval.seed)
            entry = key | decision.to_dict() | {"determined": True}
            print(f"{rec['corpus']} seed {rec['seed']}: " + "\n  ".join(decision.lines()),
                  flush=True)
        rows = [r for r in rows if (r["corpus"], r["seed"]) != (rec["corpus"], rec["seed"])]
        rows.append(entry)
        OUT.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
