"""Stages `embeddings`, `bm25_run`, `dense_run` and `rrf_run`: the retrieval runs that
evaluation scores (paper Section 4: BM25, the base and adapted encoders, and their Reciprocal
Rank Fusion with 1 / (u + rank), u = 40).

Keys: embeddings = the encoder's identity (model content hash, pooling, length limit,
precision, query instruction) + query or passage side, over the texts' key; bm25_run =
``[bm25]`` + depth, over the chunks and the queries; dense_run = depth + system, over the two
embedding keys (+ ``@d`` when truncated); rrf_run = u + depth + system, over its parts' keys.
Saved as npy + JSON (:class:`~bmembed_lab.retrieval.Run`). Algorithms: :mod:`bmembed_lab.bm25`,
:mod:`bmembed_lab.encoder`, :mod:`bmembed_lab.retrieval`.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from .. import bm25, encoder as encoder_mod, retrieval, selection
from ..cache import (BM25_RUN, DENSE_RUN, EMBEDDINGS, ENCODE_SHARDS,
                     EVALUATION, RRF_RUN, StageCache, cached)
from ..hashing import code_version
from ..safeio import load_npy, read_json, save_npy, write_json
from ..chunking import Chunk
from ..config import Config
from ..errors import InputError
from ..questions import Questions
from ..retrieval import Run

SHARD = 50_000  # texts per resumable shard
log = logging.getLogger(__name__)


def bm25_index(cfg: Config, chunks: list[Chunk]) -> bm25.BM25Index:
    """The corpus' BM25 index (not cached on disk: building it takes about a second)."""
    return bm25.BM25Index.from_texts((c.text for c in chunks), cfg.bm25)


def bm25_run(cfg: Config, cache: StageCache, chunks_key: str, index: Callable[[], bm25.BM25Index],
             query_ids: list[str], query_texts: list[str], inputs_key: str, depth: int
             ) -> tuple[Run, str]:
    """(BM25's top ``depth`` chunks of each query, its key)."""
    def compute() -> Run:
        return retrieval.bm25_run(
            index(), query_ids, bm25.tokenize_cfg(query_texts, cfg.bm25), depth
        )

    return cached(cache, BM25_RUN, asdict(cfg.bm25) | {"k": depth}, [chunks_key, inputs_key],
                  code_version(bm25, retrieval), compute, lambda v, d: v.save(d), Run.load)


