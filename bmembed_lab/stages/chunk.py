"""Stages `chunks` and `relevance`: cut the documents into chunks of at most ``chunk_tokens``
tokens of the encoder's tokenizer (paper Section 4: 256 for Multihop-RAG, 1,024 for the
long-document sets), then mark each evaluation query's relevant chunks from its gold facts.

Keys: chunks = ``[chunking]`` + the tokenizer folder's content hash, over the documents' key
(:func:`bmembed_lab.stages.ingest.documents_key`: new queries or labels never re-chunk);
relevance = ``[relevance]``, over the dataset and chunk keys. Saved as ``chunks.jsonl`` and
``relevance.json``. Algorithms: :mod:`bmembed_lab.chunking`, :mod:`bmembed_lab.relevance`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from .. import chunking, encoder, relevance as relevance_mod
from ..cache import CHUNKS, RELEVANCE, StageCache, cached
from ..hashing import code_version
from ..safeio import read_json, read_jsonl, write_json, write_jsonl
from ..chunking import Chunk
from ..config import Config
from ..corpus import Dataset
from ..errors import InputError
from ..evaluation import in_dev_split, sample_queries
from ..relevance import Relevance

log = logging.getLogger(__name__)


def tokenizer_name(cfg: Config) -> str:
    return cfg.chunking.tokenizer or cfg.encoder.model


def chunks(cfg: Config, cache: StageCache, ds: Dataset, docs_key: str) -> tuple[list[Chunk], str]:
    """(every document's chunks, their key)."""
    ch = cfg.chunking
    tok_path = encoder.resolve_model_path(tokenizer_name(cfg))

    def compute() -> list[Chunk]:
        tok = encoder.load_tokenizer(tokenizer_name(cfg))
        out = chunking.chunk_documents(ds.documents, tok, ch.chunk_tokens, ch.overlap_tokens,
                                       titles=ch.titles)
        if not out:
            raise InputError("chunking produced no chunks", cfg.corpus.path,
                             "check that the documents contain text")
        return out

    out = cached(cache, CHUNKS, asdict(ch) | {"tokenizer": encoder.model_fingerprint(tok_path)},
                 [docs_key], code_version(chunking), compute,
                 lambda v, d: write_jsonl(d / "chunks.jsonl", (c.to_record() for c in v)),
                 lambda d: [Chunk(**r) for r in read_jsonl(d / "chunks.jsonl")])
    warn = length_warning(cfg)
    if warn:
        log.warning(warn)
    return out


def length_warning(cfg: Config) -> str | None:
    """A warning when chunks may be longer than the encoder reads (its input limit comes from
    :func:`bmembed_lab.encoder.max_input_tokens`, the same rule the encoder truncates by)."""
    path = encoder.resolve_model_path(cfg.encoder.model)
    return chunking.check_chunk_length(cfg.chunking.chunk_tokens,
                                       encoder.max_input_tokens(path, cfg.encoder.max_length))


def report(ds: Dataset, chunk_list: list[Chunk], rel: Relevance, n_test: int, n_dev: int
           ) -> dict:
    """Counts worth printing beside the results."""
    return {"documents": len(ds.documents), "chunks": len(chunk_list),
            "queries": len(ds.queries), "labelled queries with a relevant chunk": len(rel.grades),
            "evaluated queries": n_test, "dev queries (held out of the tables)": n_dev,
            "labelled queries without a relevant chunk (excluded)": len(rel.no_relevant),
            "gold facts matching no chunk": rel.unmatched_facts,
            **{f"skipped: {k}": v for k, v in ds.skipped.items()}}


def relevance(cfg: Config, cache: StageCache, ds: Dataset, ds_key: str, chunk_list: list[Chunk],
              chunks_key: str) -> tuple[Relevance, str]:
    """(graded relevant chunks per labelled query, its key)."""
    r = cfg.relevance
    rel, key = cached(
        cache,
        RELEVANCE,
        asdict(r) | {"level": cfg.eval.level},
        [ds_key, chunks_key],
        code_version(relevance_mod),
        lambda: relevance_mod.chunk_relevance(ds, chunk_list, r.match, r.case_sensitive,
                                              cfg.eval.level),
        lambda v, d: write_json(d / "relevance.json", v.to_json()),
        lambda d: Relevance.from_json(read_json(d / "relevance.json")),
    )
    if rel.no_relevant:
        log.warning("%d labelled queries have no relevant chunk after chunking (gold text cut by a "
                    "chunk boundary or absent); they are excluded from evaluation and listed in "
                    "Pipeline.relevance()[0].no_relevant", len(rel.no_relevant))
    return rel, key


def split_label(cfg: Config, which: str) -> str:
    """How reports name a labelled split: the test split is every labelled question when
    there is no dev split (eval.dev_fraction = 0)."""
    return "all labelled (no dev split)" if which == "test" and not cfg.eval.dev_fraction else ""


def evaluation_queries(cfg: Config, ds: Dataset, rel: Relevance, split: str = "test"
                       ) -> tuple[list[str], list[str]]:
    """(ids, texts) of one split of the labelled queries that have a relevant chunk: ``dev``
    (``eval.dev_fraction`` of them, for choices and model selection) or ``test`` (the rest, at
    most ``corpus.max_queries`` drawn with ``eval.seed``: what the tables report). Not cached:
    it is a selection."""
    if not ds.queries:
        raise InputError("no evaluation queries were read", cfg.corpus.path,
                         "give corpus.queries (JSONL of {_id, text}) and their labels (qrels "
                         "or evidence), or a BEIR folder with queries.jsonl; without them "
                         "`bmembed-lab run` and notebook 00 report on held-out synthetic "
                         "queries, which measure agreement with BM25, not quality")
    if not rel.grades:
        raise InputError("no evaluation query has a relevant chunk", cfg.corpus.path,
                         "check the qrels/evidence files (their query ids must match the "
                         "queries') and relevance.match")
    frac, seed = cfg.eval.dev_fraction, cfg.eval.seed
    ids = [q for q in rel.grades if in_dev_split(q, frac, seed) == (split == "dev")]
    if split == "test":
        ids = sample_queries(ids, cfg.corpus.max_queries, seed)
    text = {q.query_id: q.text for q in ds.queries}
    return ids, [text[q] for q in ids]
