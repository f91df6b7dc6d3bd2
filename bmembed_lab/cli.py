"""``bmembed-lab``: the pipeline's stages from the terminal, driven by one TOML config.

Every subcommand takes ``--config FILE`` (defaults: the paper's, see ``bmembed-lab config
--explain``) and ``--set section.key=value`` overrides. Bad input ends in a short message that
names the input and the fix, exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import sys
from pathlib import Path

from . import __version__, methods
from .config import load_config
from .errors import InputError
from .safeio import overwrites
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
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config option, e.g. --set chunking.chunk_tokens=128 (repeatable)",
    )
    p.add_argument("--device", metavar="DEVICE", help="auto | cpu | cuda | cuda:N for encoding, "
                   "training and evaluation alike (= --set encoder.device=DEVICE)")
    p.add_argument("-q", "--quiet", action="store_true", help="only print results and errors")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="bmembed-lab", description=DESCRIPTION,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version=f"bmembed-lab {__version__}")
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
    p.add_argument("--out", type=Path, help="write the lists here: .jsonl one list per line "
                                            "({query, pos, neg} with BM25 scores, as "
                                            "FlagEmbedding and sentence-transformers train on "
                                            "them), .parquet or .csv one row per item")

    p = sub.add_parser("evaluate", help="evaluate retrieval systems (eval.systems) on the "
                                        "labelled queries")
    _common(p)
    p.add_argument("--systems", nargs="+", metavar="SYSTEM",
                   help="systems to evaluate (default: eval.systems): " + SYSTEMS_HELP)
    p.add_argument("--per-query", type=Path, help="write the per-query table (CSV) here")

    p = sub.add_parser("train", help="fine-tune the encoder (training.method) and export it; "
                                     "runs unchanged under `accelerate launch` (DDP)")
    _common(p)
    p.add_argument("--method", choices=methods.CHOICES,
                   help="training method (default: training.method): " + methods.HELP)

    p = sub.add_parser("encode", help="encode the corpus into the cache (resumable); under "
                                      "`accelerate launch` every process (GPU) encodes a share")
    _common(p)
    p.add_argument("models", nargs="*", default=["base"],
                   help=f"base (default), a trained method ({', '.join(methods.NAMES)}) or "
                        "folder:PATH")

    p = sub.add_parser(
        "perturb",
        help="the lexical-sensitivity study (paper Section 6, Table 5): "
        "systems on original, keyword-masked and synonym-substituted "
        "questions",
    )
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

    p = sub.add_parser("ablations", help="the paper's ablations on this corpus: partition "
                                         "strategy x list size m, BM25 depth k, 1/alpha; each "
                                         "variant a cached run (notebook 08 reads them)")
    _common(p)
    p.add_argument("--axes", help="comma-separated, of: partitions, k, inv_alpha (default: all)")
    p.add_argument("--budget-minutes", type=float, default=0.0,
                   help="skip variants whose estimated training no longer fits (0 = no limit)")

    p = sub.add_parser("runs", help="every trained run of the cache side by side: the settings "
                                    "they differ in, dev gain over base (notebook 09 reads them)")
    _common(p)
    p.add_argument("--test", action="store_true", help="also score each run's export on the "
                   "test questions against the base model (encodes the corpus once per run)")

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
    p.add_argument(
        "--explain", action="store_true", help="every option with its default and meaning"
    )
    _common(p)
    return ap


def _check_outputs(args, cfg) -> None:
    """Output files go into folders that exist and never over the run's own inputs (the
    config, the corpus, its queries, qrels and evidence): checked before any work starts."""
    inputs = [Path(args.config)] if getattr(args, "config", None) else []
    inputs += [cfg.resolve(v) for v in (cfg.corpus.path, cfg.corpus.queries, cfg.corpus.qrels,
                                        cfg.corpus.evidence) if v]
    for flag in ("out", "report", "json", "per_query"):
        path = getattr(args, flag, None)
        if path is None:
            continue
        name = f"--{flag.replace('_', '-')} {path}"
        if not Path(path).parent.is_dir():
            raise InputError(f"the folder of {name} does not exist", "command line",
                             f"create {Path(path).parent} first, or write elsewhere")
        over = next((p for p in inputs if overwrites(Path(path), p)), None)
        if over is not None:
            raise InputError(f"{name} would write over this run's own input {over}",
                             "command line", "write the output to another file")



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
    from .commands import COMMANDS, cmd_init

    try:
        if args.command == "init":
            return cmd_init(args)
        if args.command == "notebooks":
            from .serve import serve

            return serve(
                args.notebook, args.config, args.edit, args.port, args.headless, marimo_options
            )
        device = (
            [f"encoder.device={json.dumps(args.device)}"] if getattr(args, "device", None) else []
        )
        cfg = load_config(args.config, args.overrides + device)
        _check_outputs(args, cfg)
        return COMMANDS[args.command](cfg, args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished stages stay cached", file=sys.stderr)
        return 130
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        full = InputError(f"no space left on the disk ({err.strerror})",
                          err.filename or "the cache or an output file",
                          "free some space, or point cache.dir (or the output path) at a disk "
                          "with room; finished stages stay cached, nothing half-written was kept")
        print(f"error: {full}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
