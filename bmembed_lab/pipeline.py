"""The pipeline's stages over the stage cache: ingest -> chunk -> relevance -> runs (BM25,
dense, RRF) -> evaluation. Each stage is a plain function returning (value, cache key); the key
hashes the stage's config, its inputs' keys and its code version, so a change anywhere
upstream recomputes exactly what depends on it. :class:`Pipeline` chains them with in-memory
memoisation for the CLI, the notebooks and the tests.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import bm25 as bm25_mod
from . import chunking, corpus, encoder as encoder_mod, relevance as relevance_mod, retrieval
from . import diagnostics, embedmap, llm as llm_mod, negatives as negatives_mod, partitions, querygen, sampling
from . import perturbation as perturbation_mod, wordnet as wordnet_mod
from . import training as training_mod
from .cache import (StageCache, cached, code_version, load_npy, read_json, read_jsonl, save_npy,
                    write_json, write_jsonl)
from .chunking import Chunk
from .config import Config
from .corpus import Dataset
from .errors import InputError
from .evaluation import compare_systems, per_query_table, sample_queries, summary_table
from .relevance import Relevance
from .retrieval import Run

log = logging.getLogger(__name__)


# -- input fingerprints ------------------------------------------------------------------
def files_fingerprint(paths: list[Path], root: Path | None = None) -> str:
    """Hash of the files' contents and their names relative to ``root`` (else their base
    names): the same data gives the same key however the config spells its path
    ("configs/../data" or an absolute one)."""
    h = hashlib.sha256()
    for p in sorted(paths):
        name = os.path.relpath(os.path.abspath(p), os.path.abspath(root)) if root else Path(p).name
        h.update(name.encode())
        with open(p, "rb") as f:
            while block := f.read(1 << 22):
                h.update(block)
    return h.hexdigest()[:16]


def corpus_files(cfg: Config) -> list[Path]:
    c = cfg.corpus
    root = cfg.resolve(c.path)
    if not root.exists():
        raise InputError("corpus path not found", str(root),
                         "set corpus.path (relative to the config file) to an existing file or folder")
    if root.is_dir():
        files = [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]
    else:
        files = [root]
    files += [cfg.resolve(p) for p in (c.queries, c.qrels, c.evidence) if p]
    return files


# -- stages ------------------------------------------------------------------------------
def load_dataset(cfg: Config, cache: StageCache) -> tuple[Dataset, str]:
    """Ingest the corpus, queries and labels named by ``[corpus]``."""
    c = cfg.corpus
    where = str(cfg.resolve(c.path))

    def compute() -> Dataset:
        path = cfg.resolve(c.path)
        if c.format == "beir":
            if not path.is_dir():
                raise InputError("corpus.format = 'beir' needs a folder", where,
                                 "point corpus.path at a folder with corpus.jsonl, or set corpus.format")
            ds = corpus.load_beir(path, c.split, c.encoding_errors, c.skip_bad_lines)
        else:
            from collections import Counter

            skipped: Counter = Counter()
            if c.format == "jsonl":
                docs = corpus.load_jsonl_documents(path, c.id_field, c.text_field, c.title_field,
                                                   c.encoding_errors, c.skip_bad_lines, skipped)
            else:
                docs = corpus.load_folder_documents(path, c.encoding_errors, skipped)
            ds = Dataset(path.stem, docs, skipped=dict(skipped))
        if c.queries:
            ds.queries = corpus.load_queries(cfg.resolve(c.queries), c.query_id_field,
                                             c.query_text_field, c.encoding_errors, c.skip_bad_lines)
        if c.qrels:
            ds.qrels = corpus.load_qrels_tsv(cfg.resolve(c.qrels))
        if c.evidence:
            ds.evidence = corpus.load_evidence(cfg.resolve(c.evidence), c.encoding_errors)
        return corpus.check_dataset(ds, where)

    def save(ds: Dataset, d: Path) -> None:
        r = ds.to_records()
        write_jsonl(d / "documents.jsonl", r.pop("documents"))
        write_json(d / "dataset.json", r)

    def load(d: Path) -> Dataset:
        return Dataset.from_records({**read_json(d / "dataset.json"),
                                     "documents": read_jsonl(d / "documents.jsonl")})

    # file locations are left out: their contents and relative names are in the fingerprint
    conf = {k: v for k, v in asdict(c).items() if k not in ("max_queries", "path", "queries", "qrels", "evidence")}
    conf["files"] = {k: bool(getattr(c, k)) for k in ("queries", "qrels", "evidence")}
    root = cfg.resolve(c.path)
    return cached(cache, "dataset", conf, [files_fingerprint(corpus_files(cfg), root if root.is_dir() else root.parent)],
                  code_version(corpus), compute, save, load)


def tokenizer_name(cfg: Config) -> str:
    return cfg.chunking.tokenizer or cfg.encoder.model


def chunk_corpus(cfg: Config, cache: StageCache, ds: Dataset, ds_key: str
                 ) -> tuple[list[Chunk], str]:
    """Chunk every document with the encoder's tokenizer (see chunking)."""
    ch = cfg.chunking
    tok_path = encoder_mod.resolve_model_path(tokenizer_name(cfg))

    def compute() -> list[Chunk]:
        tok = encoder_mod.load_tokenizer(tokenizer_name(cfg))
        out = chunking.chunk_documents(ds.documents, tok, ch.chunk_tokens, ch.overlap_tokens)
        if not out:
            raise InputError("chunking produced no chunks", cfg.corpus.path,
                             "check that the documents contain text")
        return out

    return cached(cache, "chunks", asdict(ch) | {"tokenizer": encoder_mod.model_fingerprint(tok_path)},
                  [ds_key], code_version(chunking), compute,
                  lambda v, d: write_jsonl(d / "chunks.jsonl", (c.to_record() for c in v)),
                  lambda d: [Chunk(**r) for r in read_jsonl(d / "chunks.jsonl")])


