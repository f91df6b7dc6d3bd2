"""The subcommands of ``bmembed-lab``, one function each: ``cmd_<name>(cfg, args)`` runs a
stage (or the whole chain) through :class:`~bmembed_lab.pipeline.Pipeline` and prints its
result; :data:`COMMANDS` maps the subcommand names of :mod:`bmembed_lab.cli` to them. Return
value: the exit code.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from . import methods
from .config import Config, explain
from .safeio import atomic_output, atomic_write_text


def _pipeline(cfg: Config):
    from .pipeline import Pipeline

    return Pipeline(cfg)


def cmd_run(cfg: Config, args) -> int:
    from .runreport import run_report

    return run_report(_pipeline(cfg), args.json)


def cmd_init(args) -> int:
    from .initconfig import init

    for line in init(args.path, args.out, args.force):
        print(line)
    return 0


def cmd_ingest(cfg: Config, args) -> int:
    pipe = _pipeline(cfg)
    ds, key = pipe.dataset()
    print(json.dumps({"cache_key": key, "documents": len(ds.documents), "queries": len(ds.queries),
                      "queries with doc qrels": len(ds.qrels), "evidence items": len(ds.evidence),
                      "skipped": ds.skipped}, indent=1))
    return 0


def cmd_chunk(cfg: Config, args) -> int:
    import numpy as np

    pipe = _pipeline(cfg)
    chunks, key = pipe.chunks()
    n = np.array([c.n_tokens for c in chunks])
    print(json.dumps({"cache_key": key, "chunks": len(chunks),
                      "tokens": {"min": int(n.min()), "median": float(np.median(n)),
                                 "max": int(n.max()), "limit": cfg.chunking.chunk_tokens},
                      "over the limit (single long sentences split on tokens never are)":
                          int((n > cfg.chunking.chunk_tokens).sum())}, indent=1))
    return 0


def cmd_queries(cfg: Config, args) -> int:
    from dataclasses import asdict

    pipe = _pipeline(cfg)
    if args.dry_run:
        from .querygen import dry_run

        if cfg.queries.backend != "llm":
            print(f"queries.backend = {cfg.queries.backend}: nothing would be sent to an LLM")
            return 0
        ds, _ = pipe.dataset()
        print(json.dumps(dry_run(ds.documents, cfg.queries, cfg.llm), indent=1))
        return 0
    qs, key = pipe.synthetic_queries()
    print(json.dumps({"queries_key": key, **qs.counts}, indent=1))
    if qs.leakage:
        print(f"{len(qs.leakage)} queries near-duplicate an evaluation query "
              f"({'dropped' if cfg.queries.leakage == 'drop' else 'kept, flagged'}), e.g.:")
        for r in qs.leakage[:3]:
            print(f"  {r['text']!r} ~ {r['eval_text']!r} (Jaccard {r['jaccard']})")
    for q in qs.queries[: args.show]:
        print(f"  [{q.doc_id}] {q.text}")
    if args.out:
        from .safeio import write_jsonl

        write_jsonl(args.out, (asdict(q) for q in qs.queries))
        print(f"queries: {args.out}")
    if args.report:
        atomic_write_text(args.report, json.dumps(
            {k: v for k, v in qs.to_json().items() if k != "queries"}, indent=1))
        print(f"report: {args.report}")
    return 0


def cmd_lists(cfg: Config, args) -> int:
    pipe = _pipeline(cfg)
    lists, key = pipe.training_lists()
    chunks, _ = pipe.chunks()
    print(json.dumps({"cache_key": key, **lists.counts}, indent=1))
    df = lists.frame()
    for i in range(min(args.show, len(lists))):
        print(
            f"\nlist {i}: {lists.query_texts[i]!r} (rank 1 = BM25's first; files keep 0-based "
            "ranks)"
        )
        for _, r in df[df["list"] == i].iterrows():
            text = " ".join(chunks[r.chunk_index].text.split())
            print(f"  rank {r['rank'] + 1:>4}  bm25 {r.bm25:7.2f}  {r.chunk_id:<24} {text[:70]}")
    if args.out and args.out.suffix == ".jsonl":  # one list per line: query / pos / neg
        from .safeio import write_jsonl

        write_jsonl(args.out, lists.records([c.text for c in chunks]))
        print(f"lists: {args.out} (query, pos, neg and their BM25 scores per line)")
    elif args.out:
        with atomic_output(args.out) as tmp:
            if args.out.suffix == ".parquet":
                df.to_parquet(tmp, index=False)
            else:
                df.to_csv(tmp, index=False)
        print(f"lists: {args.out}")
    return 0


def _cwd_folder(system: str) -> str:
    """A label=folder system typed on the command line: the folder relative to the current
    directory (in a config file it is relative to the config, like every path there)."""
    label, eq, folder = system.partition("=")
    return f"{label}={Path(folder).expanduser().resolve()}" if eq and folder else system


def cmd_evaluate(cfg: Config, args) -> int:
    from .evaluation import format_comparisons, format_table

    pipe = _pipeline(cfg)
    systems = [_cwd_folder(s) for s in args.systems] if args.systems else None
    res = pipe.evaluate(systems)
    print(f"Retrieval on the {res['questions']} questions, protocol {res['protocol']}, "
          f"{res['level']} (percent; the columns are explained below the table):")
    print(format_table(res["summary"], explain=True))
    if not res["comparisons"].empty:
        print("\nPaired bootstrap, difference in points [95% interval], p-value:")
        print("\n".join(format_comparisons(res["comparisons"])))
    for line in res["notes"]:
        print(f"\nNOTE {line}")
    if cfg.training.method == methods.AUTO:  # what auto chose among the runs trained so far
        from . import auto

        print("\n" + "\n".join(auto.run(pipe, train=False)[0].lines()))
    return _per_query(res, args.per_query)


def _per_query(res: dict, path) -> int:
    """Write ``res``'s per-query table as CSV where ``--per-query`` asks for it."""
    if path:
        with atomic_output(path) as tmp:
            res["per_query"].to_csv(tmp, index=False)
        print(f"per-query table: {path}")
    return 0


