"""Stages `negatives` and `model`: fine-tune the encoder and export it (paper Section 3.3,
Appendix C), with the baselines trained the same way (the paper's CL; MNRL with mined hard
negatives, sentence-transformers' recipe).

Keys: negatives = source (bm25 | base), count, depth, margin, over the query key and the
source's key; model = ``[training]`` (checkpointing options left out) + ``[encoder]`` with the
base model's content hash, over the training data's key (lists for bmembed, queries for cl,
negatives for mnrl). Saved as npy + JSON, and the export folder (``merged/``, ``adapter/``,
model card). Checkpoints live in the cache's ``train_runs`` sub-store until the export is
stored, so a killed run resumes. Algorithms: :mod:`bmembed_lab.training`,
:mod:`bmembed_lab.negatives`, :mod:`bmembed_lab.export`.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .. import bm25, encoder as encoder_mod, export, methods, negatives as negatives_mod
from .. import selection, training
from ..cache import MODEL, NEGATIVES, TRACKING, TRAIN_RUNS, StageCache, cached
from ..hashing import code_version
from ..safeio import load_npy, read_json, save_npy, write_json
from ..chunking import Chunk
from ..config import Config
from ..geotrace import GeometryTrace
from ..errors import InputError, NotComputed
from ..metrics import interval_text, small_sample_note
from ..querygen import QuerySet
from ..sampling import Ranking, TrainingLists

log = logging.getLogger(__name__)


@dataclass
class TrainedModel:
    path: Path  # the export folder: merged/, adapter/ (LoRA), README.md, train.json
    info: dict

    @property
    def merged(self) -> Path:
        return self.path / "merged"


# -- hard negatives (mnrl) ---------------------------------------------------------------------
def negatives_key(cfg: Config, qs_key: str, source_key: str) -> tuple[dict, str]:
    t = cfg.training
    conf = {"from": t.negatives_from, "n": t.hard_negatives, "depth": t.negative_depth,
            "margin": t.negative_margin}
    return conf, StageCache.make_key(
        NEGATIVES, conf, [qs_key, source_key], code_version(negatives_mod)
    )


def bm25_candidates(cfg: Config, qs: QuerySet, ranking: Ranking, index: bm25.BM25Index):
    """The training ranking's top ``negative_depth`` per query, and BM25's score function for
    (query, source chunk) pairs: the miner's candidates from the teacher."""
    depth = cfg.training.negative_depth
    row = {q: i for i, q in enumerate(ranking.query_ids)}
    n = len(qs.queries)
    ci = np.full((n, depth), -1, dtype=np.int64)
    cs = np.full((n, depth), np.nan)
    for i, q in enumerate(qs.queries):
        if q.query_id in row:
            r = row[q.query_id]
            ci[i], cs[i] = ranking.indices[r, :depth], ranking.scores[r, :depth]

    def pos_fn(rows, pos):
        return index.pair_scores(
            bm25.tokenize_cfg([qs.queries[r].text for r in rows], cfg.bm25), pos
        )

    return ci, cs, pos_fn


def dense_candidates(cfg: Config, qs: QuerySet, enc: encoder_mod.Encoder, c_emb: np.ndarray):
    """The base encoder's top ``negative_depth`` chunks per query and its cosine for pairs."""
    from ..retrieval import dense_run

    q_emb = enc.encode([q.text for q in qs.queries], is_query=True)
    run = dense_run(q_emb, c_emb, [q.query_id for q in qs.queries], cfg.training.negative_depth)
    return run.indices, run.scores, lambda rows, pos: np.einsum("nd,nd->n", q_emb[rows], c_emb[pos])


