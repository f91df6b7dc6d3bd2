"""The method's stages chained for one config: :class:`Pipeline` computes (or loads from the
stage cache) each stage once, in memory, records the seconds each took, and forgets a stage and
everything computed from it on :meth:`Pipeline.invalidate`. The CLI, the notebooks, the bench
and the tests all drive the workbench through it.

The stage wiring (cache keys, formats, the algorithm each stage calls) lives in
:mod:`bmembed_lab.stages`, one module per step; this file only chains them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from . import methods, variants
from .cache import StageCache
from .hashing import texts_key
from .config import Config
from .encoder import LazyEncoder, check_device
from .errors import NotComputed
from .evaluation import parse_system, unique_systems
from .memo import StageMemo
from .questions import Questions, check_set, dev_set
from .stages import chunk, diagnose, ingest, lists, perturb, queries, runs, train

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from .bm25 import BM25Index
    from .chunking import Chunk
    from .corpus import Dataset
    from .embedmap import MapParams
    from .negatives import MinedPairs
    from .perturbation import PerturbationSet
    from .querygen import QuerySet
    from .relevance import Relevance
    from .retrieval import Run
    from .sampling import Ranking, TrainingLists


def recipe_free(name: str) -> bool:
    """Whether a memo entry's stage is one no sampling or training option reaches: a stage of
    the corpus or the questions, or one of the systems that train nothing."""
    stage, _, rest = name.partition(":")
    return stage in ("dataset", "chunks", "relevance", "queries", "questions") or (
        stage in ("bm25_run", "dense_run", "rrf_run", "embeddings", "encoder", "diagnostics")
        and rest.split(":")[0] in ("bm25", "base", "rrf"))


@dataclass
class Pipeline(StageMemo):
    """The stages chained for one config, each computed (or loaded) once per instance
    (:class:`~bmembed_lab.memo.StageMemo`: timings, ``invalidate``)."""

    cfg: Config
    cache: StageCache = None  # type: ignore[assignment]
    read_only: bool = False  # only read the cache: a missing stage raises NotComputed

    def __post_init__(self):
        if self.cache is None:
            self.cache = StageCache(self.cfg.resolve(self.cfg.cache.dir), self.cfg.cache.enabled,
                                    self.read_only)
            if not self.read_only:
                self.cache.check_writable()
        check_device(self.cfg.encoder.device)

    def adopt(self, other: "Pipeline") -> "Pipeline":
        """Take ``other``'s memo entries that no sampling or training option reaches (the
        corpus, the questions, BM25's and the base encoder's stages) where the two configs
        differ in those two sections alone, as an ablation variant and its default recipe do:
        loading them again for each variant was most of notebook 08's open. Returns self."""
        same = replace(self.cfg, sampling=other.cfg.sampling, training=other.cfg.training)
        if same == other.cfg and self.cache.root == other.cache.root:
            self._memo.update({n: v for n, v in other._memo.items() if recipe_free(n)})
        return self

    # -- data ----------------------------------------------------------------------------------
    def dataset(self) -> tuple[Dataset, str]:
        return self._stage(ingest.STAGE, lambda: ingest.dataset(self.cfg, self.cache))

    def documents(self) -> tuple[list, str]:
        """(the documents, a key of them alone): what every corpus-side stage is keyed by."""
        return self._stage(f"{ingest.STAGE}:documents", lambda: (
            self.dataset()[0].documents, ingest.documents_key(self.dataset()[0])))

    def chunks(self) -> tuple[list[Chunk], str]:
        return self._stage(chunk.CHUNKS, lambda: chunk.chunks(
            self.cfg, self.cache, self.dataset()[0], self.documents()[1]))

    def relevance(self) -> tuple[Relevance, str]:
        return self._stage(chunk.RELEVANCE, lambda: chunk.relevance(
            self.cfg, self.cache, *self.dataset(), *self.chunks()))

    def questions(self, which: str = "test") -> Questions:
        """One scored question set (:data:`bmembed_lab.questions.SETS`) with the labels that
        score it: the one place a set's questions and labels are chosen."""
        def run():
            if check_set(which) in ("test", "dev"):
                rel, rk = self.relevance()
                ids, texts = chunk.evaluation_queries(self.cfg, self.dataset()[0], rel, which)
                label = chunk.split_label(self.cfg, which)
                return Questions(which, ids, texts, rel, rk, True, label)
            if which in ("heldout", "heldout_dev"):
                held, hk = self.held_out()
                ids, texts = queries.held_out_split(held, self.labelled(), self.cfg, which)
                return Questions(which, ids, texts, queries.held_out_relevance(held), hk, False)
            ids, texts = self.perturbations()[0].variant(which)
            return Questions(which, ids, texts, *self.relevance())
        return self._stage(f"questions:{which}", run)

    def labelled(self) -> bool:
        """Whether any evaluation query has a relevant chunk. Without labels the workbench
        still trains and reports on held-out synthetic queries (``questions('heldout')``)."""
        return self._stage("relevance:labelled", lambda: bool(
            self.dataset()[0].queries and self.relevance()[0].grades))

    def bm25_index(self) -> BM25Index:
        return self._stage("chunks:bm25_index", lambda: runs.bm25_index(self.cfg, self.chunks()[0]))

    # -- training data and training (paper Section 3) -------------------------------------------
    def synthetic_queries(self, progress=None) -> tuple[QuerySet, str]:
        return self._stage(queries.STAGE, lambda: queries.synthetic_queries(
            self.cfg, self.cache, self.dataset()[0], self.documents()[1], progress))

    def held_out(self) -> tuple[dict, str]:
        """Held-out keyword-style queries (never trained on) with their source chunks."""
        return self._stage(queries.HELDOUT, lambda: queries.held_out_queries(
            self.cfg, self.cache, self.dataset()[0], self.documents()[1], *self.chunks(),
            *self.synthetic_queries(), self.cfg.eval.heldout_queries))

    def training_ranking(self, progress=None) -> tuple[Ranking, str]:
        return self._stage(lists.RANKING, lambda: lists.training_ranking(
            self.cfg, self.cache, *self.chunks(), *self.synthetic_queries(), self.bm25_index,
            progress))

    def training_lists(self) -> tuple[TrainingLists, str]:
        return self._stage(lists.LISTS, lambda: lists.training_lists(
            self.cfg, self.cache, *self.training_ranking(), self.chunks()[0]))

    def _negatives_source(self):
        """(candidate function, source key) of the hard-negative miner."""
        qs, _ = self.synthetic_queries()
        if self.cfg.training.negatives_from == "bm25":
            ranking, rk = self.training_ranking()
            return (lambda: train.bm25_candidates(self.cfg, qs, ranking, self.bm25_index())), rk
        c_emb, c_key = self.chunk_embeddings("base")
        return (lambda: train.dense_candidates(self.cfg, qs, self.encoder("base"), c_emb)), c_key

    def mined_negatives(self) -> tuple[MinedPairs, str]:
        """Hard negatives for mnrl from the BM25 training ranking or the base encoder."""
        def run():
            candidates, source_key = self._negatives_source()
            return train.mined_negatives(self.cfg, self.cache, *self.synthetic_queries(),
                                         self.chunks()[0], candidates, source_key)
        return self._stage(train.NEGATIVES, run)

    def _input_key(self, kind: str) -> str | None:
        """The key of one kind of training input (:data:`bmembed_lab.methods.INPUTS`)."""
        qs, qk = self.synthetic_queries()
        if kind == "lists":
            return self.training_lists()[1]
        if kind == "evidence":
            return train.evidence_key(qs, qk)
        return train.negatives_key(self.cfg, qk, self._negatives_source()[1])[1]

    def training_inputs(self, method: str = methods.DEFAULT):
        """(trainer input, its key), by what the method is fed: the lists, the evidence pairs
        or the mined triples."""
        inputs = methods.get(method).inputs
        lists_ = self.training_lists()[0] if inputs == "lists" else None
        mined = self.mined_negatives()[0] if inputs == "mined" else None
        sims = items = None
        if lists_ is not None:  # the bmembed variants' inputs (none by default)
            lists_, sims, items = variants.prepare(
                self.cfg.training, lists_, lambda: self.chunk_embeddings()[0], lambda: (
                    self.query_embeddings("base", list(lists_.query_texts))[0]),
                self.cfg.eval.rrf_u)
        data = train.training_data(method, self.synthetic_queries()[0], lists_,
                                   self.chunks()[0], mined, sims, items)
        return data, self._input_key(inputs)

    def _dev_questions(self):
        """The questions that select a training run's exported step, or None (no dev split, or
        ``training.eval_every`` = 0)."""
        q = self.questions(dev_set(self.labelled())) if self.cfg.training.eval_every else ()
        return q if len(q) else None

    def dev_pool(self):
        """(dev pool, its key, chunk texts) that select a training run's exported step, or None
        (no dev split, or ``training.eval_every`` = 0)."""
        def run():
            q = self._dev_questions()
            if q is None:
                return None
            parts = [self.run("bm25", q.which), self.run("base", q.which)]
            from .bm25 import tokenize_cfg

            pool, key = train.dev_pool(self.cfg, q, parts, lambda: (
                self.chunk_embeddings()[0], self.query_embeddings("base", q.texts)[0]),
                lambda texts, idx: self.bm25_index().scores(
                    tokenize_cfg(texts, self.cfg.bm25))[:, idx])
            return pool, key, [c.text for c in self.chunks()[0]]
        return self._stage(f"{train.MODEL}:dev_pool", run)

    def dev_key(self) -> str:
        """The dev pool's key, '' where no pool selects the step (none, or an empty one), from
        the runs' keys alone: what a cached model is found by, without BM25's index."""
        q = self._dev_questions()
        if q is None or not self.cfg.training.dev_queries:
            return ""
        return train.dev_pool_key(self.cfg, q, "+".join(
            self.run(s, q.which)[1] for s in ("bm25", "base")))

    def trained(self, method: str = methods.DEFAULT, on_step=None, progress: bool = True,
                accelerator=None) -> tuple[train.TrainedModel, str]:
        return self._stage(f"{train.MODEL}:{method}", lambda: train.trained(
            self.cfg, self.cache, method, *self.training_inputs(method), on_step=on_step,
            progress=progress, accelerator=accelerator, dev=self.dev_pool, dev_key=self.dev_key(),
            base_chunks=lambda: self.chunk_embeddings()[0],
            base_queries=lambda texts: self.query_embeddings("base", texts)[0]))

    def cached_models(self) -> list[str]:
        """Trained methods whose export is already in the cache for this config. Nothing is
        trained or mined: only the keys of the training data are computed."""
        try:  # (a read-only pipeline: what is not cached yet has no cached model either)
            self.synthetic_queries()
            dev_key = self.dev_key()
        except NotComputed:
            return []
        return train.cached_methods(self.cfg, self.cache, self._input_key, dev_key)

    def unfinished_runs(self) -> dict:
        """Run key -> checkpoints of training runs not yet exported (a rerun resumes them)."""
        return train.unfinished_runs(self.cache)

    # -- encoders and runs (paper Section 4) ------------------------------------------------------
    def encoder(self, name: str = "base") -> LazyEncoder:
        """The base encoder, or a trained method's export (its ``merged/`` carries the module
        stack it was trained and evaluated with); lazy: its model loads only when something is
        encoded (cache keys need only its identity)."""

        def run():
            if name == "base":
                return LazyEncoder(self.cfg.encoder)
            model = runs.model_folder(self.cfg.resolve(name[len("folder:"):])) \
                if name.startswith("folder:") else self.trained(name)[0].merged
            return LazyEncoder(replace(self.cfg.encoder, model=str(model)))
        return self._stage(f"encoder:{name}", run)

    def chunk_embeddings(self, name: str = "base", on_batch=None, accelerator=None
                         ) -> tuple[np.ndarray, str]:
        """(the chunks' embeddings under an encoder, key); with an ``accelerator`` of several
        processes each encodes its share and only the main process gets the array."""
        def run():
            if name in methods.METHODS and variants.query_side(self.trained(name)[0].info):
                return self.chunk_embeddings("base", on_batch, accelerator)  # index unchanged
            ch, ck = self.chunks()
            return runs.embeddings(self.cache, self.encoder(name), [c.text for c in ch], False, ck,
                                   on_batch, self.cfg.encoder.shard_texts, accelerator,
                                   self.cfg.encoder.storage)
        return self._stage(f"{runs.EMBEDDINGS}:{name}:chunks", run)

    def query_embeddings(self, name: str, texts: list[str]) -> tuple[np.ndarray, str]:
        key = texts_key(texts)
        return self._stage(f"{runs.EMBEDDINGS}:{name}:{key}", lambda: runs.embeddings(
            self.cache, self.encoder(name), texts, True, key))

    def embeddings(self, name: str = "base", on_batch=None):
        """(chunk embeddings, key, evaluation-query embeddings, key) under an encoder."""
        c_emb, c_key = self.chunk_embeddings(name, on_batch)
        return (c_emb, c_key, *self.query_embeddings(name, self.questions().texts))

    def run(self, system: str, which: str = "test") -> tuple[Run, str]:
        """A system's run over one question set (:meth:`questions`). Systems:
        :data:`bmembed_lab.evaluation.SYSTEMS_HELP`."""
        s = parse_system(system)
        stage = {"bm25": runs.BM25_RUN, "dense": runs.DENSE_RUN, "rrf": runs.RRF_RUN}[s.kind]

        def compute():
            q = self.questions(which)
            ids, texts, depth = q.ids, q.texts, self.cfg.eval.depth
            if s.kind == "bm25":
                return runs.bm25_run(self.cfg, self.cache, self.chunks()[1], self.bm25_index, ids,
                                     texts, texts_key(ids + texts), depth)
            if s.kind == "rrf":
                parts = [self.run("bm25", which), self.run(s.encoder, which)]
                return runs.rrf_run(self.cache, parts, self.cfg.eval.rrf_u, depth, system)
            c_emb, c_key, q_emb, q_key = runs.truncated(
                *self.chunk_embeddings(s.encoder), *self.query_embeddings(s.encoder, texts), s.dim,
                system)
            return runs.dense_run(self.cache, q_emb, q_key, c_emb, c_key, ids, depth, s.name)
        return self._stage(f"{stage}:{system}:{which}", compute)

    # -- results ------------------------------------------------------------------------------
    def evaluate(self, systems: list[str] | None = None, which: str = "test") -> dict:
        """Per-query table, summary table and the paired-bootstrap comparisons of
        :func:`~bmembed_lab.evaluation.default_comparisons` for the systems, on one question
        set (:meth:`questions`: the test questions unless asked)."""
        systems = unique_systems(systems or list(self.cfg.eval.systems))
        q, runs_ = self.questions(which), {s: self.run(s, which) for s in systems}
        tables = self._stage(f"{runs.EVALUATION}:{which}:{'|'.join(systems)}",
                             lambda: runs.evaluation(self.cfg, self.cache, q, runs_)[0])
        notes = train.system_notes(self.cfg, systems, lambda m: self.trained(m)[0].info)
        return runs.evaluation_result(tables, q, notes, self.cfg.encoder.protocol)

    def check(self) -> dict:
        """`bmembed-lab check`: will BMEmbed help here? (:mod:`bmembed_lab.check`)"""
        return self._stage(diagnose.CHECK, lambda: diagnose.check(self.cache, self)[0])

    def perturbations(self, progress=None) -> tuple[PerturbationSet, str]:
        """Keywords, masked and substituted versions of the evaluation queries (cached)."""
        return self._stage(perturb.STAGE, lambda: perturb.perturbations(
            self.cfg, self.cache, *self.chunks(), *self.relevance(), self.questions().ids,
            self.questions().texts, progress, self.encoder("base")))

    def perturbation_study(self, systems: list[str] | None = None, progress=None) -> dict:
        """Every system on original / masked / substituted queries: the per-query table (with
        a variant column), the study table (changes with bootstrap intervals), the rank changes
        of each query's gold chunk, the set's counts and a computed reading of the numbers."""
        systems = unique_systems(systems or list(self.cfg.perturbation.systems))
        runs_ = perturb.study_runs(systems, self.run, progress)
        tables = self._stage(f"{perturb.STUDY}:{'|'.join(systems)}", lambda: perturb.study(
            self.cfg, self.cache, systems, runs_, *self.relevance())[0])
        return perturb.study_result(tables, self.perturbations()[0].counts)

    def alignment_uniformity(self, system: str = "base", max_points: int = 4000) -> dict:
        """Alignment (raw and normalised) of the evaluation (query, gold chunk) pairs and the
        uniformity of the chunks under an encoder (paper Appendix E); cached."""
        def run():
            v, _ = diagnose.alignment_uniformity(self.cache, *self.embeddings(system),
                                                 self.questions(), max_points, self.cfg.eval.seed)
            return v | {"system": system}
        return self._stage(f"{diagnose.DIAGNOSTICS}:{system}", run)

    def embedding_map(self, systems: tuple[str, ...] = ("base", methods.DEFAULT),
                      params: MapParams | None = None, projection: str = "umap") -> pd.DataFrame:
        """Joint 2-D UMAP (``projection`` "pca": PCA, instant and not cached) of the evaluation
        queries and the chunks under each encoder (one fit, comparable positions). Chunks
        beyond ``params.max_chunks`` are subsampled, always keeping the mapped queries' gold
        chunks."""
        args = (systems, params, self.questions().ids,
                self.relevance()[0].grades, [c.chunk_id for c in self.chunks()[0]],
                self.embeddings)
        if projection == "pca":
            return diagnose.pca_map(diagnose.map_points(*args)[0])
        return self._stage(f"{diagnose.EMBEDDING_MAP}:{'+'.join(systems)}:{hash(params)}",
                           lambda: diagnose.embedding_map(self.cache, *args)[0])

    def report(self) -> dict:
        """Counts worth printing beside the results."""
        return chunk.report(self.dataset()[0], self.chunks()[0], self.relevance()[0],
                            len(self.questions()), len(self.questions("dev")))
