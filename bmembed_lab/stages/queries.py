"""Stage `queries`: synthetic training queries over the corpus (paper Section 3.1, Appendix A),
from the offline generator, an LLM, or the user's file; filtered, and checked for leakage
against the evaluation queries.

Key: ``[queries]`` (plus the ``[llm]`` options that change replies, for the llm backend; plus
the queries file's fingerprint, for the file backend), over the documents' key and the
evaluation queries (the leakage check reads them). Saved as ``queries.json``. The key handed
on to the training stages is the kept queries' content (:func:`content_key`), so new
evaluation queries that leak nothing new leave the training lists and the trained models
as they were. LLM replies are cached one by one in the cache's ``llm_calls`` sub-store as
they arrive, so an interrupted run resumes. Algorithm:
:func:`bmembed_lab.querygen.generate_queries`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields, replace

from .. import llm as llm_mod, negatives, querygen
from ..cache import HELDOUT, LLM_CALLS, QUERIES, StageCache, cached
from ..hashing import code_version, files_fingerprint, texts_key
from ..safeio import read_json, write_json
from ..config import Config
from ..chunking import Chunk
from ..corpus import Dataset
from ..relevance import Relevance
from ..errors import InputError
from ..evaluation import in_dev_split

STAGE = QUERIES
# [llm] options that only change how calls are sent, never what comes back
_TRANSPORT = ("concurrency", "max_retries", "backoff", "timeout")


def content_key(qs: querygen.QuerySet) -> str:
    """A key of the kept queries alone (ids, texts, sources, evidence), not of the report.
    (Each query's fields read directly: the same JSON as ``asdict``, without its deep copy,
    which took most of a notebook's 0.1 s here.)"""
    names = [f.name for f in fields(querygen.SyntheticQuery)]
    return "queries-" + texts_key([json.dumps({n: getattr(x, n) for n in names}, sort_keys=True,
                                              ensure_ascii=False) for x in qs.queries])


def synthetic_queries(cfg: Config, cache: StageCache, ds: Dataset, docs_key: str, progress=None
                      ) -> tuple[querygen.QuerySet, str]:
    """(the kept training queries with their report, :func:`content_key` of them)."""
    q = cfg.queries
    conf = asdict(q)
    eval_q = [(x.query_id, x.text) for x in ds.queries]
    inputs = [docs_key, texts_key([f"{i}\t{t}" for i, t in eval_q])]
    if q.backend == "llm":
        conf["llm"] = {k: v for k, v in asdict(cfg.llm).items() if k not in _TRANSPORT}
    if q.backend == "file":
        path = cfg.resolve(q.file)
        if not path.is_file():
            raise InputError(
                "queries file not found", str(path), "set queries.file to a JSONL file"
            )
        inputs.append(files_fingerprint([path]))
        q = replace(q, file=str(path))

    def compute() -> querygen.QuerySet:
        client = None
        if q.backend == "llm":
            client = llm_mod.LLMClient(
                cfg.llm, cache.sub_store(LLM_CALLS) if cache.enabled else None
            )
        return querygen.generate_queries(ds.documents, q, client, eval_q, progress)

    qs, _ = cached(cache, STAGE, conf, inputs, code_version(querygen, llm_mod), compute,
                   lambda v, d: write_json(d / "queries.json", v.to_json()),
                   lambda d: querygen.QuerySet.from_json(read_json(d / "queries.json")))
    return qs, content_key(qs)


def held_out_queries(
    cfg: Config,
    cache: StageCache,
    ds: Dataset,
    docs_key: str,
    chunks: list[Chunk],
    chunks_key: str,
    training: querygen.QuerySet,
    training_key: str,
    limit: int,
) -> tuple[dict, str]:
    """(held-out keyword-style queries, their key): the offline keyphrase generator run with
    ``queries.seed + 1``, texts that also occur among the training queries removed, each with
    the chunk its passage came from as its one relevant chunk; a seeded subset of at most
    ``limit``. They are never trained on: a query set in the teacher's own style, where BM25
    is strong, beside the real questions. {"ids", "texts", "sources"}."""
    q = replace(cfg.queries, backend="offline", method="keyphrase", seed=cfg.queries.seed + 1,
                leakage="flag")

    def compute() -> dict:
        return querygen.held_out_queries(ds.documents, q, training.queries, chunks, limit,
                                         cfg.eval.seed)

    return cached(
        cache,
        HELDOUT,
        asdict(q) | {"limit": limit},
        [docs_key, chunks_key, training_key],
        code_version(querygen, negatives),
        compute,
        lambda v, d: write_json(d / "heldout.json", v),
        lambda d: read_json(d / "heldout.json"),
    )


def held_out_relevance(held: dict) -> Relevance:
    """Relevance labels of the held-out queries: the source chunk, one gold fact each."""
    return Relevance({q: {s: 1.0} for q, s in zip(held["ids"], held["sources"])},
                     {q: {s: [0]} for q, s in zip(held["ids"], held["sources"])},
                     {q: 1 for q in held["ids"]})


def held_out_split(held: dict, labelled: bool, cfg: Config, which: str = "heldout"
                   ) -> tuple[list[str], list[str]]:
    """Ids and texts of the held-out keyword-style queries: ``heldout_dev`` (an
    ``eval.dev_fraction`` of them, which select the exported step when there are no labelled
    questions) or ``heldout`` (the rest; all of them when there are labels)."""
    frac = 0.0 if labelled else cfg.eval.dev_fraction
    pick = [i for i, q in enumerate(held["ids"])
            if in_dev_split(q, frac, cfg.eval.seed) == (which == "heldout_dev")]
    return [held["ids"][i] for i in pick], [held["texts"][i] for i in pick]