def mined_negatives(cfg: Config, cache: StageCache, qs: QuerySet, qs_key: str, chunks: list[Chunk],
                    candidates, source_key: str) -> tuple[negatives_mod.MinedPairs, str]:
    """((query, source chunk, hard negatives) per training query, its key). ``candidates()``
    gives (indices, scores, positive-score function): :func:`bm25_candidates` or
    :func:`dense_candidates`."""
    t = cfg.training
    conf, _ = negatives_key(cfg, qs_key, source_key)

    def compute():
        ci, cs, pos_fn = candidates()
        return negatives_mod.mine_pairs(qs.queries, chunks, ci, cs, pos_fn, t.hard_negatives,
                                        t.negative_depth, t.negative_margin)

    def save(v: negatives_mod.MinedPairs, d: Path) -> None:
        write_json(
            d / "pairs.json", {"query_ids": v.query_ids, "queries": v.queries, "counts": v.counts}
        )
        save_npy(d / "positives.npy", v.positives)
        save_npy(d / "negatives.npy", v.negatives)

    def load(d: Path) -> negatives_mod.MinedPairs:
        m = read_json(d / "pairs.json")
        return negatives_mod.MinedPairs(m["query_ids"], m["queries"], load_npy(d / "positives.npy"),
                                        load_npy(d / "negatives.npy"), m["counts"])

    return cached(cache, NEGATIVES, conf, [qs_key, source_key], code_version(negatives_mod),
                  compute, save, load)


# -- the trainer's input -----------------------------------------------------------------------
def training_data(method: str, qs: QuerySet, lists: TrainingLists | None, chunks: list[Chunk],
                  mined: negatives_mod.MinedPairs | None = None, base_sims=None,
                  item_emb=None):
    """The trainer's input for ``method``, by what its entry in :data:`methods.METHODS` is fed:
    BM25 lists (``lists``), (query, evidence) pairs (``evidence``), or (query, source chunk,
    mined hard negatives) (``mined``). ``base_sims``: the base model's cosines over the lists
    (:func:`list_base_sims`), which the anchored student (``training.anchor`` > 0) needs;
    ``item_emb``: the lists' passages as the base model embeds them (:func:`list_items`), which
    the query-side student (``training.query_side``) trains against."""
    inputs = methods.get(method).inputs
    if inputs == "mined":
        return training.PairData(list(mined.queries), [chunks[i].text for i in mined.positives],
                                 [[chunks[j].text for j in row] for row in mined.negatives])
    if inputs == "lists":
        return training.ListData(list(lists.query_texts),
                                 [[chunks[j].text for j in row] for row in lists.chunk_indices],
                                 lists.scores, base_sims, item_emb)
    pairs = [(q.text, q.evidence[0]) for q in qs.queries if q.evidence]
    if not pairs:
        raise InputError("no training query has evidence text", "queries",
                         f"{method} needs evidence (offline and llm backends keep it)")
    return training.PairData([a for a, _ in pairs], [b for _, b in pairs])


def evidence_key(qs: QuerySet, qs_key: str) -> str | None:
    """The key of the (query, evidence) pairs: the queries' key, or None without evidence."""
    return qs_key if any(q.evidence for q in qs.queries) else None


# -- training and export -------------------------------------------------------------------------
def model_key(cfg: Config, method: str, data_key: str, dev_key: str = ""):
    """(effective training config, base model path, keyed config, stage key) of a run.
    ``dev_key`` identifies the dev pool that selects the exported step ('' = no selection)."""
    tcfg = replace(cfg.training, method=method)
    tcfg = replace(tcfg, batch_size=methods.get(method).batch_size(tcfg.batch_size))
    base = encoder_mod.resolve_model_path(cfg.encoder.model)
    conf = {"training": asdict(tcfg),
            "encoder": asdict(cfg.encoder) | {"model": encoder_mod.model_fingerprint(base)}}
    conf["training"].pop("checkpoint_every")
    conf["training"].pop("keep_checkpoints")
    conf["training"].pop("report_to")  # where metrics are logged: the same model either way
    inputs = [data_key] + ([dev_key] if dev_key and tcfg.eval_every else [])
    code = code_version(training, "bmembed_lab.batches", "bmembed_lab.losses",
                        "bmembed_lab.teacher", "bmembed_lab.variants", "bmembed_lab.dropout",
                        *encoder_mod.ENCODING_CODE, export, selection)
    key = StageCache.make_key(MODEL, conf, inputs, code)
    return tcfg, base, conf, key


