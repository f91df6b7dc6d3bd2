"""The measurements behind bench/claims.md: per corpus, per seed and per recipe variant, every
system's per-question scores on the test questions and on the held-out keyword-style queries,
the keyword masking / synonym substitution study per question, and the alignment / uniformity
of each trained encoder against the base one. bench/claims.py turns them into verdicts.

    python bench/claims_run.py [--corpus demo|financebench|legal|multihop proxy]
                               [--seeds 0,1,2] [--systems bmembed,cl,mnrl] [--variant NAME]

Corpora: :data:`CORPORA` (the demo is in the repository; FinanceBench and the LegalBench-RAG
sample are read by bench/check_validation.py from ``../shared/datasets``, and the Multihop-RAG
proxy is built by bench/build_multihop_proxy.py into bench/.work), all under the clean
protocol. A variant is the default recipe with a few overrides (:data:`VARIANTS`: the paper's
ablations and ours); it trains bmembed only.
Each (corpus, variant, seed) is one record in bench/results/claims_runs.json, rewritten after
every system, so a killed run loses at most one system; every stage is cached, so a rerun costs
nothing and seed 0 of the demo reuses `make demo`'s run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
OUT = ROOT / "bench" / "results" / "claims_runs.json"
METRICS = ("MAP@10", "Hit@10")
FIXED = ("bm25", "base", "rrf")  # seed-independent systems, scored beside every trained one
CORPORA = {  # name -> its config file, or "" where bench/check_validation.py builds it
    "demo": "",
    "financebench": "",
    "legal": "",
    "multihop proxy": "bench/.work/multihop_proxy/clean.toml",
}
VARIANTS = {  # the paper's ablations and ours: name -> overrides of the default recipe
    "default": [],
    "uniform": ["sampling.strategy=uniform"],
    "inv-alpha-0.1": ["training.alpha=10"],  # 1/alpha = 0.1 (the default 2: 1/alpha = 0.5)
    "anchor-1": ["training.anchor=1.0"],
    "bmembed+mnrl": ["training.contrastive=1.0"],
    "query-side": ["training.query_side=true"],
    "hybrid": ["training.teacher=hybrid"],
}
UNTRIED = {  # variants the paper did not try (bench/claims.md's second table): name -> what
    "anchor-1": "anchored student (training.anchor = 1: KL to the base model's list distribution)",
    "bmembed+mnrl": "BMEmbed + MNRL (training.contrastive = 1: the lists' top item as positive)",
    "query-side": "query-side student (training.query_side: the index is the base model's, "
                  "only queries adapt)",
    "hybrid": "hybrid teacher (training.teacher = hybrid: BM25's scores in the order of BM25 "
              "fused with the base encoder)",
}


def per_query(table, metrics=METRICS) -> dict:
    """{system: {query id: [metric values]}} of a per-query table."""
    out: dict = {}
    for row in table[["system", "query_id", *metrics]].itertuples(index=False):
        out.setdefault(row[0], {})[row[1]] = [float(x) for x in row[2:]]
    return out


def measure(pipe, system: str, record: dict) -> None:
    """Add ``system`` (a trained method, with rrf+ it where it is bmembed) to ``record``."""
    from bmembed_lab import methods

    systems = [*FIXED, system] + (["rrf+" + system] if system == methods.DEFAULT else [])
    res = pipe.evaluate(systems)
    for name, rows in per_query(res["per_query"]).items():
        record["questions"].setdefault(name, rows)
    if pipe.cfg.eval.heldout_queries:
        held = pipe.evaluate(["bm25", "base", system], "heldout")
        for name, rows in per_query(held["per_query"]).items():
            record["keyword"].setdefault(name, rows)
    study = pipe.perturbation_study(["bm25", "base", system])["per_query"]
    for variant, part in study.groupby("variant"):
        for name, rows in per_query(part, ("Hit@10",)).items():
            record["perturbation"].setdefault(name, {})[str(variant)] = rows
    for name in ("base", system):
        g = pipe.alignment_uniformity(name)
        record["geometry"][name] = {k: g[k] for k in ("alignment", "alignment_norm",
                                                      "uniformity_abs", "pairs")}
    info = pipe.trained(system)[0].info
    sel = info.get("selection") or {}
    record["training"][system] = {"steps": info["steps"], "best_step": sel.get("best_step"),
                                  "batch": info["hyperparameters"]["batch_size"],
                                  "seconds": info["seconds"], "name": info["name"]}


def say_estimate(pipe, systems: list[str], seed: int) -> None:
    """Print the training still to do for this seed, from seconds per text measured here."""
    from bmembed_lab import auto

    todo = [s for s in systems if s not in pipe.cached_models()]
    est = [auto.estimate_seconds(pipe, s) for s in todo]
    if not todo:
        print(f"seed {seed}: every model cached, evaluation only", flush=True)
    elif None in est:
        print(f"seed {seed}: training {', '.join(todo)} (no run timed here yet: no estimate)",
              flush=True)
    else:
        print(f"seed {seed}: training {', '.join(todo)}, about {sum(est) / 60:.0f} min (dev "
              "evaluations and the evaluation on top)", flush=True)


def pipeline(corpus: str, variant: str, seed: int):
    """The pipeline of one record: the corpus's config (clean protocol), the variant's
    overrides and the seed (of training and of sampling)."""
    from check_validation import config as corpus_config

    from bmembed_lab.config import load_config
    from bmembed_lab.pipeline import Pipeline

    config = CORPORA[corpus]
    overrides = VARIANTS[variant] + [f"training.seed={seed}", f"sampling.seed={seed}"]
    return Pipeline(load_config(ROOT / config, overrides) if config else
                    corpus_config(corpus, "clean", overrides)), overrides


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="demo", choices=sorted(CORPORA))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--systems", default="bmembed,cl,mnrl")
    ap.add_argument("--variant", default="default", choices=sorted(VARIANTS))
    a = ap.parse_args()
    config = CORPORA[a.corpus]
    if config and not (ROOT / config).is_file():
        sys.exit(f"{config} is missing: build it with its bench script first (bench/README.md)")
    rows = json.loads(OUT.read_text()) if OUT.is_file() else []
    systems = a.systems.split(",") if a.variant == "default" else ["bmembed"]
    for seed in [int(s) for s in a.seeds.split(",")]:
        pipe, overrides = pipeline(a.corpus, a.variant, seed)
        t = pipe.cfg.training
        key = {"corpus": a.corpus, "variant": a.variant, "seed": seed}
        record = next((r for r in rows if {k: r[k] for k in key} == key), None)
        if record is None:
            record = key | {"config": config or "bench/check_validation.py",
                            "overrides": overrides, "questions": {}, "keyword": {},
                            "perturbation": {}, "geometry": {}, "training": {}}
            rows.append(record)
        say_estimate(pipe, systems, seed)
        record |= {"protocol": pipe.cfg.encoder.protocol,
                   "rung": f"{t.steps} steps x {t.batch_size * t.grad_accum} list(s)"}
        for system in systems:
            t0 = time.perf_counter()
            measure(pipe, system, record)
            record.setdefault("seconds", {})[system] = time.perf_counter() - t0
            OUT.write_text(json.dumps(rows))
            print(f"{a.corpus} {a.variant} seed {seed}: {system} done "
                  f"({record['seconds'][system]:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