def chunk_relevance(cfg: Config, cache: StageCache, ds: Dataset, ds_key: str,
                    chunks: list[Chunk], chunks_key: str) -> tuple[Relevance, str]:
    r = cfg.relevance
    return cached(cache, "relevance", asdict(r), [ds_key, chunks_key], code_version(relevance_mod),
                  lambda: relevance_mod.chunk_relevance(ds, chunks, r.match, r.case_sensitive),
                  lambda v, d: write_json(d / "relevance.json", v.to_json()),
                  lambda d: Relevance.from_json(read_json(d / "relevance.json")))


def text_key(texts: list[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode())
        h.update(b"\x00")
    return h.hexdigest()[:16]


def bm25_index(cfg: Config, chunks: list[Chunk]) -> bm25_mod.BM25Index:
    return bm25_mod.BM25Index.build(bm25_mod.tokenize_cfg([c.text for c in chunks], cfg.bm25),
                                    cfg.bm25)


def bm25_stage(cfg: Config, cache: StageCache, chunks: list[Chunk], chunks_key: str,
               query_ids: list[str], query_texts: list[str], k: int, index_fn=None
               ) -> tuple[Run, str]:
    """BM25 top-k of each query over the chunks."""
    def compute() -> Run:
        idx = index_fn() if index_fn is not None else bm25_index(cfg, chunks)
        return retrieval.bm25_run(idx, query_ids, bm25_mod.tokenize_cfg(query_texts, cfg.bm25), k)

    return cached(cache, "bm25_run", asdict(cfg.bm25) | {"k": k},
                  [chunks_key, text_key(query_ids + query_texts)],
                  code_version(bm25_mod, retrieval), compute, lambda v, d: v.save(d), Run.load)


def embed_stage(cache: StageCache, enc: encoder_mod.Encoder, texts: list[str], is_query: bool,
                inputs_key: str, on_batch=None) -> tuple[np.ndarray, str]:
    """Embeddings of texts (cached per encoder identity and inputs)."""
    return cached(cache, "embeddings", enc.identity | {"is_query": is_query}, [inputs_key],
                  code_version(encoder_mod),
                  lambda: enc.encode(texts, is_query=is_query, on_batch=on_batch),
                  lambda v, d: save_npy(d / "embeddings.npy", v),
                  lambda d: load_npy(d / "embeddings.npy"))


def dense_stage(cache: StageCache, q_emb: np.ndarray, q_key: str, c_emb: np.ndarray, c_key: str,
                query_ids: list[str], k: int, system: str) -> tuple[Run, str]:
    return cached(cache, "dense_run", {"k": k, "system": system}, [q_key, c_key],
                  code_version(retrieval),
                  lambda: retrieval.dense_run(q_emb, c_emb, query_ids, k, system),
                  lambda v, d: v.save(d), Run.load)


def rrf_stage(cache: StageCache, runs: list[tuple[Run, str]], u: int, k: int, system: str
              ) -> tuple[Run, str]:
    return cached(cache, "rrf_run", {"u": u, "k": k, "system": system}, [key for _, key in runs],
                  code_version(retrieval),
                  lambda: retrieval.rrf([r for r, _ in runs], u, k, system), lambda v, d: v.save(d), Run.load)


def queries_stage(cfg: Config, cache: StageCache, ds: Dataset, ds_key: str, progress=None
                  ) -> tuple[querygen.QuerySet, str]:
    """Synthetic training queries (queries.backend), filtered and checked against the
    dataset's evaluation queries for leakage. LLM replies are cached one by one under
    ``<cache>/llm_calls`` as they arrive, so an interrupted run resumes where it stopped."""
    q = cfg.queries
    conf = asdict(q)
    inputs = [ds_key]
    if q.backend == "llm":
        conf["llm"] = {k: v for k, v in asdict(cfg.llm).items()
                       if k not in ("concurrency", "max_retries", "backoff", "timeout")}
    if q.backend == "file":
        path = cfg.resolve(q.file)
        if not path.is_file():
            raise InputError("queries file not found", str(path), "set queries.file to a JSONL file")
        inputs.append(files_fingerprint([path]))
    eval_q = [(x.query_id, x.text) for x in ds.queries]

    def compute():
        client = None
        if q.backend == "llm":
            calls_dir = cache.sub_store("llm_calls") if cache.enabled else None
            client = llm_mod.LLMClient(cfg.llm, calls_dir)
        qc = q
        if q.backend == "file":
            from dataclasses import replace

            qc = replace(q, file=str(cfg.resolve(q.file)))
        return querygen.generate_queries(ds.documents, qc, client, eval_q, progress)

    return cached(cache, "queries", conf, inputs, code_version(querygen, llm_mod), compute,
                  lambda v, d: write_json(d / "queries.json", v.to_json()),
                  lambda d: querygen.QuerySet.from_json(read_json(d / "queries.json")))


def training_ranking_stage(cfg: Config, cache: StageCache, chunks: list[Chunk], chunks_key: str,
                           qs: querygen.QuerySet, qs_key: str, index_fn=None, progress=None
                           ) -> tuple[sampling.Ranking, str]:
    """BM25 top-k (sampling.k) of every synthetic query over the chunks."""
    s = cfg.sampling

    def compute():
        idx = index_fn() if index_fn is not None else bm25_index(cfg, chunks)
        excl = sampling.duplicate_mask([c.text for c in chunks]) if s.drop_duplicate_chunks else None
        return sampling.rank_for_training(idx, [x.query_id for x in qs.queries],
                                          [x.text for x in qs.queries], cfg.bm25, s.k, excl, progress)

    return cached(cache, "train_ranking", asdict(cfg.bm25) | {"k": s.k, "dedup": s.drop_duplicate_chunks},
                  [chunks_key, qs_key], code_version(bm25_mod, sampling), compute,
                  lambda v, d: v.save(d), sampling.Ranking.load)


def lists_stage(cfg: Config, cache: StageCache, ranking: sampling.Ranking, ranking_key: str,
                chunks: list[Chunk]) -> tuple[sampling.TrainingLists, str]:
    """Training lists drawn by rank partitions (sampling.*)."""
    s = cfg.sampling
    conf = {k: v for k, v in asdict(s).items() if k != "drop_duplicate_chunks"}
    return cached(cache, "lists", conf, [ranking_key], code_version(sampling, partitions),
                  lambda: sampling.sample_lists(ranking, s, [c.chunk_id for c in chunks]),
                  lambda v, d: v.save(d), sampling.TrainingLists.load)


def negatives_stage(cfg: Config, cache: StageCache, qs: querygen.QuerySet, qs_key: str,
                    chunks: list[Chunk], source: str, cand_fn, source_key: str
                    ) -> tuple[negatives_mod.MinedPairs, str]:
    """(query, source chunk, hard negatives) for the mnrl baseline. ``cand_fn(queries)`` gives
    the miner's (candidate indices, scores, positive-score function) over the queries kept."""
    t = cfg.training
    conf = {"from": source, "n": t.hard_negatives, "depth": t.negative_depth, "margin": t.negative_margin}

    def compute():
        ci, cs, pos_fn = cand_fn()
        return negatives_mod.mine_pairs(qs.queries, chunks, ci, cs, pos_fn, t.hard_negatives,
                                        t.negative_depth, t.negative_margin)

    def save(v: negatives_mod.MinedPairs, d: Path) -> None:
        write_json(d / "pairs.json", {"query_ids": v.query_ids, "queries": v.queries, "counts": v.counts})
        save_npy(d / "positives.npy", v.positives)
        save_npy(d / "negatives.npy", v.negatives)

    def load(d: Path) -> negatives_mod.MinedPairs:
        m = read_json(d / "pairs.json")
        return negatives_mod.MinedPairs(m["query_ids"], m["queries"], load_npy(d / "positives.npy"),
                                        load_npy(d / "negatives.npy"), m["counts"])

    return cached(cache, "negatives", conf, [qs_key, source_key], code_version(negatives_mod),
                  compute, save, load)


def training_data(method: str, qs: querygen.QuerySet, lists: sampling.TrainingLists,
                  chunks: list[Chunk], mined: negatives_mod.MinedPairs | None = None):
    """The trainer's input: BM25 lists for bmembed, (query, evidence) pairs for cl, (query,
    source chunk, mined hard negatives) for mnrl."""
    if method == "mnrl":
        return training_mod.PairData(list(mined.queries), [chunks[i].text for i in mined.positives],
                                     [[chunks[j].text for j in row] for row in mined.negatives])
    if method == "bmembed":
        return training_mod.ListData(list(lists.query_texts),
                                     [[chunks[j].text for j in row] for row in lists.chunk_indices],
                                     lists.scores)
    if method == "cl":
        pairs = [(q.text, q.evidence[0]) for q in qs.queries if q.evidence]
        if not pairs:
            raise InputError("no training query has evidence text", "queries",
                             "the CL baseline needs evidence (offline and llm backends keep it)")
        return training_mod.PairData([a for a, _ in pairs], [b for _, b in pairs])
    raise InputError(f"unknown training method {method!r}", "training.method",
                     "use bmembed, cl or mnrl")


def perturbation_stage(cfg: Config, cache: StageCache, chunks: list[Chunk], chunks_key: str,
                       rel: Relevance, rel_key: str, ids: list[str], texts: list[str], progress=None
                       ) -> tuple[perturbation_mod.PerturbationSet, str]:
    """Keywords, masked and substituted queries of the evaluation queries (paper Section 6)."""
    p = cfg.perturbation
    conf = {k: v for k, v in asdict(p).items() if k != "systems"}
    llm_used = "llm" in (p.keywords, p.substitution)
    model = p.llm_model or cfg.llm.extract_model
    if llm_used:
        conf["llm"] = {"base_url": cfg.llm.base_url, "model": model, "temperature": cfg.llm.temperature}
    wn_dir = cfg.resolve(p.wordnet_dir)
    if p.substitution == "wordnet":  # missing data fails here, with the fix, before any work
        conf["wordnet_dir"] = files_fingerprint(wordnet_mod.WordNet.database_files(wn_dir))

    def compute():
        chunk_texts = [c.text for c in chunks]
        gold = [[chunk_texts[c] for c in rel.grades[q]] for q in ids]
        counts: dict = {}
        subs, kws = None, None
        if p.keywords == "offline":
            idf, common = perturbation_mod.keyword_statistics(chunk_texts, p.max_df)
            kws = [perturbation_mod.offline_keywords(t, g, idf, p.max_keywords, common, p.min_chars)
                   for t, g in zip(texts, gold)]
        if llm_used:
            client = llm_mod.LLMClient(cfg.llm, cache.sub_store("llm_calls") if cache.enabled else None)
            kws, subs, counts = perturbation_mod.llm_keywords_and_substitutes(
                texts, gold, client, model, p.max_keywords, p.substitution == "llm", progress,
                keywords=kws if p.keywords == "offline" else None)
        if p.substitution == "wordnet":
            wn = wordnet_mod.WordNet.load(wn_dir)
            subs = [perturbation_mod.wordnet_substitutions(t, k, wn, p.max_senses) for t, k in zip(texts, kws)]
        return perturbation_mod.build_set(ids, texts, kws, subs, p.mask_token, counts)

    return cached(cache, "perturbations", conf, [chunks_key, rel_key, text_key(ids + texts)],
                  code_version(perturbation_mod, wordnet_mod, llm_mod), compute,
                  lambda v, d: write_json(d / "perturbations.json", v.to_json()),
                  lambda d: perturbation_mod.PerturbationSet.from_json(read_json(d / "perturbations.json")))


@dataclass
class TrainedModel:
    path: Path  # the export folder: merged/, adapter/ (LoRA), README.md, train.json
    info: dict

    @property
    def merged(self) -> Path:
        return self.path / "merged"


def train_key(cfg: Config, method: str, data_key: str):
    """(effective training config, base model path, keyed config, stage key) of a training run."""
    from dataclasses import replace

    tcfg = replace(cfg.training, method=method)
    if method in ("cl", "mnrl"):  # in-batch negatives: the paper's CL batch of 16
        tcfg = replace(tcfg, batch_size=max(tcfg.batch_size, 16))
    base = encoder_mod.resolve_model_path(cfg.encoder.model)
    conf = {"training": asdict(tcfg), "encoder": asdict(cfg.encoder) | {"model": encoder_mod.model_fingerprint(base)}}
    conf["training"].pop("checkpoint_every")
    conf["training"].pop("keep_checkpoints")
    return tcfg, base, conf, StageCache.make_key("model", conf, [data_key], code_version(training_mod, encoder_mod))


def train_stage(cfg: Config, cache: StageCache, method: str, data, data_key: str,
                on_step=None, progress: bool = True, accelerator=None) -> tuple[TrainedModel, str]:
    """Fine-tune the configured encoder with ``method`` and export it. Checkpoints live in
    ``<cache>/train_runs/<key>/`` until the export is stored, so a killed run resumes.
    With an ``accelerator`` (DDP) every rank trains, the ranks' weights are compared, and rank 0
    exports while the others wait and then read the stored export."""
    tcfg, base, conf, key = train_key(cfg, method, data_key)
    entry = cache.lookup("model", key)
    if entry is None:
        enc = training_mod.prepare_model(encoder_mod.Encoder.load(cfg.encoder), tcfg)
        run_dir = cache.sub_store("train_runs") / key
        result = training_mod.train(enc, data, tcfg, run_dir, on_step=on_step, progress=progress,
                                    accelerator=accelerator)
        digests = training_mod.rank_digests(enc.model, accelerator)
        if accelerator is not None and not accelerator.is_main_process:
            accelerator.wait_for_everyone()  # rank 0 exports
            return TrainedModel(cache.lookup("model", key).path, {"rank_weight_digests": digests}), key
        info = {"name": f"{base.name} + {method}", "base_model": str(base),
                "base_fingerprint": encoder_mod.model_fingerprint(base), "method": method,
                "data_key": data_key, "config_hash": key, "steps": result.steps,
                "seconds": result.seconds, "final_loss": result.losses[-1]["loss"],
                "trainable_parameters": result.trainable_parameters,
                "total_parameters": result.total_parameters, "resumed_from": result.resumed_from,
                "pooling": enc.pooling, "hyperparameters": asdict(tcfg), "losses": result.losses,
                "processes": len(digests), "rank_weight_digests": digests}

        def write(d: Path) -> None:
            training_mod.export_model(enc, base, d, info)
            write_json(d / "train.json", info)

        if not cache.enabled:
            out = run_dir / "export"
            shutil.rmtree(out, ignore_errors=True)
            write(out)
            return TrainedModel(out, info), key
        entry = cache.store("model", key, write, {"config": conf, "inputs": [data_key]})
        shutil.rmtree(run_dir, ignore_errors=True)  # checkpoints are no longer needed
        if accelerator is not None:
            accelerator.wait_for_everyone()
    return TrainedModel(entry.path, read_json(entry.path / "train.json")), key


def _dimension(dim: str, full: int, system: str) -> int:
    if not dim.isdigit() or not 0 < int(dim) <= full:
        raise InputError(f"system '{system}'", "eval.systems",
                         f"write name@d with 1 <= d <= {full} (the model's dimension)")
    return int(dim)


def _bm25_candidates(qs: querygen.QuerySet, ranking: sampling.Ranking, index, cfg: Config, depth: int):
    """The training ranking's top ``depth`` per synthetic query (queries it skipped: none)."""
    row = {q: i for i, q in enumerate(ranking.query_ids)}
    n = len(qs.queries)
    ci = np.full((n, depth), -1, dtype=np.int64)
    cs = np.full((n, depth), np.nan)
    for i, q in enumerate(qs.queries):
        if q.query_id in row:
            r = row[q.query_id]
            ci[i], cs[i] = ranking.indices[r, :depth], ranking.scores[r, :depth]

    def pos_fn(rows, pos):
        toks = bm25_mod.tokenize_cfg([qs.queries[r].text for r in rows], cfg.bm25)
        return index.pair_scores(toks, pos)
    return ci, cs, pos_fn


# -- the chained pipeline ------------------------------------------------------------------
TRAINED = ("bmembed", "cl", "mnrl")


@dataclass
class Pipeline:
    """The stages chained for one config, each computed (or loaded) once per instance."""

    cfg: Config
    cache: StageCache = None  # type: ignore[assignment]
    timings: dict[str, float] = field(default_factory=dict)
    _memo: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.cache is None:
            self.cache = StageCache(self.cfg.resolve(self.cfg.cache.dir), self.cfg.cache.enabled)

    def _stage(self, name: str, fn):
        """Compute a stage once; ``timings`` records its own seconds, nested stages excluded."""
        if name not in self._memo:
            stack = self._memo.setdefault("_timing_stack", [])
            stack.append(0.0)
            t = time.perf_counter()
            self._memo[name] = fn()
            elapsed = time.perf_counter() - t
            self.timings[name] = elapsed - stack.pop()
            if stack:
                stack[-1] += elapsed
        return self._memo[name]

    def invalidate(self, stage: str, memo_prefix: str | None = None) -> int:
        """Forget a stage so the next call recomputes it: its cache entries (every config) and
        this pipeline's in-memory results whose name starts with ``memo_prefix`` (default: the
        stage name). Notebooks' recompute buttons call this. Returns the entries removed."""
        prefix = memo_prefix or stage
        for name in [k for k in self._memo if k.startswith(prefix)]:
            del self._memo[name]
        return self.cache.clear(stage)

    def dataset(self) -> tuple[Dataset, str]:
        return self._stage("ingest", lambda: load_dataset(self.cfg, self.cache))

    def chunks(self) -> tuple[list[Chunk], str]:
        def run():
            ds, key = self.dataset()
            out = chunk_corpus(self.cfg, self.cache, ds, key)
            warn = chunking.check_chunk_length(self.cfg.chunking.chunk_tokens, self.encoder_max_length())
            if warn:
                log.warning(warn)
            return out
        return self._stage("chunk", run)

    def encoder_max_length(self) -> int:
        path = encoder_mod.resolve_model_path(self.cfg.encoder.model)
        limit = encoder_mod._st_max_length(path)
        if limit is None:
            import json

            limit = json.loads((path / "config.json").read_text()).get("max_position_embeddings", 512)
        return min(self.cfg.encoder.max_length or limit, limit)

    def relevance(self) -> tuple[Relevance, str]:
        def run():
            ds, dk = self.dataset()
            ch, ck = self.chunks()
            rel, key = chunk_relevance(self.cfg, self.cache, ds, dk, ch, ck)
            if rel.no_relevant:
                log.warning("%d labelled queries have no relevant chunk after chunking (gold text "
                            "cut by a chunk boundary or absent); they are excluded from evaluation "
                            "and listed in Pipeline.relevance()[0].no_relevant", len(rel.no_relevant))
            return rel, key
        return self._stage("relevance", run)

    def eval_queries(self) -> tuple[list[str], list[str]]:
        """Ids and texts of the evaluation queries (labelled, with a relevant chunk, sampled)."""
        def run():
            ds, _ = self.dataset()
            rel, _ = self.relevance()
            if not rel.grades:
                raise InputError("no evaluation query has a relevant chunk", self.cfg.corpus.path,
                                 "check the queries/qrels/evidence files and relevance.match")
            ids = sample_queries([q for q in rel.grades], self.cfg.corpus.max_queries, self.cfg.eval.seed)
            text = {q.query_id: q.text for q in ds.queries}
            return ids, [text[q] for q in ids]
        return self._stage("eval_queries", run)

    def bm25_index(self) -> bm25_mod.BM25Index:
        return self._stage("bm25_index", lambda: bm25_index(self.cfg, self.chunks()[0]))

    def bm25_run(self) -> tuple[Run, str]:
        def run():
            ch, ck = self.chunks()
            ids, texts = self.eval_queries()
            return bm25_stage(self.cfg, self.cache, ch, ck, ids, texts, self.cfg.eval.depth,
                              index_fn=self.bm25_index)
        return self._stage("bm25", run)

    def synthetic_queries(self, progress=None) -> tuple[querygen.QuerySet, str]:
        def run():
            ds, dk = self.dataset()
            return queries_stage(self.cfg, self.cache, ds, dk, progress)
        return self._stage("queries", run)

    def training_ranking(self, progress=None) -> tuple[sampling.Ranking, str]:
        def run():
            ch, ck = self.chunks()
            qs, qk = self.synthetic_queries()
            return training_ranking_stage(self.cfg, self.cache, ch, ck, qs, qk,
                                          index_fn=self.bm25_index, progress=progress)
        return self._stage("train_ranking", run)

    def training_lists(self) -> tuple[sampling.TrainingLists, str]:
        def run():
            ranking, rk = self.training_ranking()
            return lists_stage(self.cfg, self.cache, ranking, rk, self.chunks()[0])
        return self._stage("lists", run)

    def training_inputs(self, method: str = "bmembed"):
        """(trainer input, its key): the lists (bmembed), the evidence pairs (cl) or the mined
        triples (mnrl)."""
        ch, _ = self.chunks()
        qs, qk = self.synthetic_queries()
        lists, lk = self.training_lists() if method == "bmembed" else (None, "")
        mined, mk = self.mined_negatives() if method == "mnrl" else (None, "")
        return training_data(method, qs, lists, ch, mined), {"bmembed": lk, "cl": qk, "mnrl": mk}.get(method, "")

    def trained(self, method: str = "bmembed", on_step=None, progress: bool = True,
                accelerator=None) -> tuple[TrainedModel, str]:
        def run():
            data, dk = self.training_inputs(method)
            return train_stage(self.cfg, self.cache, method, data, dk, on_step=on_step,
                               progress=progress, accelerator=accelerator)
        return self._stage(f"train:{method}", run)

    def mined_negatives(self) -> tuple[negatives_mod.MinedPairs, str]:
        """Hard negatives for mnrl from the BM25 training ranking or the base encoder."""
        def run():
            ch, ck = self.chunks()
            qs, qk = self.synthetic_queries()
            src = self.cfg.training.negatives_from
            depth = self.cfg.training.negative_depth
            if src == "bm25":
                ranking, rk = self.training_ranking()
                idx = self.bm25_index()
                return negatives_stage(self.cfg, self.cache, qs, qk, ch, src,
                                       lambda: _bm25_candidates(qs, ranking, idx, self.cfg, depth), rk)
            c_emb, c_key, _, _ = self.embeddings()
            enc = self.encoder()

            def cand():
                q_emb = enc.encode([q.text for q in qs.queries], is_query=True)
                run = retrieval.dense_run(q_emb, c_emb, [q.query_id for q in qs.queries], depth)
                return run.indices, run.scores, lambda rows, pos: np.einsum(
                    "nd,nd->n", q_emb[rows], c_emb[pos])
            return negatives_stage(self.cfg, self.cache, qs, qk, ch, src, cand,
                                   f"{c_key}:{text_key(list(map(str, enc.identity.items())))}")
        return self._stage("negatives", run)

    def cached_models(self) -> list[str]:
        """Trained methods whose export is already in the cache for this config (no training)."""
        out = []
        for m in TRAINED:
            try:
                _, dk = self.training_inputs(m)
            except InputError:
                continue
            if self.cache.lookup("model", train_key(self.cfg, m, dk)[3]) is not None:
                out.append(m)
        return out

    def adapted_encoder(self, method: str = "bmembed") -> encoder_mod.Encoder:
        from dataclasses import replace

        def run():
            tm, _ = self.trained(method)
            base = self.encoder()
            return encoder_mod.Encoder.load(replace(self.cfg.encoder, model=str(tm.merged),
                                                    pooling=base.pooling))
        return self._stage(f"load_encoder:{method}", run)

    def encoder(self) -> encoder_mod.Encoder:
        return self._stage("load_encoder", lambda: encoder_mod.Encoder.load(self.cfg.encoder))

    def embeddings(self, enc: encoder_mod.Encoder | None = None, on_batch=None, label: str = ""):
        """(chunk embeddings, key, query embeddings, key) for the evaluation queries."""
        def run():
            e = enc or self.encoder()
            ch, ck = self.chunks()
            ids, texts = self.eval_queries()
            c_emb, c_key = embed_stage(self.cache, e, [c.text for c in ch], False, ck, on_batch)
            q_emb, q_key = embed_stage(self.cache, e, texts, True, text_key(texts))
            return c_emb, c_key, q_emb, q_key
        return self._stage("encode" if enc is None else f"encode:{label or id(enc)}", run)

    def dense_run(self, system: str = "base") -> tuple[Run, str]:
        """A dense system's run; ``name@d`` keeps the first d dimensions (Matryoshka eval)."""
        def run():
            name, _, dim = system.partition("@")
            enc = self._encoder_for(name)
            c_emb, c_key, q_emb, q_key = self.embeddings(enc, label=name)
            if dim:
                d = _dimension(dim, c_emb.shape[1], system)
                c_emb, q_emb = retrieval.truncate(c_emb, d), retrieval.truncate(q_emb, d)
                c_key, q_key = f"{c_key}@{d}", f"{q_key}@{d}"
            ids, _ = self.eval_queries()
            return dense_stage(self.cache, q_emb, q_key, c_emb, c_key, ids, self.cfg.eval.depth, system)
        return self._stage(f"dense:{system}", run)

    def _encoder_for(self, system: str):
        return None if system == "base" else self.adapted_encoder(system)

    def alignment_uniformity(self, system: str = "base", max_points: int = 4000) -> dict:
        """Alignment (raw and normalised) of the evaluation (query, gold chunk) pairs and the
        uniformity of the chunks under a dense system (paper Appendix E); cached."""
        def run():
            c_emb, c_key, q_emb, q_key = self.embeddings(self._encoder_for(system), label=system)
            rel, rk = self.relevance()
            ids, _ = self.eval_queries()
            pairs = [(i, c) for i, q in enumerate(ids) for c in rel.grades[q]]
            conf = {"max_points": max_points, "seed": self.cfg.eval.seed, "t": 2.0}
            v, _ = cached(self.cache, "diagnostics", conf, [q_key, c_key, rk], code_version(diagnostics),
                          lambda: diagnostics.alignment_uniformity(q_emb, c_emb, pairs, max_points,
                                                                   self.cfg.eval.seed),
                          lambda v, d: write_json(d / "diagnostics.json", v),
                          lambda d: read_json(d / "diagnostics.json"))
            return v | {"system": system}
        return self._stage(f"diagnostics:{system}", run)

    def embedding_map(self, systems: tuple[str, ...] = ("base", "bmembed"),
                      params: embedmap.MapParams = embedmap.MapParams()) -> pd.DataFrame:
        """Joint 2-D UMAP of the evaluation queries and the chunks under each system (one fit,
        comparable positions), cached per (systems, embeddings, parameters). Chunks beyond
        ``params.max_chunks`` are subsampled, always keeping the mapped queries' gold chunks."""
        def run():
            ch, _ = self.chunks()
            rel, _ = self.relevance()
            ids, _ = self.eval_queries()
            qsel = embedmap.subsample(len(ids), params.max_queries, set(), params.seed)
            gold = {c for i in qsel for c in rel.grades[ids[i]]}
            csel = embedmap.subsample(len(ch), params.max_chunks, gold, params.seed)
            blocks, keys = [], []
            for s in systems:
                c_emb, c_key, q_emb, q_key = self.embeddings(self._encoder_for(s), label=s)
                blocks += [(s, "query", [ids[i] for i in qsel], q_emb[qsel]),
                           (s, "chunk", [ch[i].chunk_id for i in csel], c_emb[csel])]
                keys += [c_key, q_key]
            conf = asdict(params) | {"systems": list(systems)}
            v, _ = cached(self.cache, "embedding_map", conf, keys, code_version(embedmap),
                          lambda: embedmap.joint_umap(blocks, params),
                          lambda v, d: v.to_parquet(d / "map.parquet"),
                          lambda d: pd.read_parquet(d / "map.parquet"))
            return v
        return self._stage(f"embedding_map:{'+'.join(systems)}:{hash(params)}", run)

    def rrf_run(self, parts: tuple[str, ...] = ("bm25", "base"), system: str = "rrf") -> tuple[Run, str]:
        def run():
            runs = [self.run_for(p) for p in parts]
            return rrf_stage(self.cache, runs, self.cfg.eval.rrf_u, self.cfg.eval.depth, system)
        return self._stage(f"rrf:{system}", run)

    def run_for(self, system: str) -> tuple[Run, str]:
        if system == "bm25":
            return self.bm25_run()
        if system == "base":
            return self.dense_run("base")
        if system == "rrf":
            return self.rrf_run()
        if system in TRAINED or system.partition("@")[0] in TRAINED + ("base",):
            return self.dense_run(system)
        if system.startswith("rrf+") and system[4:] in TRAINED:
            return self.rrf_run(("bm25", system[4:]), system)
        raise InputError(f"unknown system '{system}'", "eval.systems",
                         "use bm25, base, rrf, bmembed, cl, mnrl, rrf+bmembed, or a dense system "
                         "truncated to d dimensions as name@d (e.g. mnrl@128)")

    # -- the lexical-sensitivity study (paper Section 6, Table 5) --------------------------------
    def perturbations(self, progress=None) -> tuple[perturbation_mod.PerturbationSet, str]:
        """Keywords, masked and substituted versions of the evaluation queries (cached)."""
        def run():
            ch, ck = self.chunks()
            rel, rk = self.relevance()
            ids, texts = self.eval_queries()
            return perturbation_stage(self.cfg, self.cache, ch, ck, rel, rk, ids, texts, progress)
        return self._stage("perturbations", run)

    def query_run(self, system: str, variant: str) -> tuple[Run, str]:
        """``system``'s run over one variant (original / masked / substituted) of the
        evaluation queries: bm25, base, a trained encoder, or rrf / rrf+<trained> (cached)."""
        if variant == "original":
            return self.run_for(system)

        def run():
            ids, texts = self.perturbations()[0].variant(variant)
            depth = self.cfg.eval.depth
            if system == "bm25":
                ch, ck = self.chunks()
                return bm25_stage(self.cfg, self.cache, ch, ck, ids, texts, depth, index_fn=self.bm25_index)
            if system == "rrf" or (system.startswith("rrf+") and system[4:] in TRAINED):
                parts = ("bm25", "base" if system == "rrf" else system[4:])
                return rrf_stage(self.cache, [self.query_run(x, variant) for x in parts],
                                 self.cfg.eval.rrf_u, depth, system)
            if system != "base" and system not in TRAINED:
                raise InputError(f"unknown system '{system}'", "perturbation.systems",
                                 "use bm25, base, rrf, bmembed, cl, mnrl or rrf+bmembed")
            adapted = self._encoder_for(system)
            c_emb, c_key, _, _ = self.embeddings(adapted, label=system)
            q_emb, q_key = embed_stage(self.cache, adapted or self.encoder(), texts, True, text_key(texts))
            return dense_stage(self.cache, q_emb, q_key, c_emb, c_key, ids, depth, system)
        return self._stage(f"query_run:{system}:{variant}", run)

    def perturbation_study(self, systems: list[str] | None = None, progress=None) -> dict:
        """Every system on original / masked / substituted queries: the per-query table (with
        a variant column), the study table (drops with bootstrap intervals), the rank changes
        of each query's gold chunk, the set's counts and a computed reading of the numbers."""
        systems = systems or list(self.cfg.perturbation.systems)
        pset, _ = self.perturbations()
        rel, _ = self.relevance()
        tables = []
        todo = [(s, v) for s in systems for v in perturbation_mod.VARIANTS]
        for i, (s, v) in enumerate(todo):
            run, _ = self.query_run(s, v)
            t = per_query_table(run, rel, tuple(self.cfg.eval.ks))
            t.insert(1, "variant", v)
            tables.append(t)
            if progress:
                progress(i + 1, len(todo))
        per_query = pd.concat(tables, ignore_index=True)
        study = perturbation_mod.study_table(per_query, self.cfg.eval.bootstrap, self.cfg.eval.seed)
        return {"per_query": per_query, "study": study, "table": perturbation_mod.table5(study),
                "rank_changes": perturbation_mod.rank_changes(per_query), "counts": pset.counts,
                "reading": perturbation_mod.reading(study)}

    def evaluate(self, systems: list[str] | None = None) -> dict:
        """Per-query table, summary table and bootstrap comparisons for the systems."""
        systems = systems or list(self.cfg.eval.systems)
        rel, _ = self.relevance()
        tables = []
        for s in systems:
            run, _ = self.run_for(s)
            tables.append(per_query_table(run, rel, tuple(self.cfg.eval.ks)))
        per_query = pd.concat(tables, ignore_index=True)
        comparisons = []
        boot = {"n_boot": self.cfg.eval.bootstrap, "seed": self.cfg.eval.seed}
        for trained in [x for x in systems if x in TRAINED]:
            for other in ("base", "bm25"):
                if other in systems:
                    comparisons.append(compare_systems(per_query, trained, other, **boot))
        if "rrf+bmembed" in systems and "rrf" in systems:
            comparisons.append(compare_systems(per_query, "rrf+bmembed", "rrf", **boot))
        if "rrf" in systems:
            for other in ("bm25", "base"):
                if other in systems:
                    comparisons.append(compare_systems(per_query, "rrf", other,
                                                       n_boot=self.cfg.eval.bootstrap, seed=self.cfg.eval.seed))
        if "base" in systems and "bm25" in systems:
            comparisons.append(compare_systems(per_query, "base", "bm25",
                                               n_boot=self.cfg.eval.bootstrap, seed=self.cfg.eval.seed))
        return {"per_query": per_query, "summary": summary_table(per_query),
                "comparisons": pd.concat(comparisons, ignore_index=True) if comparisons else pd.DataFrame()}

    def report(self) -> dict:
        """Counts worth printing beside the results."""
        ds, _ = self.dataset()
        ch, _ = self.chunks()
        rel, _ = self.relevance()
        ids, _ = self.eval_queries()
        return {"documents": len(ds.documents), "chunks": len(ch), "queries": len(ds.queries),
                "labelled queries with a relevant chunk": len(rel.grades),
                "evaluated queries": len(ids),
                "labelled queries without a relevant chunk (excluded)": len(rel.no_relevant),
                "gold facts matching no chunk": rel.unmatched_facts,
                **{f"skipped: {k}": v for k, v in ds.skipped.items()}}
