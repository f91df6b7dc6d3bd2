"""How faithful is the bounded-cost dev score that picks a run's exported step?

One BMEmbed run of a config, scored at every ``training.eval_every`` steps (and step 0) four
ways, side by side:

* own pool    - what selection uses by default: each dev query re-ranks its own candidates
                (the union of BM25's and the base encoder's top ``training.dev_pool``);
* shared pool - each dev query ranks the union of every dev query's candidates (the same
                chunk encodings, so the same cost);
* full dev    - every dev query against the whole corpus (the corpus re-encoded: what the
                pools stand in for);
* full test   - the test questions against the whole corpus (for reading only: nothing is
                chosen on it).

It prints and writes (bench/results/selection_fidelity.json) the four curves, the step each
dev criterion would export and the test score at that step, so the cheap criteria can be
judged against the full-corpus dev score they approximate.

    python bench/selection_fidelity.py [--config configs/demo.toml] [--set SECTION.KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "results" / "selection_fidelity.json"


def main() -> None:
    from bmembed_lab import selection, training
    from bmembed_lab.config import load_config
    from bmembed_lab.encoder import Encoder
    from bmembed_lab.evaluation import per_query_table
    from bmembed_lab.pipeline import Pipeline
    from bmembed_lab.retrieval import dense_run
    from bmembed_lab.stages.train import model_key

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.toml")
    ap.add_argument("--set", dest="sets", action="append", default=[])
    a = ap.parse_args()
    cfg = load_config(a.config, a.sets)
    pipe = Pipeline(cfg)
    pool, _, chunk_texts = pipe.dev_pool()
    rel = pipe.relevance()[0]
    splits = {"dev": pipe.eval_queries("dev"), "test": pipe.eval_queries("test")}
    data, data_key = pipe.training_inputs("bmembed")
    tcfg = model_key(cfg, "bmembed", data_key)[0]
    tcfg = replace(tcfg, patience=0)  # score every step to the end: the whole curve
    rows = []

    def score(enc) -> float:
        t = time.perf_counter()
        was = enc.model.training
        enc.model.eval()
        try:
            c_emb = enc.encode(chunk_texts, is_query=False, progress=False)
            full = {}
            for name, (ids, texts) in splits.items():
                q = enc.encode(texts, is_query=True, progress=False)
                run = dense_run(q, c_emb, ids, cfg.eval.depth, "model")
                full[name] = 100 * float(per_query_table(run, rel)[tcfg.dev_metric].mean())
            pe = c_emb[pool.chunk_indices]
            qe = enc.encode(pool.query_texts, is_query=True, progress=False)
            own, shared = (selection.pool_scores(pe, qe, pool, s) for s in (False, True))
        finally:
            enc.model.train(was)
        rows.append({"step": None, "own pool": own, "shared pool": shared,
                     "full dev": full["dev"], "full test": full["test"],
                     "seconds": time.perf_counter() - t})
        print(json.dumps(rows[-1]), flush=True)
        return own

    enc = training.prepare_model(Encoder.load(cfg.encoder, trainable=True), tcfg)
    with tempfile.TemporaryDirectory() as run_dir:
        sel = selection.Selector(score, Path(run_dir), tcfg.eval_every, 0, tcfg.dev_metric, pool.what)
        training.train(enc, data, tcfg, Path(run_dir), selector=sel)
        for r, c in zip(rows, sel.curve):
            r["step"] = c["step"]
    picks = {}
    for crit in ("own pool", "shared pool", "full dev"):
        best = max(rows, key=lambda r: (r[crit], -r["step"]))
        picks[crit] = {"step": best["step"], "full test at that step": best["full test"]}
    steps = [r["step"] for r in rows]

    def ranks(x):
        return np.argsort(np.argsort(x))
    agreement = {crit: float(np.corrcoef(ranks([r[crit] for r in rows]), ranks([r["full dev"] for r in rows]))[0, 1])
                 for crit in ("own pool", "shared pool")}
    result = {"config": str(a.config), "sets": a.sets, "metric": tcfg.dev_metric,
              "dev queries in the pools": len(pool), "pool chunks": len(pool.chunk_indices),
              "dev questions (full)": len(splits["dev"][0]), "test questions": len(splits["test"][0]),
              "steps": steps, "curves": rows, "picks": picks,
              "Spearman with full dev": agreement}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(OUT.read_text()) if OUT.is_file() else []
    OUT.write_text(json.dumps(old + [result], indent=1))
    print(json.dumps({"picks": picks, "Spearman with full dev": agreement}, indent=1))


if __name__ == "__main__":
    main()
