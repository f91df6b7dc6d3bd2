"""``bmembed-lab``: the pipeline's stages from the terminal, driven by one TOML config.

Every subcommand takes ``--config FILE`` (defaults: the paper's, see ``bmembed-lab config
--explain``) and ``--set section.key=value`` overrides. Bad input ends in a short message that
names the input and the fix, exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from . import methods
from .config import Config, explain, load_config
from .errors import InputError
from .evaluation import SYSTEMS_HELP

DESCRIPTION = """\
bmembed-lab - adapt a text-embedding model to a private corpus with BM25 ranking signals
(BMEmbed), and measure it.

stages:  ingest -> chunk -> queries (synthetic, offline or LLM) -> lists (BM25 top-k,
         rank-partition sampling) -> train -> evaluate (BM25, base encoder, RRF, adapted)
         -> perturb (keyword masking / synonym substitution study); `check` before training.
         `run` does every stage, each cached by a hash of its config, inputs and code.
"""

CONFIG_HELP = ("TOML config file; options not given keep the paper's defaults "
               "(list them all with `bmembed-lab config --explain`)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", type=Path, help=CONFIG_HELP)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one config option, e.g. --set chunking.chunk_tokens=128 "
                        "(repeatable)")
    p.add_argument("--device", metavar="DEVICE", help="auto | cpu | cuda | cuda:N for encoding, "
                   "training and evaluation alike (= --set encoder.device=DEVICE)")
    p.add_argument("-q", "--quiet", action="store_true", help="only print results and errors")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="bmembed-lab", description=DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="run every available stage on the config's corpus and print "
                                   "the results table")
    _common(p)
    p.add_argument("--json", type=Path, help="also write the results (summary, comparisons, "
                                             "counts, stage times) to this JSON file")

    p = sub.add_parser("ingest", help="read the corpus, queries and labels; print counts")
    _common(p)

    p = sub.add_parser("chunk", help="chunk the corpus with the encoder's tokenizer; print "
                                     "chunk statistics")
    _common(p)

    p = sub.add_parser("queries", help="generate synthetic training queries (queries.backend: "
                                       "offline | llm | file), filter them, check leakage")
    _common(p)
    p.add_argument("--dry-run", action="store_true",
                   help="llm backend: print the number of calls and a token estimate, send nothing")
    p.add_argument("--show", type=int, default=5, metavar="N", help="print N sample queries")
    p.add_argument("--out", type=Path, help="write the kept queries (JSONL) here")
    p.add_argument("--report", type=Path, help="write the full report (dropped, leakage, "
                                               "unparsed replies, counts) as JSON here")

    p = sub.add_parser("lists", help="rank every synthetic query's top-k chunks with BM25 and "
                                     "draw the training lists by rank partitions")
    _common(p)
    p.add_argument("--show", type=int, default=1, metavar="N", help="print N sample lists")
    p.add_argument("--out", type=Path, help="write the lists (one row per item) as CSV or "
                                            ".parquet here")

    p = sub.add_parser("evaluate", help="evaluate retrieval systems (eval.systems) on the "
                                        "labelled queries")
    _common(p)
    p.add_argument("--systems", nargs="+", metavar="SYSTEM",
                   help="systems to evaluate (default: eval.systems): " + SYSTEMS_HELP)
    p.add_argument("--per-query", type=Path, help="write the per-query table (CSV) here")

    p = sub.add_parser("train", help="fine-tune the encoder (training.method) and export it; "
                                     "runs unchanged under `accelerate launch` (DDP)")
    _common(p)
    p.add_argument("--method", choices=methods.NAMES,
                   help="training method (default: training.method): " + methods.HELP)

    p = sub.add_parser("encode", help="encode the corpus into the cache (resumable); under "
                                      "`accelerate launch` every process (GPU) encodes a share")
    _common(p)
    p.add_argument("models", nargs="*", default=["base"],
                   help=f"base (default), a trained method ({', '.join(methods.NAMES)}) or "
                        "folder:PATH")

    p = sub.add_parser("perturb", help="the lexical-sensitivity study (paper Section 6, Table 5): "
                                       "systems on original, keyword-masked and synonym-substituted "
                                       "questions")
    _common(p)
    p.add_argument("--systems", nargs="+", metavar="SYSTEM",
                   help="systems to compare (default: perturbation.systems): " + SYSTEMS_HELP)
    p.add_argument("--show", type=int, default=3, metavar="N", help="print N perturbed questions")
    p.add_argument("--out", type=Path, help="write the perturbed questions (JSONL) here")
    p.add_argument("--per-query", type=Path, help="write the per-query table (CSV) here")

    p = sub.add_parser("check", help="before training: will BMEmbed help on this corpus? BM25 "
                                     "against the base encoder on the dev questions, the "
                                     "protocol's cost, the teacher's strength; a verdict")
    _common(p)
    p.add_argument("--json", type=Path, help="also write the measurements as JSON here")

    p = sub.add_parser("diagnose", help="alignment and uniformity of base and every trained "
                                        "model (paper Section 5) with their reading, and the "
                                        "joint UMAP map (notebooks 05 and 06 open from it)")
    _common(p)
    p.add_argument("--no-map", action="store_true", help="skip the UMAP map")

    p = sub.add_parser("cache", help="list or clear the stage cache")
    p.add_argument("action", choices=["ls", "clear"], help="ls: list entries; clear: delete them")
    p.add_argument("--stage", help="only this stage (e.g. embeddings)")
    _common(p)

    p = sub.add_parser("init", help="write a first config for your own corpus (a folder of "
                                    ".txt/.md/.pdf, a BEIR folder or a JSONL file) and say what "
                                    "was found and what is missing")
    p.add_argument("path", type=Path, help="the corpus: a folder or a JSONL file")
    p.add_argument("--out", type=Path, default=Path("bmembed.toml"), help="config to write "
                   "(default: bmembed.toml here; never over an existing file without --force)")
    p.add_argument("--force", action="store_true", help="overwrite --out")
    p.add_argument("-q", "--quiet", action="store_true", help="only print results and errors")

    p = sub.add_parser("notebooks", help="serve the notebooks on 127.0.0.1, token on, their "
                       "imports done before a browser connects; options after -- go to marimo")
    p.add_argument("notebook", nargs="?", help="a number (06), name or path (default: all)")
    p.add_argument("-c", "--config", type=Path, help="the config they open (default: "
                   "$BMEMBED_CONFIG, else configs/demo.toml)")
    p.add_argument("--edit", action="store_true", help="marimo's editor instead of the apps")
    p.add_argument("--port", type=int, help="the port (default: marimo's)")
    p.add_argument("--headless", action="store_true", help="do not open a browser")

    p = sub.add_parser("config", help="print the effective config, or explain every option")
    p.add_argument("--explain", action="store_true", help="every option with its default and meaning")
    _common(p)
    return ap


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


def _fmt_counts(c: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in c.items())


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
        args.report.write_text(json.dumps({k: v for k, v in qs.to_json().items() if k != "queries"},
                                          indent=1))
        print(f"report: {args.report}")
    return 0


def cmd_lists(cfg: Config, args) -> int:
    pipe = _pipeline(cfg)
    lists, key = pipe.training_lists()
    chunks, _ = pipe.chunks()
    print(json.dumps({"cache_key": key, **lists.counts}, indent=1))
    df = lists.frame()
    for i in range(min(args.show, len(lists))):
        print(f"\nlist {i}: {lists.query_texts[i]!r} (rank 1 = BM25's first; files keep 0-based ranks)")
        for _, r in df[df["list"] == i].iterrows():
            text = " ".join(chunks[r.chunk_index].text.split())
            print(f"  rank {r['rank'] + 1:>4}  bm25 {r.bm25:7.2f}  {r.chunk_id:<24} {text[:70]}")
    if args.out:
        if args.out.suffix == ".parquet":
            df.to_parquet(args.out, index=False)
        else:
            df.to_csv(args.out, index=False)
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
    print(f"Retrieval on the test questions, protocol {res['protocol']} (percent):")
    print(format_table(res["summary"]))
    if not res["comparisons"].empty:
        print("\nPaired bootstrap, difference in points [95% interval], p-value:")
        print("\n".join(format_comparisons(res["comparisons"])))
    for line in res["notes"]:
        print(f"\nNOTE {line}")
    if args.per_query:
        res["per_query"].to_csv(args.per_query, index=False)
        print(f"per-query table: {args.per_query}")
    return 0


def cmd_perturb(cfg: Config, args) -> int:
    from dataclasses import asdict

    pipe = _pipeline(cfg)
    pset, key = pipe.perturbations()
    print(json.dumps({"cache_key": key, **pset.counts}, indent=1))
    for q in [x for x in pset.queries if x.keywords][: args.show]:
        print(f"\n  original:    {q.text}\n  keywords:    {', '.join(q.keywords)}\n"
              f"  masked:      {q.masked}\n  substituted: {q.substituted or '(no substitute kept)'}")
    res = pipe.perturbation_study(args.systems)
    print("\nValue in percent (change from original in points [95% bootstrap interval]):")
    print(res["table"].to_string(index=False))
    print("\n" + "\n".join(f"- {line}" for line in res["reading"]))
    if args.out:
        from .safeio import write_jsonl

        write_jsonl(args.out, (asdict(q) for q in pset.queries))
        print(f"perturbed questions: {args.out}")
    if args.per_query:
        res["per_query"].to_csv(args.per_query, index=False)
        print(f"per-query table: {args.per_query}")
    return 0


def cmd_train(cfg: Config, args) -> int:
    from .multiproc import train_command

    print("\n".join(train_command(cfg, args.method or cfg.training.method, _pipeline)))
    return 0


def cmd_encode(cfg: Config, args) -> int:
    from .multiproc import encode_command

    print("\n".join(encode_command(cfg, args.models, _pipeline)))
    return 0


def cmd_diagnose(cfg: Config, args) -> int:
    from .runreport import diagnose_report

    return diagnose_report(_pipeline(cfg), with_map=not args.no_map)


def cmd_check(cfg: Config, args) -> int:
    from .check import format_report, run_check

    r = run_check(_pipeline(cfg))
    print(format_report(r))
    if args.json:
        args.json.write_text(json.dumps(r, indent=1, default=str))
    return 0


def cmd_cache(cfg: Config, args) -> int:
    from .cache import StageCache

    cache = StageCache(cfg.resolve(cfg.cache.dir))
    if args.action == "ls":
        rows = [r for r in cache.entries() if args.stage in (None, r["stage"])]
        total = sum(r["bytes"] for r in rows)
        for r in rows:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created"])) if r["created"] else "?"
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


COMMANDS = {"run": cmd_run, "ingest": cmd_ingest, "chunk": cmd_chunk, "queries": cmd_queries,
            "lists": cmd_lists, "evaluate": cmd_evaluate, "train": cmd_train, "encode": cmd_encode, "perturb": cmd_perturb,
            "check": cmd_check, "diagnose": cmd_diagnose,
            "cache": cmd_cache, "config": cmd_config}


def _check_outputs(args) -> None:
    """Output files go into folders that exist: checked before any work starts."""
    for flag in ("out", "report", "json", "per_query"):
        path = getattr(args, flag, None)
        if path is not None and not Path(path).parent.is_dir():
            raise InputError(f"the folder of --{flag.replace('_', '-')} {path} does not exist",
                             "command line", f"create {Path(path).parent} first, or write elsewhere")


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    args, marimo_options = ap.parse_args(argv[:cut]), argv[cut + 1:]
    if cut < len(argv) and args.command != "notebooks":
        ap.error("options after -- go to marimo: only `bmembed-lab notebooks` takes them")
    if not args.command:
        ap.print_help()
        return 0
    logging.basicConfig(level=logging.ERROR if getattr(args, "quiet", False) else logging.WARNING,
                        format="%(levelname)s: %(message)s")
    try:
        if args.command == "init":
            return cmd_init(args)
        if args.command == "notebooks":
            from .serve import serve

            return serve(args.notebook, args.config, args.edit, args.port, args.headless, marimo_options)
        device = [f"encoder.device={json.dumps(args.device)}"] if getattr(args, "device", None) else []
        cfg = load_config(args.config, args.overrides + device)
        _check_outputs(args)
        return COMMANDS[args.command](cfg, args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished stages stay cached", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