def embeddings(cache: StageCache, enc: encoder_mod.Encoder, texts: list[str], is_query: bool,
               inputs_key: str, on_batch=None, shard: int | None = None, accelerator=None,
               storage: str = "float32") -> tuple[np.ndarray | None, str]:
    """(L2-normalised float32 embeddings of ``texts``, their key). Passages get no query
    prefix, so their key leaves the protocol out: both protocols share one corpus encoding.
    More than ``shard`` (default :data:`SHARD`) texts are encoded shard by shard, each shard
    saved in the cache's ``encode_shards`` sub-store with its checksum as soon as it is done,
    so a killed encoding resumes from its last whole shard. Passages are stored as ``storage``
    (float32 or float16) and read back memory-mapped, so a large corpus's embeddings are paged
    in as a search reads them rather than all at once.

    With an ``accelerator`` of several processes (``accelerate launch``), process r encodes
    the shards r, r + n, r + 2n, ... on its own device and the main process assembles and
    stores them; the other processes return (None, key)."""
    ident = enc.identity if is_query else {k: v for k, v in enc.identity.items()
                                           if k not in ("query_instruction", "protocol")}
    store = "float32" if is_query else storage
    conf = ident | {"is_query": is_query} | ({"stored_as": store} if store != "float32" else {})
    version = code_version(*encoder_mod.ENCODING_CODE)
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    shard = min(shard or SHARD, -(-len(texts) // world))
    run_dir = (
        cache.sub_store(ENCODE_SHARDS)
        / StageCache.make_key(EMBEDDINGS, conf, [inputs_key], version)
        if cache.enabled and not cache.read_only and (len(texts) > shard or world > 1)
        else None
    )
    if world > 1 and run_dir is not None and rank != 0:
        key = StageCache.make_key(EMBEDDINGS, conf, [inputs_key], version)
        if cache.lookup(EMBEDDINGS, key) is None:  # else the main process only loads it
            _encode_in_shards(enc, texts, is_query, run_dir, shard, on_batch, accelerator)
        return None, key

    def compute() -> np.ndarray:
        known = None if is_query or run_dir is not None else selection.known_pool_rows(enc, texts)
        if known is not None:  # an export's dev pool at its exported step: the other texts only
            idx, emb = known
            rest = np.setdiff1d(np.arange(len(texts)), idx)
            log.info("%d of %d embeddings from the dev evaluation of the exported step",
                     len(idx), len(texts))
            out = np.zeros((len(texts), emb.shape[1]), dtype=np.float32)
            out[idx] = emb
            out[rest] = enc.encode([texts[i] for i in rest], is_query=False, on_batch=on_batch)
            return out
        if run_dir is None:
            return enc.encode(texts, is_query=is_query, on_batch=on_batch)
        return _encode_in_shards(enc, texts, is_query, run_dir, shard, on_batch, accelerator)

    out = cached(cache, EMBEDDINGS, conf, [inputs_key], version, compute,
                 lambda v, d: save_npy(d / "embeddings.npy", v.astype(store, copy=False)),
                 lambda d: load_npy(d / "embeddings.npy", mmap=not is_query))
    if store != "float32" and not isinstance(out[0], np.memmap):  # just computed: the stored values
        path = cache.root / EMBEDDINGS / out[1] / "embeddings.npy"
        out = (load_npy(path, mmap=True) if path.is_file() else out[0].astype(store), out[1])
    if run_dir is not None:
        shutil.rmtree(run_dir, ignore_errors=True)  # stored whole: the shards are done with
    return out


def _encode_in_shards(enc, texts: list[str], is_query: bool, run_dir: Path, shard: int,
                      on_batch=None, accelerator=None) -> np.ndarray | None:
    """Encode the shards of ``texts`` not yet in ``run_dir`` (this process's share of them
    under an ``accelerator``: every n-th), then, in the main process, all shards joined."""
    from tqdm.auto import tqdm

    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    run_dir.mkdir(parents=True, exist_ok=True)
    total, starts = len(texts), range(0, len(texts), shard)
    mine = [(i, s) for i, s in enumerate(starts) if i % world == rank]
    bar = tqdm(
        total=sum(len(texts[s : s + shard]) for _, s in mine),
        unit="text",
        leave=False,
        desc="encoding (resumable shards)" + (f", process {rank} of {world}" if world > 1 else ""),
    )
    for i, s in mine:
        part_texts = texts[s:s + shard]
        path = run_dir / f"shard-{i:06d}.npy"
        if _verified_shard(path, len(part_texts)) is None:
            def progress(done, _n, at=bar.n, s=s):
                bar.n = at + done
                bar.refresh()
                if on_batch and world == 1:
                    on_batch(s + done, total)
            part = enc.encode(part_texts, is_query=is_query, progress=False, on_batch=progress)
            save_npy(path, part)
            write_json(path.with_suffix(".json"), {"rows": len(part), "sha256": _digest(part)})
        else:
            log.info("encoding: shard %d of %s reused", i, run_dir.name)
            bar.update(len(part_texts))
    bar.close()
    if world > 1:
        accelerator.wait_for_everyone()  # every process's shards are on disk
        if rank != 0:
            return None
    parts = []
    for i, s in enumerate(starts):
        part = _verified_shard(run_dir / f"shard-{i:06d}.npy", len(texts[s:s + shard]))
        if part is None:
            raise RuntimeError(
                f"encoding shard {i} of {run_dir} is missing or damaged after encoding"
            )
        parts.append(part)
    if on_batch:
        on_batch(total, total)
    return np.concatenate(parts)


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _verified_shard(path: Path, rows: int) -> np.ndarray | None:
    """A shard written by an earlier run, when its checksum and row count hold; else None."""
    meta = path.with_suffix(".json")
    if not (path.is_file() and meta.is_file()):
        return None
    try:
        m, part = read_json(meta), load_npy(path)
    except (OSError, ValueError):
        return None
    if m.get("rows") != rows or len(part) != rows or m.get("sha256") != _digest(part):
        log.warning("encoding shard %s is damaged; encoding it again", path)
        return None
    return part


def truncated(c_emb: np.ndarray, c_key: str, q_emb: np.ndarray, q_key: str, dim: int | None,
              system: str) -> tuple[np.ndarray, str, np.ndarray, str]:
    """The embeddings cut to their first ``dim`` dimensions and re-normalised (Matryoshka
    evaluation), with keys that say so; unchanged for ``dim`` None."""
    if dim is None:
        return c_emb, c_key, q_emb, q_key
    if dim > c_emb.shape[1]:
        raise InputError(f"system '{system}' asks for {dim} dimensions", "eval.systems",
                         f"write name@d with 1 <= d <= {c_emb.shape[1]} (the model's dimension)")
    return (retrieval.truncate(c_emb, dim), f"{c_key}@{dim}",
            retrieval.truncate(q_emb, dim), f"{q_key}@{dim}")


def dense_run(cache: StageCache, q_emb: np.ndarray, q_key: str, c_emb: np.ndarray, c_key: str,
              query_ids: list[str], depth: int, system: str) -> tuple[Run, str]:
    """(the top ``depth`` chunks of each query by cosine similarity, its key)."""
    return cached(cache, DENSE_RUN, {"k": depth, "system": system}, [q_key, c_key],
                  code_version(retrieval),
                  lambda: retrieval.dense_run(q_emb, c_emb, query_ids, depth, system),
                  lambda v, d: v.save(d), Run.load)


def rrf_run(cache: StageCache, runs: list[tuple[Run, str]], u: int, depth: int, system: str
            ) -> tuple[Run, str]:
    """(the Reciprocal Rank Fusion of ``runs``, its key)."""
    return cached(cache, RRF_RUN, {"u": u, "k": depth, "system": system}, [key for _, key in runs],
                  code_version(retrieval),
                  lambda: retrieval.rrf([r for r, _ in runs], u, depth, system),
                  lambda v, d: v.save(d), Run.load)


def model_folder(folder: Path) -> Path:
    """The model of a ``label=folder`` system: an export's ``merged/`` model, or the folder."""
    return folder / "merged" if (folder / "merged" / "config.json").is_file() else folder


def evaluation(cfg: Config, cache: StageCache, q: Questions, runs_: dict[str, tuple[Run, str]]
               ) -> tuple[dict, str]:
    """({"per_query", "comparisons"} tables of the systems' runs ``runs_`` (system -> (run,
    key)) over the question set ``q``, its key): the per-query metrics and the
    paired-bootstrap comparisons of :func:`~bmembed_lab.evaluation.default_comparisons`, cached
    as parquet so a notebook reopens them without resampling (10,000 draws per comparison and
    metric take seconds). Key: the systems, cut-offs, pairs, draws, seed and question set,
    over the runs' and the labels' keys."""
    import pandas as pd

    from .. import evaluation as evaluation_mod, metrics

    systems, ks, e = list(runs_), tuple(cfg.eval.ks), cfg.eval
    pairs = evaluation_mod.default_comparisons(systems)
    conf = {"systems": [evaluation_mod.parse_system(s).name for s in systems], "ks": list(ks),
            "pairs": pairs, "bootstrap": e.bootstrap, "seed": e.seed, "queries": q.which}

    def compute() -> dict:
        per_query = pd.concat([evaluation_mod.per_query_table(runs_[s][0], q.relevance, ks)
                               for s in systems], ignore_index=True)
        return {"per_query": per_query, "comparisons": evaluation_mod.compare_all(
            per_query, pairs, e.bootstrap, e.seed)}

    def save(v: dict, d: Path) -> None:
        v["per_query"].to_parquet(d / "per_query.parquet")
        v["comparisons"].to_parquet(d / "comparisons.parquet")

    def load(d: Path) -> dict:
        return {"per_query": pd.read_parquet(d / "per_query.parquet"),
                "comparisons": pd.read_parquet(d / "comparisons.parquet")}

    return cached(cache, EVALUATION, conf, [k for _, k in runs_.values()] + [q.relevance_key],
                  code_version(evaluation_mod, metrics), compute, save, load)


def evaluation_result(tables: dict, q: Questions, notes: list, protocol: str) -> dict:
    """What ``evaluate`` returns: the tables, the summary, the metric note and the notes."""
    from ..evaluation import metric_note, summary_table

    return {"per_query": tables["per_query"], "summary": summary_table(tables["per_query"]),
            "metric note": metric_note(tables["per_query"], q.relevance.n_facts,
                                       q.relevance.level),
            "comparisons": tables["comparisons"], "notes": [n for n in notes if n],
            "protocol": protocol, "questions": q.label, "level": q.relevance.level_text}
