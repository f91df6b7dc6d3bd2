"""The method's steps, one module each, in the order they run. Every stage is cached on disk
under its name (``<cache>/<stage>/<key>/``), its key hashing its config, its inputs' keys and
its code; :class:`bmembed_lab.pipeline.Pipeline` chains them.
"""

from __future__ import annotations

from typing import NamedTuple

from . import chunk, diagnose, ingest, lists, perturb, queries, runs, train


class Stage(NamedTuple):
    name: str     # the cache folder and the pipeline's memo name
    module: str   # where its wiring lives (bmembed_lab/stages/<module>.py)
    paper: str    # the paper section it implements
    makes: str


CHAIN = (
    Stage(ingest.STAGE, "ingest", "4", "documents, evaluation queries, gold facts"),
    Stage(chunk.CHUNKS, "chunk", "4", "chunks of at most chunk_tokens tokens"),
    Stage(chunk.RELEVANCE, "chunk", "4", "relevant chunks of each evaluation query"),
    Stage(queries.STAGE, "queries", "3.1, App. A", "synthetic training queries, filtered"),
    Stage(queries.HELDOUT, "queries", "ours", "held-out keyword-style queries, never trained on"),
    Stage(lists.RANKING, "lists", "3.2", "BM25 top-k of every training query"),
    Stage(lists.LISTS, "lists", "3.2, App. D", "training lists drawn by rank partitions"),
    Stage(train.NEGATIVES, "train", "baseline", "mined hard negatives (mnrl)"),
    Stage(train.MODEL, "train", "3.3, App. C", "the fine-tuned encoder, best dev step exported"),
    Stage(runs.EMBEDDINGS, "runs", "4", "query and chunk embeddings per encoder"),
    Stage(runs.BM25_RUN, "runs", "4", "BM25 top-depth chunks per query"),
    Stage(runs.DENSE_RUN, "runs", "4", "an encoder's top-depth chunks per query"),
    Stage(runs.RRF_RUN, "runs", "4", "reciprocal rank fusion of two runs"),
    Stage(perturb.STAGE, "perturb", "6, App. F", "keyword-masked and synonym-substituted questions"),
    Stage(diagnose.DIAGNOSTICS, "diagnose", "5, App. E", "alignment and uniformity per encoder"),
    Stage(diagnose.EMBEDDING_MAP, "diagnose", "5", "joint 2-D UMAP map of several encoders"),
)
STAGES = tuple(s.name for s in CHAIN)

__all__ = ["CHAIN", "STAGES", "Stage", "chunk", "diagnose", "ingest", "lists", "perturb",
           "queries", "runs", "train"]
