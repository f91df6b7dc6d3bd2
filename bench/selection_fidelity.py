"""How faithful is the bounded-cost dev score that picks a run's exported step?

One BMEmbed run of a config (patience off), scored at step 0 and every
``training.eval_every`` steps in several ways, side by side:

* own pool d    - each of the ``training.dev_queries`` pool questions re-ranks its own
                  candidates, the union of BM25's and the base encoder's top d (d =
                  ``training.dev_pool``, what selection uses, and 10, 20, 50);
* shared pool d - each ranks the union of every pool question's candidates (the same chunk
                  encodings, so the same cost);
* full corpus   - the whole corpus ranked (re-encoded at each step: what the pools stand in
                  for), for the pool questions, all dev questions, and the test questions (for
                  reading only: nothing is chosen on the test questions);
* cheaper ways  - shared pools of depth 1, 2, 3 and 5; the same with each question's
                  relevant chunks added (depth 1-3), or the relevant chunks alone; half of the
                  pool questions (a seeded subset) at depth 2, 3 and 5; with --more, the
                  depth-3 and depth-5 pools' chunks encoded cut to 128 tokens (``cut128``).

Every pool is read from one encoding of the whole corpus per step (an unpadded pass embeds
each text on its own, so a pool's rows are what encoding the pool alone gives); the default
evaluation of each cheap pool is also timed once (at step 0) as a run pays it.

It prints and writes (bench/results/selection_fidelity.json) the four curves, the step each
dev criterion would export and the test score at that step, so the cheap criteria can be
judged against the full-corpus dev score they approximate.

    python bench/selection_fidelity.py [--config configs/demo.toml] [--set SECTION.KEY=VALUE ...]
                                       [--more]
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

    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.toml")
    ap.add_argument("--set", dest="sets", action="append", default=[])
    ap.add_argument("--more", action="store_true",
                    help="also the pools' candidates cut to 128 tokens (encoded apart: slower)")
    a = ap.parse_args()
    cfg = load_config(a.config, a.sets)
    pipe = Pipeline(cfg)
    pool, _, chunk_texts = pipe.dev_pool()
    rel = pipe.relevance()[0]
    splits = {s: (pipe.questions(s).ids, pipe.questions(s).texts) for s in ("dev", "test")}
    splits["pool queries"] = (pool.query_ids, pool.query_texts)
    dev_runs = [pipe.run("bm25", "dev")[0], pipe.run("base", "dev")[0]]
    t = cfg.training
    depths = sorted({t.dev_pool, 1, 2, 3, 5, 10, 20, 50})

    def build(depth, limit=t.dev_queries, relevant=False):
        return selection.build_pool(*splits["dev"], dev_runs, rel, depth, limit, cfg.eval.seed,
                                    t.dev_metric, relevant=relevant)
    pools = {d: build(d) for d in depths}
    # the bounded-cost candidates (issue 35): each dev question's relevant chunks added to the
    # shared pool (with none of the runs' candidates: depth 0), fewer questions at depth 2
    cheap = {f"shared pool {d} + relevant": build(max(d, 1), relevant=True) for d in (1, 2, 3)}
    only = build(1, relevant=True)
    cheap["relevant chunks only"] = replace(only, candidates=[
        sorted(c for c, g in rel.grades[q].items() if g > 0) for q in only.query_ids])
    half = {d: build(d, max(1, len(pool) // 2)) for d in (2, 3, 5)}
    data, data_key = pipe.training_inputs("bmembed")
    tcfg = model_key(cfg, "bmembed", data_key)[0]
    tcfg = replace(tcfg, patience=0)  # score every step to the end: the whole curve
    rows = []

    def score(enc) -> float:
        t0 = time.perf_counter()
        was = enc.model.training
        enc.model.eval()
        try:
            # one encoding of the whole corpus per step: every pool's chunks are read from it
            # (an unpadded pass embeds each text alone, so a subset is what the pool would get)
            c_emb = enc.encode(chunk_texts, is_query=False, progress=False)
            row = {"step": None}
            for name, (ids, texts) in splits.items():
                q = enc.encode(texts, is_query=True, progress=False)
                run = dense_run(q, c_emb, ids, cfg.eval.depth, "model")
                row[f"full corpus, {name}"] = 100 * float(
                    per_query_table(run, rel)[tcfg.dev_metric].mean()
                )
            qe = enc.encode(pool.query_texts, is_query=True, progress=False)
            for d, p in pools.items():
                assert p.query_ids == pool.query_ids
                row[f"own pool {d}"] = selection.pool_scores(
                    c_emb[p.chunk_indices], qe, p, shared=False
                )
                row[f"shared pool {d}"] = selection.pool_scores(
                    c_emb[p.chunk_indices], qe, p, shared=True
                )
            for name, p in cheap.items():
                row[name] = selection.pool_scores(c_emb[p.chunk_indices], qe, p, shared=True)
            for d, p in half.items():
                qh = enc.encode(p.query_texts, is_query=True, progress=False)
                row[f"half the questions, shared pool {d}"] = selection.pool_scores(
                    c_emb[p.chunk_indices], qh, p, shared=True)
            if not rows:  # the cost of each as a run pays it (selection.dev_score), once
                for name, p in [("shared pool 2", pools[2])] + list(cheap.items()):
                    t1 = time.perf_counter()
                    selection.dev_score(enc, p, chunk_texts, progress=False)
                    row[f"seconds, {name}"] = time.perf_counter() - t1
            if a.more:
                cut128(enc, row, qe)
        finally:
            enc.model.train(was)
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        print(json.dumps(row), flush=True)
        return row[f"shared pool {t.dev_pool}"]

    def cut128(enc, row, qe) -> None:
        full_length = enc.max_length
        enc.max_length = min(enc.max_length, 128)
        try:
            for d in (3, 5):
                p = pools[d]
                t1 = time.perf_counter()
                cut = enc.encode([chunk_texts[c] for c in p.chunk_indices], is_query=False,
                                 progress=False)
                row[f"seconds, cut128 pool {d}"] = time.perf_counter() - t1
                row[f"cut128, shared pool {d}"] = selection.pool_scores(cut, qe, p, True)
        finally:
            enc.max_length = full_length

    enc = training.prepare_model(Encoder.load(cfg.encoder, trainable=True), tcfg)
    with tempfile.TemporaryDirectory() as run_dir:
        sel = selection.Selector(
            score, Path(run_dir), tcfg.eval_every, 0, tcfg.dev_metric, pool.what
        )
        training.train(enc, data, tcfg, Path(run_dir), selector=sel)
        for r, c in zip(rows, sel.curve):
            r["step"] = c["step"]
    crits = [k for k in rows[0] if k not in ("step", "seconds", "full corpus, test")
             and not k.startswith("seconds")]
    picks = {}
    for crit in crits:
        best = max(rows, key=lambda r: (r[crit], -r["step"]))
        picks[crit] = {
            "step": best["step"],
            "full corpus, test at that step": best["full corpus, test"],
        }

    def ranks(x):
        return np.argsort(np.argsort(x))
    full = ranks([r["full corpus, dev"] for r in rows])
    agreement = {c: float(np.corrcoef(ranks([r[c] for r in rows]), full)[0, 1]) for c in crits}
    result = {
        "config": str(a.config.resolve().relative_to(ROOT)
                      if a.config.resolve().is_relative_to(ROOT) else a.config),
        "sets": a.sets,
        "metric": tcfg.dev_metric,
        "dev queries in the pools": len(pool),
        "pool chunks": {d: len(p.chunk_indices) for d, p in pools.items()},
        "half-question pool chunks": {d: len(p.chunk_indices) for d, p in half.items()},
        "bounded pool chunks": {n: len(p.chunk_indices) for n, p in cheap.items()},
        "dev questions (full)": len(splits["dev"][0]),
        "test questions": len(splits["test"][0]),
        "curves": rows,
        "picks": picks,
        "Spearman with full-corpus dev": agreement,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(OUT.read_text()) if OUT.is_file() else []
    OUT.write_text(json.dumps(old + [result], indent=1))
    print(json.dumps({"picks": picks, "Spearman with full-corpus dev": agreement}, indent=1))


if __name__ == "__main__":
    main()