def dev_pool(cfg: Config, q, runs: list, base_embeddings=None, bm25_scores=None
             ) -> tuple[selection.DevPool, str]:
    """(the dev pool that scores checkpoints, its key): ``training.dev_queries`` of the dev
    questions ``q`` (:class:`~bmembed_lab.questions.Questions`), each with the union of the
    ``runs``' ((run, key) pairs: BM25's and the base encoder's) top ``training.dev_pool`` and, with
    ``training.dev_relevant``, its relevant chunks, scored at their labels' level. Held-out
    synthetic queries (``q.labelled`` False) make every line that reports the selection say it
    measures agreement with the teacher, not quality. ``base_embeddings()``: the base
    encoder's (chunk, ``q``) embeddings, from which step 0 is scored where
    :func:`starts_as_base` (the demo: one dev evaluation of five, about 21 s, saved)."""
    t = cfg.training
    runs, runs_key = [r for r, _ in runs], "+".join(k for _, k in runs)
    pool = selection.build_pool(q.ids, q.texts, runs, q.relevance, t.dev_pool, t.dev_queries,
                                cfg.eval.seed, t.dev_metric, q.labelled, t.dev_relevant)
    if base_embeddings is not None and len(pool) and starts_as_base(cfg):
        chunk_emb, query_emb = base_embeddings()
        row = {x: i for i, x in enumerate(q.ids)}
        pool.start = selection.pool_values(
            np.asarray(chunk_emb[pool.chunk_indices], dtype=np.float32),
            np.asarray(query_emb[[row[x] for x in pool.query_ids]], dtype=np.float32), pool
        ).tolist()
    if bm25_scores is not None and len(pool):  # BM25 on the same candidates: the card's row
        s = np.asarray(bm25_scores(pool.query_texts, pool.chunk_indices), dtype=np.float64)
        pool.bm25 = selection.ranked_values(lambda i, rows: s[i, rows], pool).tolist()
    return pool, dev_pool_key(cfg, q, runs_key)


def dev_pool_key(cfg: Config, q, runs_key: str) -> str:
    """The key of :func:`dev_pool`'s pool, from the dev questions ``q`` and its runs' keys
    joined by "+"; computed without building the pool (which needs BM25's index), so a
    cached model is found without it."""
    t = cfg.training
    return StageCache.make_key("dev_pool", {"pool": t.dev_pool, "queries": t.dev_queries,
                                            "metric": t.dev_metric, "labelled": q.labelled,
                                            "relevant": t.dev_relevant},
                               [runs_key, q.relevance_key], "")


def starts_as_base(cfg: Config) -> bool:
    """Whether the model a run starts from embeds as the base encoder did, so its step-0 dev
    score can be read from the base encoder's cached embeddings: fp32 (under bf16 the base
    encoder holds bf16 weights and training fp32 ones under autocast), stored in float32, and
    no shorter training input limit (``training.max_length``) than the encoder's. LoRA starts
    as the base model (its B matrices are zero); dropout is off when scoring."""
    o = encoder_mod.resolved_options(cfg.encoder)
    return (o["precision"] == "fp32" and cfg.encoder.storage == "float32"
            and cfg.training.max_length >= o["max_length"])


def cached_methods(cfg: Config, cache: StageCache, input_key, dev_key: str) -> list[str]:
    """The methods whose export is already in the cache for this config, nothing trained or
    mined: ``input_key(kind)`` gives the key of the training data of one kind of input (a
    key of :data:`methods.INPUTS`; None where it cannot exist, NotComputed where it is not
    computed yet, InputError where it cannot be built: no lists drawn on so few chunks, which
    the stage that trains says with its fix)."""
    out = []
    for name, m in methods.METHODS.items():
        try:
            key = input_key(m.inputs)
        except (NotComputed, InputError):
            continue
        if key is not None and cache.has(MODEL, model_key(cfg, name, key, dev_key)[3]):
            out.append(name)
    return out


def system_notes(cfg: Config, systems: list[str], train_info) -> list[str]:
    """Lines under an evaluation: each trained encoder's dev selection when it is not clearly
    better than base (``train_info(method)``: its train.json), and each ``label=folder``
    system's protocol note."""
    from ..evaluation import parse_system

    parsed = [parse_system(x) for x in systems]
    notes = [worse_than_base_line(m, train_info(m).get("selection"))
             for m in dict.fromkeys(s.encoder for s in parsed) if m in methods.METHODS]
    notes += [folder_note(s.name, cfg.resolve(s.folder), cfg.encoder.protocol)
              for s in parsed if s.folder]
    return [n for n in notes if n]


