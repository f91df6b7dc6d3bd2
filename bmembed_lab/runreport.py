"""What `bmembed-lab run` prints (and writes with --json): the training data's counts, the
test table with its paired comparisons, the held-out keyword-style queries, the notes on the
exported models and both regimes side by side (paper Section 4's tables, plus ours); and what
`bmembed-lab diagnose` prints (Section 5's alignment and uniformity, with their reading)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .evaluation import format_comparisons, format_table, parse_system, regime_lines
from .safeio import atomic_write_text
from .tokenizers import language_note


def _fmt_counts(c: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in c.items())


def run_report(pipe, json_path: Path | None = None) -> int:
    """Run every stage the config names and print the report; 0 on success."""
    cfg = pipe.cfg
    t0 = time.perf_counter()
    note = language_note([c.text for c in pipe.chunks()[0]], cfg.bm25.tokenizer)
    if note:
        print(f"NOTE {note}\n")
    qs, _ = pipe.synthetic_queries()
    lists, _ = pipe.training_lists()
    labelled = pipe.labelled()
    trained = [s for s in cfg.eval.systems if parse_system(s).trained_dense]
    res = pipe.evaluate() if labelled else None
    counts = pipe.report() if labelled else {"documents": len(pipe.dataset()[0].documents),
                                             "chunks": len(pipe.chunks()[0])}
    print(f"\ntraining queries ({cfg.queries.backend}): " + _fmt_counts(qs.counts))
    print(f"training lists ({cfg.sampling.strategy}, k={cfg.sampling.k}, m={cfg.sampling.m}): "
          + _fmt_counts(lists.counts))
    print(f"\ncorpus: {cfg.resolve(cfg.corpus.path)}")
    print("  " + ", ".join(f"{k}: {v}" for k, v in counts.items()))
    if res is not None:
        print(f"\nRetrieval on the {res['questions']} questions, protocol {res['protocol']}, "
              f"{res['level']} (percent; the columns are explained below the table):")
        print(format_table(res["summary"], explain=True))
        if res["metric note"]:
            print(res["metric note"])
        if not res["comparisons"].empty:
            print("\nPaired bootstrap, difference in points [95% interval], p-value:")
            print("\n".join(format_comparisons(res["comparisons"])))
    else:
        print(
            "\nNo labelled questions (corpus.queries with qrels or evidence): there is no test "
            "table. The held-out synthetic queries below measure how well each model agrees "
            "with BM25, the teacher, not retrieval quality; give labelled questions to measure "
            "that."
        )
    held = None
    if cfg.eval.heldout_queries and (trained or not labelled):
        held = pipe.evaluate(["bm25", "base"] + trained, "heldout")
        print(f"\nHeld-out keyword-style queries (the training generator's kind, never trained on; "
              f"gold = the passage each was made from; {cfg.eval.heldout_queries} at most):")
        print(format_table(held["summary"]))
        if res is None and not held["comparisons"].empty:
            print("\nPaired bootstrap, difference in points [95% interval], p-value:")
            print("\n".join(format_comparisons(held["comparisons"])))
    for line in (res or held or {}).get("notes", []):
        print(f"\nNOTE {line}")
    if held is not None and res is not None and trained:
        print("\nBoth regimes, Hit@10 in points [95% interval] (BMEmbed learns BM25's strengths: "
              "it should gain where BM25 leads and may lose where the base encoder leads):")
        print("\n".join(regime_lines({"real questions": res, "keyword-style queries": held},
                                      trained[0])))
    total = time.perf_counter() - t0
    print("\nstage times (s): " + ", ".join(f"{k} {v:.1f}" for k, v in pipe.timings.items())
          + f"; total {total:.1f}")
    if json_path:
        def tables(r):
            return None if r is None else {
                "summary": r["summary"].reset_index().to_dict(orient="records"),
                "comparisons": r["comparisons"].to_dict(orient="records")}
        json_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(json_path, json.dumps({
            "config": cfg.to_dict(), "counts": counts,
            "queries": qs.counts, "lists": lists.counts, **(tables(res) or {}),
            "protocol": cfg.encoder.protocol, "notes": (res or held or {}).get("notes", []),
            "heldout": tables(held), "stage_seconds": pipe.timings, "total_seconds": total},
            indent=1, default=str))
    return 0


def diagnose_report(pipe, with_map: bool = True) -> int:
    """Alignment, uniformity and their reading for base and every trained model (paper
    Section 5), and the joint UMAP map: what notebooks 05 and 06 show, printed and cached; and
    `check`'s verdict, which notebook 00 shows."""
    from .check import verdict_line
    from .diagnostics import gains_over_base, reading
    from .embedmap import MapParams

    from .evaluation import systems_for

    systems = systems_for(pipe.cached_models(), "dense")  # what notebooks 05 and 06 read
    rows = [pipe.alignment_uniformity(s) for s in systems]
    print("system      alignment  alignment_norm  |uniformity|  pairs")
    for r in rows:
        print(f"{r['system']:<11} {r['alignment']:9.4f}  {r['alignment_norm']:14.4f}  "
              f"{r['uniformity_abs']:12.4f}  {r['pairs']}")
    gains = gains_over_base(pipe.evaluate(systems)["comparisons"])
    for line in reading(rows, gains):
        print("\n" + line.replace("**", ""))
    if with_map and len(systems) > 1:
        coords = pipe.embedding_map(("base", systems[1]), MapParams())
        print(
            f"\nembedding map: base and {systems[1]}, {len(coords)} points (cached for notebook 06)"
        )
    print(f"\ncheck, before training (`bmembed-lab check`; cached for notebook 00): "
          f"{verdict_line(pipe.check())}")
    return 0
