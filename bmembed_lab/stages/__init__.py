"""The method's steps, one module each, in the order they run. Every stage is cached on disk
under its name (``<cache>/<stage>/<key>/``), its key hashing its config, its inputs' keys and
its code; :class:`bmembed_lab.pipeline.Pipeline` chains them.
"""

from __future__ import annotations

from typing import NamedTuple

from .. import cache
from . import chunk, diagnose, ingest, lists, perturb, queries, runs, train


class Stage(NamedTuple):
    name: str     # the cache folder and the pipeline's memo name
    module: str   # where its wiring lives (bmembed_lab/stages/<module>.py)
    paper: str    # the paper section it implements
    makes: str


CHAIN = (
    Stage(cache.DATASET, "ingest", "4", "documents, evaluation queries, gold facts"),
    Stage(cache.CHUNKS, "chunk", "4", "chunks of at most chunk_tokens tokens"),
    Stage(cache.RELEVANCE, "chunk", "4", "relevant chunks of each evaluation query"),
    Stage(cache.QUERIES, "queries", "3.1, App. A", "synthetic training queries, filtered"),
    Stage(cache.HELDOUT, "queries", "ours", "held-out keyword-style queries, never trained on"),
    Stage(cache.RANKING, "lists", "3.2", "BM25 top-k of every training query"),
    Stage(cache.LISTS, "lists", "3.2, App. D", "training lists drawn by rank partitions"),
    Stage(cache.NEGATIVES, "train", "baseline", "mined hard negatives (mnrl)"),
    Stage(cache.MODEL, "train", "3.3, App. C", "the fine-tuned encoder, best dev step exported"),
    Stage(cache.AUTO, "train", "ours", "auto's decision, and the winner's export with it in the "
                                       "card (or nothing: the base model is the answer)"),
    Stage(cache.EMBEDDINGS, "runs", "4", "query and chunk embeddings per encoder"),
    Stage(cache.BM25_RUN, "runs", "4", "BM25 top-depth chunks per query"),
    Stage(cache.DENSE_RUN, "runs", "4", "an encoder's top-depth chunks per query"),
    Stage(cache.RRF_RUN, "runs", "4", "reciprocal rank fusion of two runs"),
    Stage(cache.EVALUATION, "runs", "4", "per-query metrics and paired-bootstrap comparisons"),
    Stage(cache.CHECK, "diagnose", "ours", "`check`: will BMEmbed help here? measurements and "
                                           "a verdict"),
    Stage(cache.PERTURBATIONS, "perturb", "6, App. F",
          "keyword-masked and synonym-substituted questions"),
    Stage(cache.STUDY, "perturb", "6, Table 5", "every system on the perturbed questions"),
    Stage(cache.DIAGNOSTICS, "diagnose", "5, App. E", "alignment and uniformity per encoder"),
    Stage(cache.EMBEDDING_MAP, "diagnose", "5", "joint 2-D UMAP map of several encoders"),
)
STAGES = tuple(s.name for s in CHAIN)

__all__ = ["CHAIN", "STAGES", "Stage", "chunk", "diagnose", "ingest", "lists", "perturb",
           "queries", "runs", "train"]