def worse_than_base_line(name: str, sel: dict) -> str | None:
    """One line when a run's best dev score is below the model it started from, or above it
    by less than its paired 95% interval can tell from zero; None when it is clearly better."""
    if not sel or sel.get("best") is None:
        return None
    g = sel.get("gain over base")
    interval = "" if g is None else (f" ({interval_text(g['diff'], g['low'], g['high'], 2)} on "
                                     f"{g['queries']} queries, paired 95% interval)")
    head = (f"{name}: its best dev {sel['metric']} ({sel['best']:.2f}, step {sel['best_step']}) is "
            f"{{}} the base model's {sel['base']:.2f} on the same {sel['on']}{interval}")
    few = small_sample_note(g["queries"]) if g is not None else None
    few = f"; {few}" if few else ""
    if sel.get("worse_than_base"):
        return (head.format("below") + ": training made it worse (the export is marked WORSE "
                "THAN BASE)" + few)
    if g is not None and g["low"] <= 0:
        return head.format("not clearly above") + (": the base model may serve as well (the export "
                                                   "is marked NOT CLEARLY BETTER)") + few
    return head.format("clearly above") + few.replace("; ", ": ") if few else None


def folder_note(label: str, folder: Path, protocol: str) -> str | None:
    """One line on a model folder scored as ``label``: an export trained under another query
    protocol, or one whose dev selection found it worse than its base model."""
    info = read_json(folder / "train.json") if (folder / "train.json").is_file() else (
        read_json(folder.parent / "train.json") if (folder.parent / "train.json").is_file() else {})
    if info.get("protocol") and info["protocol"] != protocol:
        return (f"{label}: trained under the {info['protocol']} protocol, scored here under "
                f"{protocol} (its queries get a different prefix than in training)")
    return worse_than_base_line(label, info.get("selection"))


