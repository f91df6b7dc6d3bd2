"""The method's stages chained for one config: :class:`Pipeline` computes (or loads from the
stage cache) each stage once, in memory, records the seconds each took, and forgets a stage and
everything computed from it on :meth:`Pipeline.invalidate`. The CLI, the notebooks, the bench
and the tests all drive the workbench through it.

The stage wiring (cache keys, formats, the algorithm each stage calls) lives in
:mod:`bmembed_lab.stages`, one module per step; this file only chains them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from . import perturbation
from .cache import StageCache, texts_key
from .config import Config
from .encoder import LazyEncoder, check_device
from .errors import NotComputed
from .evaluation import (TRAINED, compare_all, default_comparisons, in_dev_split, metric_note,
                         parse_system, per_query_table, summary_table)
from .stages import chunk, diagnose, ingest, lists, perturb, queries, runs, train

if TYPE_CHECKING:
    import numpy as np

    from .bm25 import BM25Index
    from .chunking import Chunk
    from .corpus import Dataset
    from .embedmap import MapParams
    from .negatives import MinedPairs
    from .querygen import QuerySet
    from .relevance import Relevance
    from .retrieval import Run
    from .sampling import Ranking, TrainingLists


@dataclass
class Pipeline:
    """The stages chained for one config, each computed (or loaded) once per instance. Memo
    names are the stages' cache names, qualified after a colon (``dense_run:bmembed``)."""

    cfg: Config
    cache: StageCache = None  # type: ignore[assignment]
    read_only: bool = False  # only read the cache: a missing stage raises NotComputed
    timings: dict[str, float] = field(default_factory=dict)
    _memo: dict = field(default_factory=dict)
    _dependents: dict[str, set[str]] = field(default_factory=dict)
    _running: list = field(default_factory=list)  # [name, seconds of nested stages] frames

    def __post_init__(self):
        if self.cache is None:
            self.cache = StageCache(self.cfg.resolve(self.cfg.cache.dir), self.cfg.cache.enabled,
                                    self.read_only)
            if not self.read_only:
                self.cache.check_writable()
        check_device(self.cfg.encoder.device)

    # -- memo, timing, invalidation -------------------------------------------------------------
    def _stage(self, name: str, fn):
        """Compute ``name`` once; ``timings`` records its own seconds (nested stages excluded)
        and the memo records which stages were computed from it."""
        if self._running:
            self._dependents.setdefault(name, set()).add(self._running[-1][0])
        if name not in self._memo:
            self._running.append([name, 0.0])
            t = time.perf_counter()
            try:
                self._memo[name] = fn()
            finally:
                elapsed = time.perf_counter() - t
                _, nested = self._running.pop()
            self.timings[name] = elapsed - nested
            if self._running:
                self._running[-1][1] += elapsed
        return self._memo[name]

    def invalidate(self, stage: str) -> int:
        """Forget a stage so the next call recomputes it: its cache entries (every config) and
        every in-memory result of it (any qualifier) or computed from it. Notebooks' recompute
        buttons call this. Returns the number of cache entries removed."""
        todo = [n for n in self._memo if n == stage or n.startswith(stage + ":")]
        while todo:
            name = todo.pop()
            self._memo.pop(name, None)
            todo += [d for d in self._dependents.pop(name, ()) if d in self._memo]
        return self.cache.clear(stage)

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

    def eval_queries(self, split: str = "test") -> tuple[list[str], list[str]]:
        """Ids and texts of the labelled queries of one split: ``test`` (what every table
        reports) or ``dev`` (choices and model selection)."""
        return self._stage(f"relevance:{split}", lambda: chunk.evaluation_queries(
            self.cfg, self.dataset()[0], self.relevance()[0], split))

    def labelled(self) -> bool:
        """Whether any evaluation query has a relevant chunk. Without labels the workbench
        still trains and reports on held-out synthetic queries (:meth:`held_out_split`)."""
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
            *self.synthetic_queries(),
            self.cfg.eval.heldout_queries))

    def held_out_split(self, part: str = "report") -> tuple[list[str], list[str]]:
        """Ids and texts of the held-out keyword-style queries: ``dev`` (an
        ``eval.dev_fraction`` of them, which select the exported step when there are no
        labelled questions) or ``report`` (the rest; all of them when there are labels)."""
        def run():
            held = self.held_out()[0]
            frac = 0.0 if self.labelled() else self.cfg.eval.dev_fraction
            pick = [i for i, q in enumerate(held["ids"])
                    if in_dev_split(q, frac, self.cfg.eval.seed) == (part == "dev")]
            return [held["ids"][i] for i in pick], [held["texts"][i] for i in pick]
        return self._stage(f"{queries.HELDOUT}:{part}", run)

    def training_ranking(self, progress=None) -> tuple[Ranking, str]:
        return self._stage(lists.RANKING, lambda: lists.training_ranking(
            self.cfg, self.cache, *self.chunks(), *self.synthetic_queries(), self.bm25_index, progress))

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

    def training_inputs(self, method: str = "bmembed"):
        """(trainer input, its key): the lists (bmembed), the evidence pairs (cl) or the mined
        triples (mnrl)."""
        qs, qk = self.synthetic_queries()
        lists_, lk = self.training_lists() if method == "bmembed" else (None, "")
        mined, mk = self.mined_negatives() if method == "mnrl" else (None, "")
        data = train.training_data(method, qs, lists_, self.chunks()[0], mined)
        return data, {"bmembed": lk, "cl": qk, "mnrl": mk}.get(method, "")

    def dev_pool(self):
        """(dev pool, its key, chunk texts) that select a training run's exported step, or None
        (no dev split, or ``training.eval_every`` = 0)."""
        def run():
            if not self.cfg.training.eval_every:
                return None
            labelled = self.labelled()
            if labelled:
                (ids, texts), variant, rel = self.eval_queries("dev"), "dev", self.relevance()[0]
            else:  # no labels: held-out synthetic queries (agreement with the teacher)
                (ids, texts), variant = self.held_out_split("dev"), "heldout_dev"
                rel = queries.held_out_relevance(self.held_out()[0])
            if not ids:
                return None
            parts = [self.run("bm25", variant), self.run("base", variant)]
            pool, key = train.dev_pool(self.cfg, ids, texts, [r for r, _ in parts], rel,
                                       "+".join(k for _, k in parts), labelled)
            return pool, key, [c.text for c in self.chunks()[0]]
        return self._stage(f"{train.MODEL}:dev_pool", run)

    def trained(self, method: str = "bmembed", on_step=None, progress: bool = True,
                accelerator=None) -> tuple[train.TrainedModel, str]:
        return self._stage(f"{train.MODEL}:{method}", lambda: train.trained(
            self.cfg, self.cache, method, *self.training_inputs(method), on_step=on_step,
            progress=progress, accelerator=accelerator, dev=self.dev_pool()))

    def cached_models(self) -> list[str]:
        """Trained methods whose export is already in the cache for this config. Nothing is
        trained or mined: only the keys of the training data are computed."""
        try:  # (a read-only pipeline: what is not cached yet has no cached model either)
            qs, qk = self.synthetic_queries()
            dev = self.dev_pool()
        except NotComputed:
            return []
        keys = {"bmembed": lambda: self.training_lists()[1],
                "cl": lambda: qk if any(q.evidence for q in qs.queries) else None,
                "mnrl": lambda: train.negatives_key(self.cfg, qk, self._negatives_source()[1])[1]}
        dev_key = dev[1] if dev is not None and len(dev[0]) else ""
        out = []
        for m in TRAINED:
            try:
                key = keys[m]()
            except NotComputed:
                continue
            if key is not None and self.cache.has(train.MODEL, train.model_key(self.cfg, m, key, dev_key)[3]):
                out.append(m)
        return out

    def unfinished_runs(self) -> dict:
        """Run key -> checkpoints of training runs not yet exported (a rerun resumes them)."""
        return train.unfinished_runs(self.cache)

    # -- encoders and runs (paper Section 4) ------------------------------------------------------
    def encoder(self, name: str = "base") -> LazyEncoder:
        """The base encoder, or a trained method's export (its ``merged/`` carries the module
        stack it was trained and evaluated with); lazy: its model loads only when something is
        encoded (cache keys need only its identity)."""
        from dataclasses import replace

        def run():
            if name == "base":
                return LazyEncoder(self.cfg.encoder)
            if name.startswith("folder:"):  # an earlier export (its merged/ model) or any folder
                folder = self.cfg.resolve(name[len("folder:"):])
                model = folder / "merged" if (folder / "merged" / "config.json").is_file() else folder
            else:
                model = self.trained(name)[0].merged
            return LazyEncoder(replace(self.cfg.encoder, model=str(model)))
        return self._stage(f"encoder:{name}", run)

    def chunk_embeddings(self, name: str = "base", on_batch=None, accelerator=None) -> tuple[np.ndarray, str]:
        """(the chunks' embeddings under an encoder, key); with an ``accelerator`` of several
        processes each encodes its share and only the main process gets the array."""
        def run():
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
        return (c_emb, c_key, *self.query_embeddings(name, self.eval_queries()[1]))

    def run(self, system: str, variant: str = "original") -> tuple[Run, str]:
        """A system's run over the test queries, over one perturbed ``variant`` of them (masked
        / substituted), over the dev queries (``dev``) or the held-out keyword-style queries
        (``heldout``). Systems: :data:`bmembed_lab.evaluation.SYSTEMS_HELP`."""
        s = parse_system(system)
        stage = {"bm25": runs.BM25_RUN, "dense": runs.DENSE_RUN, "rrf": runs.RRF_RUN}[s.kind]

        def compute():
            if variant in ("original", "dev"):
                ids, texts = self.eval_queries("test" if variant == "original" else "dev")
            elif variant in ("heldout", "heldout_dev"):
                ids, texts = self.held_out_split("dev" if variant == "heldout_dev" else "report")
            else:
                ids, texts = self.perturbations()[0].variant(variant)
            depth = self.cfg.eval.depth
            if s.kind == "bm25":
                return runs.bm25_run(self.cfg, self.cache, self.chunks()[1], self.bm25_index, ids,
                                     texts, texts_key(ids + texts), depth)
            if s.kind == "rrf":
                parts = [self.run("bm25", variant), self.run(s.encoder, variant)]
                return runs.rrf_run(self.cache, parts, self.cfg.eval.rrf_u, depth, system)
            c_emb, c_key, q_emb, q_key = runs.truncated(
                *self.chunk_embeddings(s.encoder), *self.query_embeddings(s.encoder, texts), s.dim, system)
            return runs.dense_run(self.cache, q_emb, q_key, c_emb, c_key, ids, depth, s.name)
        return self._stage(f"{stage}:{system}:{variant}", compute)

    # -- results ------------------------------------------------------------------------------
    def evaluate(self, systems: list[str] | None = None, query_set: str = "test") -> dict:
        """Per-query table, summary table and the paired-bootstrap comparisons of
        :func:`~bmembed_lab.evaluation.default_comparisons` for the systems, on the test
        questions or (``heldout``) the held-out keyword-style queries."""
        systems = systems or list(self.cfg.eval.systems)
        if query_set == "test":
            rel, rel_key = self.relevance()
        else:
            rel, rel_key = queries.held_out_relevance(self.held_out()[0]), self.held_out()[1]
        variant = "original" if query_set == "test" else query_set
        ks = tuple(self.cfg.eval.ks)
        runs_ = {s: self.run(s, variant) for s in systems}
        pairs = default_comparisons(systems)

        def compute() -> dict:
            per_query = pd.concat([per_query_table(runs_[s][0], rel, ks) for s in systems],
                                  ignore_index=True)
            return {"per_query": per_query, "comparisons": compare_all(
                per_query, pairs, self.cfg.eval.bootstrap, self.cfg.eval.seed)}
        conf = {"systems": [parse_system(s).name for s in systems], "ks": list(ks), "pairs": pairs,
                "bootstrap": self.cfg.eval.bootstrap, "seed": self.cfg.eval.seed, "queries": query_set}
        tables, _ = self._stage(f"{runs.EVALUATION}:{variant}:{'|'.join(systems)}", lambda: runs.evaluation(
            self.cache, conf, [k for _, k in runs_.values()], rel_key, compute))
        notes = [train.worse_than_base_line(s, self.trained(s)[0].info.get("selection"))
                 for s in dict.fromkeys(parse_system(x).encoder for x in systems) if s in TRAINED]
        notes += [train.folder_note(s.name, self.cfg.resolve(s.folder), self.cfg.encoder.protocol)
                  for s in map(parse_system, systems) if s.folder]
        return {"per_query": tables["per_query"], "summary": summary_table(tables["per_query"]),
                "metric note": metric_note(tables["per_query"], rel.n_facts),
                "comparisons": tables["comparisons"], "notes": [n for n in notes if n],
                "protocol": self.cfg.encoder.protocol}

    def perturbations(self, progress=None) -> tuple[perturbation.PerturbationSet, str]:
        """Keywords, masked and substituted versions of the evaluation queries (cached)."""
        return self._stage(perturb.STAGE, lambda: perturb.perturbations(
            self.cfg, self.cache, *self.chunks(), *self.relevance(), *self.eval_queries(), progress,
            self.encoder("base")))

    def perturbation_study(self, systems: list[str] | None = None, progress=None) -> dict:
        """Every system on original / masked / substituted queries: the per-query table (with
        a variant column), the study table (changes with bootstrap intervals), the rank changes
        of each query's gold chunk, the set's counts and a computed reading of the numbers."""
        systems = systems or list(self.cfg.perturbation.systems)
        for s in systems:
            parse_system(s, "perturbation.systems", folders=False)
        (rel, rel_key), ks = self.relevance(), tuple(self.cfg.eval.ks)
        todo = [(s, v) for s in systems for v in perturbation.VARIANTS]
        runs_ = {}
        for i, (s, v) in enumerate(todo):
            runs_[s, v] = self.run(s, v)
            if progress:
                progress(i + 1, len(todo))
        conf = {"systems": [parse_system(s).name for s in systems], "ks": list(ks),
                "bootstrap": self.cfg.eval.bootstrap, "seed": self.cfg.eval.seed}

        def compute() -> dict:
            res = perturbation.run_study(systems, lambda s, v: per_query_table(runs_[s, v][0], rel, ks),
                                         self.cfg.eval.bootstrap, self.cfg.eval.seed)
            return {"per_query": res["per_query"], "study": res["study"]}
        tables, _ = self._stage(f"{perturb.STUDY}:{'|'.join(systems)}", lambda: perturb.study(
            self.cache, conf, [k for _, k in runs_.values()], rel_key, compute))
        pq, study = tables["per_query"], tables["study"]
        return {"per_query": pq, "study": study, "table": perturbation.table5(study),
                "rank_changes": perturbation.rank_changes(pq), "reading": perturbation.reading(study),
                "counts": self.perturbations()[0].counts}

    def alignment_uniformity(self, system: str = "base", max_points: int = 4000) -> dict:
        """Alignment (raw and normalised) of the evaluation (query, gold chunk) pairs and the
        uniformity of the chunks under an encoder (paper Appendix E); cached."""
        def run():
            c_emb, c_key, q_emb, q_key = self.embeddings(system)
            rel, rk = self.relevance()
            pairs = [(i, c) for i, q in enumerate(self.eval_queries()[0]) for c in rel.grades[q]]
            v, _ = diagnose.alignment_uniformity(self.cache, q_emb, q_key, c_emb, c_key, pairs, rk,
                                                 max_points, self.cfg.eval.seed)
            return v | {"system": system}
        return self._stage(f"{diagnose.DIAGNOSTICS}:{system}", run)

    def embedding_map(self, systems: tuple[str, ...] = ("base", "bmembed"),
                      params: MapParams | None = None) -> pd.DataFrame:
        """Joint 2-D UMAP of the evaluation queries and the chunks under each encoder (one fit,
        comparable positions). Chunks beyond ``params.max_chunks`` are subsampled, always
        keeping the mapped queries' gold chunks."""
        return self._stage(f"{diagnose.EMBEDDING_MAP}:{'+'.join(systems)}:{hash(params)}",
                           lambda: diagnose.embedding_map(
                               self.cache, systems, params, self.eval_queries()[0],
                               self.relevance()[0].grades, [c.chunk_id for c in self.chunks()[0]],
                               self.embeddings)[0])

    def report(self) -> dict:
        """Counts worth printing beside the results."""
        ds, _ = self.dataset()
        rel, _ = self.relevance()
        return {"documents": len(ds.documents), "chunks": len(self.chunks()[0]),
                "queries": len(ds.queries), "labelled queries with a relevant chunk": len(rel.grades),
                "evaluated queries": len(self.eval_queries()[0]),
                "dev queries (held out of the tables)": len(self.eval_queries("dev")[0]),
                "labelled queries without a relevant chunk (excluded)": len(rel.no_relevant),
                "gold facts matching no chunk": rel.unmatched_facts,
                **{f"skipped: {k}": v for k, v in ds.skipped.items()}}
