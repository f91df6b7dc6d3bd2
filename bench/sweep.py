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


def source_chunks(pipe, queries) -> tuple[list, list[int]]:
    """The synthetic queries whose source chunk (the chunk holding the first 60 characters of
    their evidence passage) is found, and those chunks' indices."""
    ch, _ = pipe.chunks()
    keep, src = [], []
    for q in queries:
        if not q.evidence:
            continue
        head = q.evidence[0][:60]
        hits = [i for i, c in enumerate(ch) if c.doc_id == q.doc_id and head in c.text]
        if hits:
            keep.append(q)
            src.append(hits[0])
    return keep, np.array(src)


def source_ranks(pipe, texts: list[str], src: np.ndarray, system: str) -> np.ndarray:
    """1-based rank of each query's source chunk under bm25, base or a trained encoder."""
    from bmembed_lab.bm25 import tokenize_cfg

    if system == "bm25":
        scores = pipe.bm25_index().scores(tokenize_cfg(texts, pipe.cfg.bm25))
    else:
        enc = pipe.encoder(system)
        c_emb, _ = pipe.chunk_embeddings(system)
        scores = enc.encode(texts, is_query=True, progress=False) @ c_emb.T
    own = scores[np.arange(len(texts)), src]
    return 1 + (scores > own[:, None]).sum(1)


def teacher_check(pipe, n: int = 500, seed: int = 0) -> dict:
    """The teacher's accuracy on its own kind of query, and what the student learned of it.
    (1) On a sample of the training queries: how often BM25 and the base encoder rank the
    query's source chunk first. (2) On held-out synthetic queries (the same generator with
    another seed, texts seen in training removed): Hit@1 / Hit@10 of the source chunk under
    BM25, base and the trained BMEmbed, with a paired bootstrap of BMEmbed - base. If BMEmbed
    gains there but not on the real questions, training works and the teacher's strength
    (keyword queries) is not what the real questions need."""
    from dataclasses import replace

    from bmembed_lab.metrics import paired_bootstrap
    from bmembed_lab.pipeline import Pipeline

    qs, _ = pipe.synthetic_queries()
    rng = np.random.default_rng(seed)
    sample = [
        qs.queries[i]
        for i in sorted(rng.choice(len(qs.queries), min(n, len(qs.queries)), replace=False))
    ]
    keep, src = source_chunks(pipe, sample)
    texts = [q.text for q in keep]
    out = {"queries": len(keep),
           "bm25_top1_is_source": float(np.mean(source_ranks(pipe, texts, src, "bm25") == 1)),
           "base_top1_is_source": float(np.mean(source_ranks(pipe, texts, src, "base") == 1))}
    other = Pipeline(
        replace(pipe.cfg, queries=replace(pipe.cfg.queries, seed=pipe.cfg.queries.seed + 1))
    )
    seen = {q.text.lower() for q in qs.queries}
    fresh = [q for q in other.synthetic_queries()[0].queries if q.text.lower() not in seen]
    fresh = [fresh[i] for i in sorted(rng.choice(len(fresh), min(n, len(fresh)), replace=False))]
    keep, src = source_chunks(pipe, fresh)
    texts = [q.text for q in keep]
    ranks = {s: source_ranks(pipe, texts, src, s) for s in ("bm25", "base", "bmembed")}
    held = {"queries": len(keep)}
    for k in (1, 10):
        for name, r in ranks.items():
            held[f"{name} Hit@{k}"] = float(100 * np.mean(r <= k))
        b = paired_bootstrap(
            (ranks["bmembed"] <= k).astype(float), (ranks["base"] <= k).astype(float), 10000, 0
        )
        held[f"bmembed - base Hit@{k}"] = {
            "diff": 100 * b["diff"],
            "ci_low": 100 * b["low"],
            "ci_high": 100 * b["high"],
        }
    out["held_out_synthetic"] = held
    return out


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
    return {
        "variant": name,
        "overrides": common + overrides,
        "seconds": time.perf_counter() - t,
        "train_seconds": tm.info["seconds"],
        "final_loss": tm.info["final_loss"],
        "bmembed": s.loc["bmembed"].to_dict(),
        "base": s.loc["base"].to_dict(),
        "bm25": s.loc["bm25"].to_dict(),
        "bmembed_minus_base": {
            m: {k: float(vs_base.loc[m, k]) for k in ("diff", "ci_low", "ci_high")}
            for m in vs_base.index
        },
    }


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


def sweep_table() -> list[str]:
    """The sweep's table from bench/results/sweep_demo.json (written by main)."""
    out = []
    sw = OUT
    if sw.is_file():
        r = json.loads(sw.read_text())
        t = r.get("teacher_check", {})
        out += [
            "### Why BMEmbed does not beat Base here: the sweep (`python bench/sweep.py`, demo "
            "corpus)",
            "",
            "| variant (200 steps, warm-up 20) | overrides | BMEmbed MAP@10 | Base MAP@10 | "
            "difference [95% interval] | "
            "BMEmbed Hit@10 | Base Hit@10 |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, v in r["variants"].items():
            d = v["bmembed_minus_base"]["MAP@10"]
            ov = (
                ", ".join(
                    o
                    for o in v["overrides"]
                    if not o.startswith(("training.steps", "training.warmup"))
                )
                or "-"
            )
            out.append(
                f"| {name} | `{ov}` | {v['bmembed']['MAP@10']:.2f} | {v['base']['MAP@10']:.2f} | "
                f"{d['diff']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}] | "
                f"{v['bmembed']['Hit@10']:.2f} | "
                f"{v['base']['Hit@10']:.2f} |"
            )
        out += [
            "",
            "Each variant is one training run (seed 0), its interval over the questions only: the "
            "seeds table (`bench/seeds.py`) shows how far the seed alone moves the setting1 line.",
        ]
        if t:
            out += [
                "",
                f"Teacher check on {t['queries']} synthetic training queries: BM25 ranks the "
                "query's own "
                f"source chunk first for {100 * t['bm25_top1_is_source']:.1f}% of them, the base "
                "encoder for "
                f"{100 * t['base_top1_is_source']:.1f}%. On the held-out questions the order flips "
                "(see the "
                "comparison table): BM25 is the better ranker on its keyword queries, the worse "
                "one on real questions.",
                "",
            ]
            h = t.get("held_out_synthetic")
            if h:
                d1, d10 = h["bmembed - base Hit@1"], h["bmembed - base Hit@10"]
                out += [
                    f"What the student learned: on {h['queries']} held-out synthetic queries (the "
                    "same offline "
                    "generator with another seed, texts seen in training removed; gold = the "
                    "query's source "
                    "chunk), Hit@1 / Hit@10 of BM25 "
                    f"{h['bm25 Hit@1']:.1f} / {h['bm25 Hit@10']:.1f}, base {h['base Hit@1']:.1f} / "
                    f"{h['base Hit@10']:.1f}, BMEmbed {h['bmembed Hit@1']:.1f} / "
                    f"{h['bmembed Hit@10']:.1f}; "
                    f"BMEmbed - base Hit@1 {d1['diff']:+.2f} [{d1['ci_low']:+.2f}, "
                    f"{d1['ci_high']:+.2f}], "
                    f"Hit@10 {d10['diff']:+.2f} [{d10['ci_low']:+.2f}, {d10['ci_high']:+.2f}].",
                    "",
                ]
    return out


if __name__ == "__main__":
    main()
