"""BMEmbed on the paper's own corpus (a Multihop-RAG sentence proxy, see
bench/build_multihop_proxy.py, which reads ../shared/datasets/multihop_rag_bmembed), under both
query protocols, at a ladder of training volumes, with the check's verdict beside each result.

    python bench/proxy.py [--rungs 200x1,200x8,1000x8] [--protocols clean,reference]
                          [--queries doc2query,offline] [--systems ...]

A rung "SxL" trains S optimizer steps of L lists each (batch 1 x gradient accumulation L, the
reference code's way). Every choice is made on the dev split (the exported step is the best
on dev); the tables report the test split. Results are appended to bench/results/proxy.json
after every run, so a killed ladder loses nothing; every stage is cached under
bench/.work/multihop_proxy/cache, so a rerun only computes what is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "results" / "proxy.json"
WORK = ROOT / "bench" / ".work" / "multihop_proxy"
SYSTEMS = ["bm25", "base", "rrf", "bmembed", "rrf+bmembed"]


def config(protocol: str, steps: int, lists: int, queries: str):
    from bmembed_lab.config import load_config

    sets = [f"training.steps={steps}", f"training.grad_accum={lists}",
            f"training.warmup_steps={max(1, steps // 10)}"]
    if queries == "offline":
        sets += ["queries.backend=offline"]
    return load_config(WORK / f"{protocol}.toml", sets)


def measure(protocol: str, rung: str, queries: str, systems: list[str]) -> dict:
    from bmembed_lab.check import run_check
    from bmembed_lab.pipeline import Pipeline

    steps, lists = (int(x) for x in rung.split("x"))
    pipe = Pipeline(config(protocol, steps, lists, queries))
    t0 = time.perf_counter()
    check = run_check(pipe)
    res = pipe.evaluate(systems)
    out = {
        "protocol": protocol,
        "rung": rung,
        "queries": queries,
        "counts": pipe.report(),
        "verdict": check["verdict"],
        "check": check,
        "summary": res["summary"].reset_index().to_dict(orient="records"),
        "comparisons": res["comparisons"].to_dict(orient="records"),
        "notes": res["notes"],
        "training": {
            m: pipe.trained(m)[0].info.get("selection")
            for m in ("bmembed", "cl", "mnrl")
            if m in systems
        },
        "seconds": time.perf_counter() - t0,
    }
    if protocol == "reference":  # each adapted model against the clean base
        from benchutil import against_clean_base

        clean = Pipeline(config("clean", steps, lists, queries), pipe.cache)
        for m in ("bmembed", "cl", "mnrl"):
            if m in systems:
                out[f"{m} (reference) - base (clean)"] = against_clean_base(pipe, clean, m)
    return out


def render(results: list[dict]) -> str:
    """Markdown tables of the ladder: per run the systems' test scores, BMEmbed against base
    (and, under the reference protocol, against the clean base) with intervals, the dev
    selection and the check's verdict."""
    from benchutil import interval as iv

    out = [
        "### BMEmbed on the Multihop-RAG sentence proxy (`python bench/proxy.py`)",
        "",
        "Corpus: the unique sentences of all evaluation facts and the paper's doc2query evidence; "
        "test = the questions outside the 20% dev split; every run exports its best dev step.",
        "",
        "| queries | lists (steps x lists) | protocol | BM25 Hit@10 | base Hit@10 | BMEmbed Hit@10 "
        "| "
        "BMEmbed - base, MAP@10 [95%] | BMEmbed (ref.) - base (clean), MAP@10 | best dev step "
        "(its dev gain over step 0, MAP@10) | cl / mnrl - base, MAP@10 | check verdict |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = {x["system"]: x for x in r["summary"]}
        c = {(x["comparison"], x["metric"]): x for x in r["comparisons"]}
        d = c.get(("bmembed - base", "MAP@10"))
        vs_clean = next((x for x in r.get("bmembed (reference) - base (clean)", [])
                         if x["metric"] == "MAP@10"), None)
        sel = (r.get("training") or {}).get("bmembed") or {}

        g = sel.get("gain over base")
        gain = f" ({g['diff']:+.2f} [{g['low']:+.2f}, {g['high']:+.2f}])" if g else ""
        others = " / ".join(iv(c.get((f"{m} - base", "MAP@10"))) for m in ("cl", "mnrl")
                            if (f"{m} - base", "MAP@10") in c) or "-"
        vs = [
            next(
                (
                    x
                    for x in r.get(f"{m} (reference) - base (clean)", [])
                    if x["metric"] == "MAP@10"
                ),
                None,
            )
            for m in ("cl", "mnrl")
        ]
        if all(vs):
            others += f"; against the clean base {iv(vs[0])} / {iv(vs[1])}"
        out.append(
            f"| {r['queries']} | {r['rung']} | {r['protocol']} | {s['bm25']['Hit@10']:.1f} | "
            f"{s['base']['Hit@10']:.1f} | {s.get('bmembed', {}).get('Hit@10', float('nan')):.1f} | "
            f"{iv(d)} | {iv(vs_clean)} | {sel.get('best_step', '-')} of "
            f"{sel.get('curve', [{}])[-1].get('step', '-') if sel.get('curve') else '-'}"
            f"{stopped(sel, r['rung'])}{gain} | "
            f"{others} | {r['verdict']} |"
        )
    return "\n".join(out)


def stopped(sel: dict, rung: str) -> str:
    """' (stopped early; N planned)' when the run's last dev evaluation came before its last
    step."""
    planned = int(rung.split("x")[0])
    last = sel.get("curve", [{}])[-1].get("step") if sel.get("curve") else None
    return f" (stopped early; {planned} planned)" if last is not None and last < planned else ""


def write_readme(results: list[dict]) -> None:
    from benchutil import write_block

    write_block(ROOT / "bench" / "README.md", "proxy", render(results))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rungs", default="200x1,200x8,1000x8")
    ap.add_argument("--protocols", default="clean,reference")
    ap.add_argument("--queries", default="doc2query")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--render", action="store_true", help="only redraw the README table from "
                    "bench/results/proxy.json")
    a = ap.parse_args()
    if a.render:
        write_readme(json.loads(OUT.read_text()))
        return
    if not (WORK / "clean.toml").is_file():
        from build_multihop_proxy import build

        print(build(ROOT.parent / "shared" / "datasets" / "multihop_rag_bmembed", WORK))
    results = json.loads(OUT.read_text()) if OUT.is_file() else []
    for queries in a.queries.split(","):
        for rung in a.rungs.split(","):
            for protocol in a.protocols.split(","):
                r = measure(protocol, rung, queries, a.systems.split(","))
                results = [x for x in results if (x["protocol"], x["rung"], x["queries"]) !=
                           (protocol, rung, queries)] + [r]
                OUT.write_text(json.dumps(results, indent=1, default=str))
                write_readme(results)
                print(f"{queries} {rung} {protocol}: verdict {r['verdict']}, "
                      f"{len(r['comparisons'])} comparisons, {r['seconds']:.0f} s", flush=True)


if __name__ == "__main__":
    main()