def trained(cfg: Config, cache: StageCache, method: str, data, data_key: str, on_step=None,
            progress: bool = True, accelerator=None, dev=None, base_chunks=None,
            dev_key: str = "", base_queries=None) -> tuple[TrainedModel, str]:
    """(the exported model, its key): loaded when cached, else trained (resuming from the
    run's newest checkpoint) and exported. With ``dev_key`` (:func:`dev_pool_key`; '' = none)
    and ``dev()`` giving (:class:`~bmembed_lab.selection.DevPool`, its key, chunk texts), built
    only when training, the best dev checkpoint is exported
    and a run that never beats the base model is marked (a query-side student's dev pool is
    scored on ``base_chunks()``, the base encoder's chunk embeddings, as its index will be).
    Each dev evaluation also traces the pool's alignment and uniformity
    (:class:`~bmembed_lab.geotrace.GeometryTrace`; step 0 from ``base_chunks()`` and
    ``base_queries(texts)`` where it is read from them) into train.json's ``geometry_trace``.
    With an ``accelerator`` (DDP) every
    rank trains, the ranks' weights are compared, and rank 0 exports while the others wait."""
    tcfg, base, conf, key = model_key(cfg, method, data_key, dev_key)
    # a read-only pipeline never loads weights (it computes nothing): it checks their sizes and
    # the small files' checksums; any pipeline that can encode or train verifies every file
    entry = cache.lookup(MODEL, key, checksum_limit=1 << 20 if cache.read_only else None)
    if entry is not None:
        return TrainedModel(entry.path, read_json(entry.path / "train.json")), key
    if cache.read_only and cache.enabled:
        raise NotComputed(MODEL)
    if tcfg.batch_size != cfg.training.batch_size:
        log.warning("%s: training.batch_size = %d raised to %d (in-batch negatives need a batch; "
                    "the paper's CL baseline uses 16); set it to 16 or more to silence this",
                    method, cfg.training.batch_size, tcfg.batch_size)
    pool, _, chunk_texts = dev() if dev is not None and dev_key else (None, "", None)
    enc = training.prepare_model(encoder_mod.Encoder.load(cfg.encoder, trainable=True), tcfg)
    run_dir = cache.sub_store(TRAIN_RUNS) / key
    selector, kept, trace = None, {}, None
    if pool is not None and len(pool) and tcfg.eval_every:
        fixed = (np.asarray(base_chunks()[pool.chunk_indices], dtype=np.float32)
                 if tcfg.query_side and base_chunks is not None else None)
        trace = GeometryTrace(pool, cfg.eval.seed)
        if pool.start is not None and base_chunks is not None and base_queries is not None:
            trace.start(base_queries(pool.query_texts), base_chunks()[pool.chunk_indices])
        selector = selection.Selector(trace.wrap(lambda e: selection.dev_score(
            e, pool, chunk_texts, progress=progress, keep=kept, chunk_emb=fixed), kept), run_dir,
            tcfg.eval_every,
            tcfg.patience, tcfg.dev_metric, pool.what, seed=cfg.eval.seed, start=pool.start,
            kept=kept, bm25=pool.bm25)
    track = None
    if tcfg.report_to and (accelerator is None or accelerator.is_main_process):
        from ..tracking import Tracking

        track = Tracking(tcfg.report_to, cache.sub_store(TRACKING), key, tcfg.dev_metric)
        on_step = track.wrap(on_step)
        if selector is not None:
            selector.on_eval = track.dev
    if selector is not None:
        selector.on_eval = trace.at_step(selector.on_eval)
    try:
        result = training.train(enc, data, tcfg, run_dir, on_step=on_step, progress=progress,
                                accelerator=accelerator, selector=selector)
    finally:
        if track is not None:
            track.close()
    digests = training.rank_digests(enc.model, accelerator)
    if accelerator is not None and not accelerator.is_main_process:
        accelerator.wait_for_everyone()  # rank 0 exports
        return TrainedModel(cache.lookup(MODEL, key).path, {"rank_weight_digests": digests}), key
    named = cfg.encoder.model  # as the user named it: an install path never enters a card
    info = {"name": f"{Path(named).name} + {method}",
            "base_model": Path(named).name if Path(named).is_absolute() else named,
            "base_hub_id": encoder_mod.hub_id(named),
            "base_license": encoder_mod.card_metadata(base).get("license"),
            "base_fingerprint": encoder_mod.model_fingerprint(base), "method": method,
            "data_key": data_key, "config_hash": key, "steps": result.steps,
            "seconds": result.seconds, "final_loss": result.losses[-1]["loss"],
            "trainable_parameters": result.trainable_parameters,
            "total_parameters": result.total_parameters, "resumed_from": result.resumed_from,
            "pooling": enc.pooling, "hyperparameters": asdict(tcfg), "losses": result.losses,
            "processes": len(digests), "rank_weight_digests": digests,
            "protocol": cfg.encoder.protocol, "query_prefix": enc.query_instruction,
            "selection": result.selection, "geometry_trace": trace.rows if trace else []}
    warn = worse_than_base_line(info["name"], result.selection)
    if warn:
        log.warning(warn)
    gain = (result.selection or {}).get("gain over base")
    if (result.selection or {}).get("worse_than_base"):
        info["name"] += " [WORSE THAN BASE on dev]"
    elif gain is not None and gain["low"] <= 0:
        info["name"] += " [NOT CLEARLY BETTER THAN BASE on dev]"

    def write(d: Path) -> None:
        if progress:  # a few seconds to a minute (the weights), after the bar has finished
            from tqdm.auto import tqdm

            step = (result.selection or {}).get("best_step", result.steps)
            tqdm.write(f"{method}: exporting the weights of step {step} (merged/, model card)")
        export.export_model(enc, base, d, info)
        write_json(d / "train.json", info)
        # the exported weights as scored: full weights in fp32 (LoRA's merge rounds them)
        if selector is not None and selector.best_chunks is not None and not tcfg.lora \
                and enc.precision == "fp32" and not tcfg.query_side:
            selection.save_pool_embeddings(d, selector.best_chunks, pool, chunk_texts,
                                           selector.best_step, enc)

    if not cache.enabled:
        out = run_dir / "export"
        shutil.rmtree(out, ignore_errors=True)
        write(out)
        return TrainedModel(out, info), key
    entry = cache.store(MODEL, key, write, {"config": conf, "inputs": [data_key]})
    shutil.rmtree(run_dir, ignore_errors=True)  # checkpoints are no longer needed
    if accelerator is not None:
        accelerator.wait_for_everyone()
    return TrainedModel(entry.path, read_json(entry.path / "train.json")), key


def unfinished_runs(cache: StageCache) -> dict[str, list[Path]]:
    """Run key -> its checkpoints, for every training run that has not been exported yet."""
    root = cache.root / TRAIN_RUNS
    if not root.is_dir():
        return {}
    return {d.name: training.checkpoints(d) for d in sorted(root.iterdir()) if d.is_dir()}
