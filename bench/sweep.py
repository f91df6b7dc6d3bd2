"""Why does (or doesn't) BMEmbed beat the base encoder on a corpus? A sweep of training
variants on the demo corpus, each scored against Base with the paired bootstrap, plus a
teacher check: how often BM25 and the base encoder put the synthetic query's own source passage
first (BM25 is the teacher; a teacher weaker than the student cannot lift it).

    python bench/sweep.py [--variants name,...] [--steps N]

Writes bench/results/sweep_demo.json after every variant (a killed sweep loses nothing; each
trained model is a cached stage, so a rerun only trains what is missing).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "results" / "sweep_demo.json"

# name -> --set overrides on top of configs/demo.toml (+ the common ones below)
VARIANTS = {
    "setting1-alpha2": [],
    "alpha5": ["training.alpha=5.0"],
    "alpha1": ["training.alpha=1.0"],
    "lora-lr1e-4": ["training.lora=true", "training.lr=1e-4"],
    "ict-queries": ["queries.method=ict"],
    "lr5e-6": ["training.lr=5e-6"],
    "listmle": ["training.loss=listmle"],
}


def teacher_check(pipe, n: int = 500, seed: int = 0) -> dict:
    """Rank of each synthetic query's source chunk (the chunk holding its evidence passage)
    under BM25 and under the base encoder: the teacher's accuracy on its own training queries."""
    ch, _ = pipe.chunks()
    qs, _ = pipe.synthetic_queries()
    cand = [q for q in qs.queries if q.evidence]
    rng = np.random.default_rng(seed)
    cand = [cand[i] for i in sorted(rng.choice(len(cand), min(n, len(cand)), replace=False))]
    src, keep = [], []
    for q in cand:  # the chunk that contains the passage's first 60 characters
        head = q.evidence[0][:60]
        hits = [i for i, c in enumerate(ch) if c.doc_id == q.doc_id and head in c.text]
        if hits:
            src.append(hits[0])
            keep.append(q)
    texts = [q.text for q in keep]
    from bmembed_lab.bm25 import tokenize_cfg

    bm_top = pipe.bm25_index().topk(tokenize_cfg(texts, pipe.cfg.bm25), 1)[0][:, 0]
    enc = pipe.encoder()
    c_emb, _, _, _ = pipe.embeddings()
    q_emb = enc.encode(texts, is_query=True, progress=False)
    dense_top = (q_emb @ c_emb.T).argmax(1)
    src = np.array(src)
    return {"queries": len(keep), "bm25_top1_is_source": float(np.mean(bm_top == src)),
            "base_top1_is_source": float(np.mean(dense_top == src))}


def run_variant(name: str, overrides: list[str], common: list[str]) -> dict:
    from bmembed_lab.config import load_config
    from bmembed_lab.pipeline import Pipeline

    cfg = load_config(ROOT / "configs" / "demo.toml", common + overrides)
    pipe = Pipeline(cfg)
    t = time.perf_counter()
    res = pipe.evaluate(["bm25", "base", "bmembed"])
    s = res["summary"]
    cmp = res["comparisons"]
    vs_base = cmp[cmp.comparison == "bmembed - base"].set_index("metric")
    tm, _ = pipe.trained("bmembed")
    return {"variant": name, "overrides": common + overrides, "seconds": time.perf_counter() - t,
            "train_seconds": tm.info["seconds"], "final_loss": tm.info["final_loss"],
            "bmembed": s.loc["bmembed"].to_dict(), "base": s.loc["base"].to_dict(),
            "bm25": s.loc["bm25"].to_dict(),
            "bmembed_minus_base": {m: {k: float(vs_base.loc[m, k]) for k in ("diff", "ci_low", "ci_high")}
                                   for m in vs_base.index}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--teacher", action="store_true", help="only the teacher check")
    a = ap.parse_args()
    from bmembed_lab.config import load_config
    from bmembed_lab.pipeline import Pipeline

    out = json.loads(OUT.read_text()) if OUT.is_file() else {"variants": {}}
    out["teacher_check"] = teacher_check(Pipeline(load_config(ROOT / "configs" / "demo.toml")))
    print(out["teacher_check"], flush=True)
    if not a.teacher:
        common = [f"training.steps={a.steps}", "training.warmup_steps=20"]
        for name in a.variants.split(","):
            r = run_variant(name, VARIANTS[name], common)
            out["variants"][name] = r
            d = r["bmembed_minus_base"]["MAP@10"]
            print(f"{name}: MAP@10 {r['bmembed']['MAP@10']:.2f} vs base {r['base']['MAP@10']:.2f} "
                  f"diff {d['diff']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}]", flush=True)
            OUT.write_text(json.dumps(out, indent=1, default=str))
    OUT.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