def cmd_perturb(cfg: Config, args) -> int:
    from dataclasses import asdict

    pipe = _pipeline(cfg)
    pset, key = pipe.perturbations()
    print(json.dumps({"cache_key": key, **pset.counts}, indent=1))
    for q in [x for x in pset.queries if x.keywords][: args.show]:
        print(
            f"\n  original:    {q.text}\n  keywords:    {', '.join(q.keywords)}\n"
            f"  masked:      {q.masked}\n  substituted: {q.substituted or '(no substitute kept)'}"
        )
    res = pipe.perturbation_study(args.systems)
    print("\nValue in percent (change from original in points [95% bootstrap interval]):")
    print(res["table"].to_string(index=False))
    print("\n" + "\n".join(f"- {line}" for line in res["reading"]))
    if args.out:
        from .safeio import write_jsonl

        write_jsonl(args.out, (asdict(q) for q in pset.queries))
        print(f"perturbed questions: {args.out}")
    return _per_query(res, args.per_query)


def cmd_train(cfg: Config, args) -> int:
    from .multiproc import train_command

    method = args.method or cfg.training.method
    if method == methods.AUTO:
        from . import auto

        decision, tm = auto.run(_pipeline(cfg))
        print("\n".join(decision.lines()))
        print(f"export: {tm.path} (merged model: {tm.merged}; model card: "
              f"{tm.path / 'README.md'})" if tm is not None else
              "export: none (the base model is the answer)")
        return 0
    print("\n".join(train_command(cfg, method, _pipeline)))
    return 0


def cmd_encode(cfg: Config, args) -> int:
    from .multiproc import encode_command

    print("\n".join(encode_command(cfg, args.models, _pipeline)))
    return 0


def cmd_diagnose(cfg: Config, args) -> int:
    from .runreport import diagnose_report

    return diagnose_report(_pipeline(cfg), with_map=not args.no_map)


def cmd_check(cfg: Config, args) -> int:
    from .check import format_report

    r = _pipeline(cfg).check()
    print(format_report(r))
    if args.json:
        atomic_write_text(args.json, json.dumps(r, indent=1, default=str))
    return 0


def cmd_cache(cfg: Config, args) -> int:
    from .cache import StageCache
    from .stages import CHAIN

    cache = StageCache(cfg.resolve(cfg.cache.dir))
    if args.action == "ls":
        order = {s.name: i for i, s in enumerate(CHAIN)}  # the method's order
        rows = sorted((r for r in cache.entries() if args.stage in (None, r["stage"])),
                      key=lambda r: order.get(r["stage"], len(order)))
        total = sum(r["bytes"] for r in rows)
        for r in rows:
            when = (
                time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"]))
                if r["created"]
                else "?"
            )
            print(f"{r['stage']:<12} {r['key']:<40} {r['bytes'] / 1e6:9.2f} MB  {when}"
                  + ("  CORRUPT (kept aside)" if r["corrupt"] else ""))
        print(f"{len(rows)} entries, {total / 1e6:.2f} MB in {cache.root}")
        for name, (files, size) in cache.sub_store_usage().items():
            if args.stage in (None, name):
                print(f"sub-store {name}: {files} files, {size / 1e6:.2f} MB")
    else:
        print(f"removed {cache.clear(args.stage, missing_ok=False)} entries from {cache.root}")
    return 0


def cmd_config(cfg: Config, args) -> int:
    if args.explain:
        print(explain())
    else:
        print(json.dumps(cfg.to_dict(), indent=1))
    return 0


def cmd_ablations(cfg: Config, args) -> int:
    from . import ablations

    device = [f"encoder.device={json.dumps(args.device)}"] if args.device else []
    table = ablations.run(args.config, args.overrides + device,
                          args.axes.split(",") if args.axes else None, args.budget_minutes)
    print("\n".join(ablations.lines(table)))
    print("\n" + ablations.reading(table))
    return 0


def cmd_runs(cfg: Config, args) -> int:
    from . import runlog

    pipe = _pipeline(cfg)
    runs = runlog.read(pipe.cache)
    if not runs:
        print(f"no trained run in {pipe.cache.root}: bmembed-lab train -c CONFIG trains one")
        return 0
    print(runlog.settings_table(runs).to_string(index=False))
    if args.test:
        print("\nOn the test questions, against the base model (paired 95% intervals):")
        print(runlog.test_table(pipe, runs).to_string(index=False))
    return 0


COMMANDS = {"run": cmd_run, "ingest": cmd_ingest, "chunk": cmd_chunk, "queries": cmd_queries,
            "lists": cmd_lists, "evaluate": cmd_evaluate, "train": cmd_train,
            "ablations": cmd_ablations, "runs": cmd_runs, "encode": cmd_encode,
            "perturb": cmd_perturb, "check": cmd_check, "diagnose": cmd_diagnose,
            "cache": cmd_cache, "config": cmd_config}
