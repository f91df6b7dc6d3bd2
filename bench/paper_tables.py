"""The paper's Table 2/6 (every system, paired-bootstrap comparisons) and Table 5 (keyword
masking / synonym substitution) on the demo and FinanceBench (``python bench/run_bench.py
compare`` / ``perturb``), and their tables for bench/README.md."""

from __future__ import annotations

import json
import time

import numpy as np

from benchutil import RESULTS, ROOT, machine, summary_markdown
from financebench import financebench_config, financebench_inputs

COMPARE_SYSTEMS = [
    "bm25",
    "base",
    "cl",
    "mnrl",
    "bmembed",
    "rrf",
    "rrf+bmembed",
    "base@128",
    "mnrl@128",
]
TEXTS_PER_STEP = {"bmembed": 10, "cl": 32, "mnrl": 48}  # 1 query + 9 passages; 16 x (q, p[, n])


def compare_one(cfg, label: str) -> dict:
    """The paper's Table 2/6 layout on one corpus: every system, bootstrap comparisons.
    Each trained method gets the config's steps scaled to the same number of encoded texts as
    BMEmbed's (CL and MNRL encode 32 / 48 texts per step at batch 16, BMEmbed 10), and MNRL is
    trained with a Matryoshka loss over 384/256/128/64 dimensions."""
    from dataclasses import replace

    import pandas as pd

    from bmembed_lab.evaluation import compare_systems, parse_system, per_query_table, summary_table
    from bmembed_lab.pipeline import Pipeline

    steps = cfg.training.steps
    pipes = {}
    for method in ("bmembed", "cl", "mnrl"):
        c = replace(cfg, training=replace(cfg.training, steps=max(1, round(
            steps * TEXTS_PER_STEP["bmembed"] / TEXTS_PER_STEP[method]))))
        if method == "mnrl":
            c = replace(c, training=replace(c.training, matryoshka_dims=[384, 256, 128, 64]))
        pipes[method] = Pipeline(c)
    main = pipes["bmembed"]
    rel, _ = main.relevance()
    t0 = time.perf_counter()
    tables = []
    for s in COMPARE_SYSTEMS:
        owner = next((m for m in ("mnrl", "cl") if parse_system(s).encoder == m), "bmembed")
        run, _ = pipes[owner].run(s)
        tables.append(per_query_table(run, rel, (1, 4, 10)))
        print(f"{label}: {s} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    pq = pd.concat(tables, ignore_index=True)
    pairs = [("bmembed", "base"), ("bmembed", "bm25"), ("bmembed", "cl"), ("bmembed", "mnrl"),
             ("rrf+bmembed", "rrf"), ("cl", "base"), ("mnrl", "base"), ("mnrl@128", "base@128")]
    n_boot, seed = cfg.eval.bootstrap, cfg.eval.seed
    cmp = pd.concat(
        [compare_systems(pq, a, b, n_boot=n_boot, seed=seed) for a, b in pairs], ignore_index=True
    )
    trained = {m: pipes[m].trained(m)[0].info for m in ("bmembed", "cl", "mnrl")}
    runs = {s: main.run(s)[0] for s in ("bm25", "base", "bmembed")}
    out_teacher = teacher_effect(pq, runs)
    return {
        "counts": main.report(),
        "training": {
            m: {
                "steps": i["steps"],
                "seconds": i["seconds"],
                "final_loss": i["final_loss"],
                "batch_size": i["hyperparameters"]["batch_size"],
                "lr": i["hyperparameters"]["lr"],
            }
            for m, i in trained.items()
        },
        "queries": main.synthetic_queries()[0].counts,
        "lists": main.training_lists()[0].counts,
        "mined": pipes["mnrl"].mined_negatives()[0].counts,
        "summary": summary_table(pq).reset_index().to_dict(orient="records"),
        "comparisons": cmp.to_dict(orient="records"),
        "teacher": out_teacher,
        "seconds": time.perf_counter() - t0,
    }


def teacher_effect(pq, runs: dict) -> dict:
    """Did BMEmbed move the encoder towards its teacher? Mean top-10 overlap (Jaccard) with BM25
    for base and for bmembed, and the questions BMEmbed fixed / broke against base (Hit@10)
    split by whether BM25 itself finds a gold chunk in its top 10."""
    from bmembed_lab.workbench import win_loss

    def overlap(a, b) -> float:
        rows = [
            len(set(a.ranked(i)[:10]) & set(b.ranked(i)[:10]))
            / max(1, len(set(a.ranked(i)[:10]) | set(b.ranked(i)[:10])))
            for i in range(len(a.query_ids))
        ]
        return float(np.mean(rows))

    wl = win_loss(pq, "bmembed", "base", "Hit@10")
    bm = pq[pq.system == "bm25"].set_index("query_id")["Hit@10"]
    wl["bm25 hit"] = wl.query_id.map(bm) > 0
    split = {st: {"bm25 hit": int((g["bm25 hit"]).sum()), "bm25 miss": int((~g["bm25 hit"]).sum())}
             for st, g in wl.groupby("status")}
    return {"top10_jaccard_with_bm25": {"base": overlap(runs["base"], runs["bm25"]),
                                         "bmembed": overlap(runs["bmembed"], runs["bm25"])},
            "bmembed_vs_base_hit10": split}


def perturb_one(cfg, label: str) -> dict:
    """The paper's Table 5 on one corpus: BM25, Base, BMEmbed and RRF+BMEmbed on original,
    masked and substituted questions (offline keywords, WordNet substitutes)."""
    from bmembed_lab.pipeline import Pipeline

    pipe = Pipeline(cfg)
    t0 = time.perf_counter()
    res = pipe.perturbation_study(["bm25", "base", "bmembed", "rrf+bmembed"],
                                  progress=lambda d, n: print(f"{label}: {d}/{n} runs", flush=True))
    pset, _ = pipe.perturbations()
    examples = [
        {
            "original": q.text,
            "keywords": q.keywords,
            "masked": q.masked,
            "substituted": q.substituted,
        }
        for q in pset.queries[:: max(1, len(pset.queries) // 6)][:6]
    ]
    return {"counts": res["counts"], "study": res["study"].to_dict(orient="records"),
            "reading": res["reading"], "examples": examples,
            "stage_seconds": pipe.timings, "seconds": time.perf_counter() - t0}


def bench_perturb(which: list[str], max_docs: int = 0) -> dict:
    from bmembed_lab.config import load_config

    path = RESULTS / "perturbation.json"
    out = json.loads(path.read_text()) if path.is_file() else {}
    demo = load_config(ROOT / "configs" / "demo.toml")
    out["machine"] = machine()
    if "demo" in which:
        out["demo"] = perturb_one(demo, "demo")
        path.write_text(json.dumps(out, indent=1, default=str))
    if "financebench" in which:
        folder, qp, ep, info = financebench_inputs(max_docs)
        cfg = financebench_config(
            folder,
            qp,
            ep,
            "page",
            [
                f"training.steps={demo.training.steps}",
                f"training.warmup_steps={demo.training.warmup_steps}",
            ],
        )
        out["financebench"] = {"inputs": info, **perturb_one(cfg, "financebench")}
        path.write_text(json.dumps(out, indent=1, default=str))
    return out


def bench_compare(which: list[str], max_docs: int = 0) -> dict:
    from bmembed_lab.config import load_config

    out = (
        json.loads((RESULTS / "compare.json").read_text())
        if (RESULTS / "compare.json").is_file()
        else {}
    )
    demo = load_config(ROOT / "configs" / "demo.toml")
    if "demo" in which:
        out["demo"] = compare_one(demo, "demo")
        (RESULTS / "compare.json").write_text(json.dumps(out, indent=1, default=str))
    if "financebench" in which:
        folder, qp, ep, info = financebench_inputs(max_docs)
        cfg = financebench_config(
            folder,
            qp,
            ep,
            "page",
            [
                f"training.steps={demo.training.steps}",
                f"training.warmup_steps={demo.training.warmup_steps}",
            ],
        )
        out["financebench"] = {"inputs": info, **compare_one(cfg, "financebench")}
        (RESULTS / "compare.json").write_text(json.dumps(out, indent=1, default=str))
    return out


def compare_tables() -> list[str]:
    """The comparison tables from bench/results/compare.json."""
    out = []
    cp = RESULTS / "compare.json"
    if cp.is_file():
        for corpus, r in json.loads(cp.read_text()).items():
            c = r["counts"]
            out += [
                f"### Comparison table ({corpus}: {c['chunks']:,} chunks, {c['evaluated queries']} "
                "questions; "
                "the paper's Table 2/6 layout)",
                "",
            ]
            out += summary_markdown(r["summary"])
            out += [
                "",
                "Paired bootstrap (10,000 resamples), difference in points [95% interval]:",
                "",
                "| comparison | Hit@1 | Hit@4 | Hit@10 | MAP@10 | nDCG@10 |",
                "|---|---|---|---|---|---|",
            ]
            by = {}
            for x in r["comparisons"]:
                by.setdefault(x["comparison"], {})[x["metric"]] = x
            for name, ms in by.items():
                out.append(f"| {name} | " + " | ".join(
                    f"{ms[m]['diff']:+.2f} [{ms[m]['ci_low']:+.2f}, {ms[m]['ci_high']:+.2f}]"
                    for m in ("Hit@1", "Hit@4", "Hit@10", "MAP@10", "nDCG@10")) + " |")
            te = r.get("teacher")
            if te:
                j = te["top10_jaccard_with_bm25"]
                sp = te["bmembed_vs_base_hit10"]
                out += [
                    "",
                    "Teacher effect: top-10 overlap (Jaccard) with BM25 rises from "
                    f"{j['base']:.3f} (base) to "
                    f"{j['bmembed']:.3f} (bmembed). Against base on Hit@10, bmembed fixed "
                    f"{sum(sp.get('fixed', {}).values())} questions "
                    f"({sp.get('fixed', {}).get('bm25 hit', 0)} of them "
                    f"found by BM25) and broke {sum(sp.get('broke', {}).values())} "
                    f"({sp.get('broke', {}).get('bm25 miss', 0)} of them missed by BM25).",
                ]
            tr = r["training"]
            out += [
                "",
                "Training (compute-matched: every method encodes about the same number of texts): "
                + "; ".join(
                    f"{m} {t['steps']} steps x batch {t['batch_size']}, lr {t['lr']:g}, "
                    f"{t['seconds'] / 60:.1f} min"
                    for m, t in tr.items()
                )
                + f". Offline keyphrase queries: {r['queries'].get('kept')} kept; MNRL pairs with "
                  "a mined "
                f"hard negative: {r['mined'].get('pairs')}. MNRL uses a Matryoshka loss "
                "(384/256/128/64); "
                f"`@128` rows keep the first 128 dimensions. Wall time {r['seconds'] / 60:.1f} "
                "min.",
                "",
            ]
    return out


def perturbation_tables() -> list[str]:
    """The lexical-sensitivity tables from bench/results/perturbation.json."""
    out = []
    pp = RESULTS / "perturbation.json"
    if pp.is_file():
        import pandas as pd

        from bmembed_lab.perturbation import reading, table5

        for corpus, r in json.loads(pp.read_text()).items():
            if corpus == "machine":
                continue
            c = r["counts"]
            out += [
                f"### Lexical sensitivity ({corpus}: {c['queries']} questions; the paper's Table 5 "
                "layout)",
                "",
                "Original -> perturbed value on the same questions, in percent, then the change in "
                "points [paired-bootstrap 95% interval]; negative = worse. Offline keywords (words "
                "a question shares with its "
                "gold chunks, by BM25 idf, at most 5), WordNet substitutes.",
                "",
            ]
            t = table5(pd.DataFrame(r["study"]))
            out += ["| " + " | ".join(t.columns) + " |", "|" + "---|" * len(t.columns)]
            out += ["| " + " | ".join(map(str, row)) + " |" for row in t.itertuples(index=False)]
            out += ["", "Counts: " + ", ".join(f"{k} {v}" for k, v in c.items()) + ".", "",
                    "What the numbers say (computed by `perturbation.reading`):", ""]
            out += [f"- {line}" for line in reading(pd.DataFrame(r["study"]))]  # today's wording
            out += ["", "Examples:", ""] + [
                f"- {e['original']!r} -> masked "
                + (repr(e["masked"]) if e["masked"] else "(none: no keyword)")
                + " -> substituted "
                + (repr(e["substituted"]) if e["substituted"] else "(none: no substitute kept)")
                for e in r["examples"]
            ]
            out += [
                "",
                f"Wall time {r['seconds'] / 60:.1f} min (trained models and chunk embeddings from "
                "the "
                "stage cache where present).",
                "",
            ]
    return out
