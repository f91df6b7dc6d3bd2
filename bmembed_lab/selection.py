"""Model selection on the dev split during training (ours; the paper trains a fixed number of
steps): score the model being trained on held-out dev queries at a bounded cost, so a run can
keep its best checkpoint, stop early, and say when it never beat the model it started from.

In: dev queries with their labels, and the first-stage runs (BM25 and the base encoder) over
them. Out: a :class:`DevPool` (per query a fixed candidate pool: the union of the runs' top
``depth`` chunks and, optionally, its relevant chunks) and :func:`dev_score`, the mean of one
metric when the model being trained re-ranks each pool. Only the pools' chunks are encoded,
never the whole corpus, so one evaluation costs at most ``queries x (runs x depth + relevant)``
chunk encodings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import query_metrics
from .relevance import collapse


@dataclass
class DevPool:
    query_ids: list[str]
    query_texts: list[str]
    candidates: list[list[int]]  # chunk indices per query, in first-seen order
    grades: list[dict[int, float]]  # relevant chunk (or document) -> grade, per query
    facts: list[dict[int, list[int]]]  # chunk (or document) -> gold facts it holds, per query
    n_facts: list[int]
    metric: str
    labelled: bool = True  # False: held-out synthetic queries (agreement with the teacher)
    doc_of: list[int] | None = None  # scored at document level: chunk -> document (Relevance)
    start: list[float] | None = None  # per-query scores at step 0, read from the base encoder's
    # cached embeddings where training starts from the same computation (stages.train); else
    # None: step 0 is encoded like every other step
    bm25: list[float] | None = None  # per-query scores when BM25 ranks the same candidates

    def __len__(self) -> int:
        return len(self.query_ids)

    @property
    def chunk_indices(self) -> list[int]:
        return sorted({c for cands in self.candidates for c in cands})

    @property
    def what(self) -> str:
        """What the dev score is measured on, pool included: its level is the pool's (higher
        than the whole corpus's), so it is never read beside test scores without it."""
        kind = ("dev questions" if self.labelled else
                "held-out synthetic queries (agreement with the teacher, not quality)")
        return f"{kind}, each ranking the same {len(self.chunk_indices):,} candidate chunks"


def relevant_chunks(rel, qid: str, rankings: list[list[int]]) -> list[int]:
    """The relevant chunks a dev pool adds for ``qid``: every one scored by chunk; scored by
    document, one per relevant document (its chunk the runs' ``rankings`` rank best, else its
    first), since a document counts at its best chunk and a long one would otherwise bring
    all its chunks (on a 25-document BEIR sample, 343 of 366 chunks)."""
    chunks = sorted(int(c) for c, g in rel.grades.get(qid, {}).items() if g > 0)
    if rel.doc_of is None:
        return chunks
    first: dict[int, tuple[int, int]] = {}
    for c in chunks:
        first.setdefault(rel.doc_of[c], (1 << 30, c))
    for ranking in rankings:
        for rank, c in enumerate(ranking):
            d = rel.doc_of[c] if c >= 0 else None
            if d in first and rank < first[d][0]:
                first[d] = (rank, int(c))
    return sorted(c for _, c in first.values())


def build_pool(query_ids: list[str], query_texts: list[str], runs: list, rel, depth: int,
               limit: int, seed: int, metric: str, labelled: bool = True,
               relevant: bool = False) -> DevPool:
    """At most ``limit`` of the queries (a seeded subset, in order), each with the union of
    the runs' top ``depth`` chunks as its candidates, and with ``relevant`` its own relevant
    chunks too. ``runs``: :class:`~bmembed_lab.retrieval.Run` objects over the same queries;
    ``rel``: their :class:`~bmembed_lab.relevance.Relevance`."""
    keep = np.arange(len(query_ids))
    if len(keep) > limit:
        keep = np.sort(np.random.default_rng(seed).choice(len(keep), limit, replace=False))
    rows = [{q: i for i, q in enumerate(r.query_ids)} for r in runs]
    ids, texts, cands = [], [], []
    for i in keep:
        qid = query_ids[i]
        pool: dict[int, None] = {}
        rankings = [r.ranked(row[qid]) for r, row in zip(runs, rows)]
        for ranking in rankings:
            for c in ranking[:depth]:
                if c >= 0:
                    pool.setdefault(int(c), None)
        if relevant:
            for c in relevant_chunks(rel, qid, rankings):
                pool.setdefault(c, None)
        ids.append(qid)
        texts.append(query_texts[i])
        cands.append(list(pool))
    judged = [rel.judged(q, []) for q in ids]  # the labels at the relevance's level
    return DevPool(ids, texts, cands, [j[1] for j in judged], [j[2] for j in judged],
                   [rel.n_facts[q] for q in ids], metric, labelled, rel.doc_of)


def dev_score(enc, pool: DevPool, chunk_texts: list[str], shared: bool = True,
              progress: bool = True, keep: dict | None = None,
              chunk_emb: np.ndarray | None = None) -> np.ndarray:
    """Per-query ``pool.metric`` (percent) when ``enc`` ranks the candidates by cosine: with
    ``shared`` (the default) each query ranks the union of every dev query's candidates, else
    only its own. Measured on the demo and the Multihop-RAG proxy (bench/selection_fidelity.py):
    the shared union of the top 20s gives each step the whole corpus's MAP@10 at half its
    encodings; the relevant chunks plus the top 1s choose as it does at a quarter of that.
    The model is put in eval mode for the scoring and given back in the mode it was in.
    ``keep`` (a dict) receives the pool's chunk embeddings as ``keep["chunks"]``. With
    ``chunk_emb`` (the pool's chunks' fixed embeddings: the query-side student) only the
    questions are encoded."""
    if not len(pool):
        return np.zeros(0)
    model = enc.model
    was_training = model.training
    model.eval()
    try:
        idx = pool.chunk_indices
        emb = chunk_emb if chunk_emb is not None else enc.encode(
            [chunk_texts[c] for c in idx], is_query=False,
            progress=progress and "dev evaluation: encoding the candidates")
        q = enc.encode(pool.query_texts, is_query=True,
                       progress=progress and "dev evaluation: encoding the questions")
    finally:
        model.train(was_training)
    if keep is not None:
        keep["chunks"] = emb
    return pool_values(emb, q, pool, shared)


# -- the exported step's pool embeddings, reused when the export encodes the corpus ------------
POOL_EMBEDDINGS = ("dev_pool_embeddings.npy", "dev_pool_embeddings.json")  # beside merged/


def save_pool_embeddings(folder, emb: np.ndarray, pool: DevPool, chunk_texts: list[str],
                         step: int, enc) -> None:
    """Write the exported step's dev-pool chunk embeddings into the export ``folder``, with
    what they are (the chunks' texts' key, their indices, the step, the precision and input
    limit ``enc`` scored them at), so encoding the corpus with the export encodes only the
    other chunks (on the demo 445 of 1,792: about 20 s)."""
    from pathlib import Path

    from .hashing import texts_key
    from .safeio import save_npy, write_json

    idx = pool.chunk_indices
    save_npy(Path(folder) / POOL_EMBEDDINGS[0], np.asarray(emb, dtype=np.float32))
    write_json(Path(folder) / POOL_EMBEDDINGS[1], {
        "step": step, "indices": idx, "texts": texts_key([chunk_texts[c] for c in idx]),
        "precision": enc.precision, "max_length": enc.max_length})


def known_pool_rows(enc, texts: list[str]) -> tuple[list[int], np.ndarray] | None:
    """(indices into ``texts``, their embeddings) that ``enc``'s export saved at its exported
    step (:func:`save_pool_embeddings`), or None: no such file, other texts at those indices,
    or another precision or input limit than ``enc`` encodes with (then they could differ)."""
    from pathlib import Path

    from .hashing import texts_key
    from .safeio import load_npy, read_json

    folder = Path(enc.path).parent
    if not (folder / POOL_EMBEDDINGS[1]).is_file():
        return None
    info, ident = read_json(folder / POOL_EMBEDDINGS[1]), enc.identity
    idx = [int(i) for i in info["indices"]]
    if (info["precision"], info["max_length"]) != (ident["precision"], ident["max_length"]) \
            or not idx or max(idx) >= len(texts) \
            or texts_key([texts[i] for i in idx]) != info["texts"]:
        return None
    emb = load_npy(folder / POOL_EMBEDDINGS[0])
    return (idx, emb) if emb.shape[0] == len(idx) else None


def pool_values(chunk_emb: np.ndarray, query_emb: np.ndarray, pool: DevPool, shared: bool = True
                ) -> np.ndarray:
    """:func:`dev_score` from embeddings already computed (``chunk_emb`` rows in
    ``pool.chunk_indices`` order, ``query_emb`` rows in ``pool.query_ids`` order)."""
    return ranked_values(lambda i, rows: chunk_emb[rows] @ query_emb[i], pool, shared)


def ranked_values(score, pool: DevPool, shared: bool = True) -> np.ndarray:
    """Per-query ``pool.metric`` when query i ranks its candidates by ``score(i, rows)`` (rows
    into ``pool.chunk_indices``): the encoders' cosines, or BM25's scores (the card's row)."""
    idx = pool.chunk_indices
    row = {c: i for i, c in enumerate(idx)}
    values = []
    for i, cands in enumerate(pool.candidates):
        cands = idx if shared else cands
        if not cands:
            values.append(0.0)
            continue
        sims = np.asarray(score(i, [row[c] for c in cands]))
        ranked = [cands[j] for j in np.argsort(-sims, kind="stable")]
        if pool.doc_of is not None:
            ranked = collapse(ranked, pool.doc_of)
        m = query_metrics(ranked, pool.grades[i], pool.facts[i], pool.n_facts[i], (1, 4, 10))
        values.append(100.0 * m[pool.metric])
    return np.asarray(values, dtype=np.float64)


def pool_scores(chunk_emb: np.ndarray, query_emb: np.ndarray, pool: DevPool, shared: bool = True
                ) -> float:
    """The mean of :func:`pool_values`."""
    v = pool_values(chunk_emb, query_emb, pool, shared)
    return float(v.mean()) if len(v) else float("nan")


@dataclass
class Selector:
    """The model selection of one training run: scores the model every ``every`` steps (and at
    step 0, the model it starts from, and at the last step), saves the best weights, and says
    when ``patience`` evaluations in a row brought no gain. ``score(enc)`` is the dev score."""

    score: object  # callable: encoder -> per-query scores (array) or their mean (float)
    run_dir: object
    every: int
    patience: int
    metric: str = ""
    what: str = "dev questions"
    curve: list = None  # type: ignore[assignment]  # [{"step", "score"}]
    best_step: int | None = None
    best: float | None = None
    bad: int = 0
    stopped_at: int | None = None
    n_boot: int = 2000
    seed: int = 0
    base_values: list | None = None  # per-query scores at step 0 and at the best step
    best_values: list | None = None
    start: list | None = None  # per-query scores at step 0 when known (DevPool.start)
    kept: dict | None = None  # what ``score`` keeps of its last call (dev_score's ``keep``)
    bm25: list | None = None  # BM25's per-query scores on the same pool (DevPool.bm25)
    best_chunks: np.ndarray | None = None  # kept["chunks"] at the best step, when kept
    on_eval: object = None  # callable (step, score) after each evaluation (experiment trackers)

    def __post_init__(self):
        self.curve = list(self.curve or [])

    def due(self, step: int, last: int) -> bool:
        return bool(self.every) and (step % self.every == 0 or step == last)

    def known(self, step: int) -> bool:
        """Whether the scores at ``step`` are known without encoding (step 0: ``start``)."""
        return step == 0 and self.start is not None

    def evaluate_apart(self, bar, enc, model, step: int, last: int | None = None) -> bool:
        """:meth:`evaluate`, shown apart from the training bar ``bar`` (a tqdm): a line when it
        starts and when it ends (score, seconds), its encodings with their own bar, and its
        seconds taken out of ``bar``'s clock, so the bar's rate and ETA count training steps
        only (the step-0 evaluation read as a 165 s step and an ETA of hours)."""
        import time

        t = time.perf_counter()
        if not bar.disable:
            how = ("read from the base encoder's embeddings" if self.known(step) else
                   f"scoring the {self.what} ...")
            bar.write(f"dev evaluation at step {step}: {how}")
        stop = self.evaluate(enc, model, step, last)
        took = time.perf_counter() - t
        self.curve[-1]["seconds"] = round(took, 3)  # timing.py keeps training and evaluation apart
        if not bar.disable:
            bar.start_t += took  # tqdm's own clock: the pause is not a step
            bar.last_print_t += took
            best = (
                f"; best {self.best:.2f} at step {self.best_step}" if self.best is not None else ""
            )
            bar.write(f"dev evaluation at step {step}: {self.metric or 'score'} "
                      f"{self.curve[-1]['score']:.2f}{best} ({took:.0f} s)")
        return stop

    def evaluate(self, enc, model, step: int, last: int | None = None) -> bool:
        """Score at ``step``; keep the weights if best. True when training should stop before
        its ``last`` step (patience used up)."""
        from .checkpoint import save_best

        out = self.start if self.known(step) else self.score(enc)
        values = None if np.ndim(out) == 0 else [float(x) for x in out]
        s = float(np.mean(values)) if values is not None else float(out)
        self.curve.append({"step": step, "score": s})
        if self.on_eval is not None:
            self.on_eval(step, s)
        if step == 0:
            self.base_values = values
            return False
        if self.best is None or s > self.best:
            self.best, self.best_step, self.bad, self.best_values = s, step, 0, values
            self.best_chunks = (self.kept or {}).get("chunks")
            save_best(self.run_dir, model, step, s)
        else:
            self.bad += 1
        if self.patience and self.bad >= self.patience and (last is None or step < last):
            self.stopped_at = step
            return True
        return False

    @property
    def base(self) -> float | None:
        """The score of the model before training (step 0)."""
        return next((c["score"] for c in self.curve if c["step"] == 0), None)

    def state(self) -> dict:
        return {
            "curve": self.curve,
            "best_step": self.best_step,
            "best": self.best,
            "bad": self.bad,
            "base_values": self.base_values,
            "best_values": self.best_values,
        }

    def restore(self, state: dict) -> None:
        self.curve = list(state.get("curve", []))
        self.best_step, self.best, self.bad = (
            state.get("best_step"),
            state.get("best"),
            state.get("bad", 0),
        )
        self.base_values, self.best_values = state.get("base_values"), state.get("best_values")

    def gain(self) -> dict | None:
        """The best step minus the model it started from on the same dev queries: paired
        bootstrap {diff, low, high, queries} in points, or None without per-query scores."""
        from .metrics import paired_bootstrap

        if not self.base_values or not self.best_values:
            return None
        r = paired_bootstrap(np.asarray(self.best_values), np.asarray(self.base_values),
                             self.n_boot, self.seed)
        return {"diff": r["diff"], "low": r["low"], "high": r["high"], "queries": r["n"]}

    def summary(self) -> dict:
        """What the run and its export report: the curve, base, best and whether the best is
        below the model it started from."""
        return {"metric": self.metric, "on": self.what, "curve": self.curve, "base": self.base,
                "best_step": self.best_step, "best": self.best, "stopped_early_at": self.stopped_at,
                "worse_than_base": (self.best is not None and self.base is not None
                                    and self.best < self.base),
                "gain over base": (g := self.gain()),
                "clearly_better_than_base": None if g is None else g["low"] > 0,
                "best_values": self.best_values,  # per dev query: auto pairs runs with them
                **self.against_bm25()}

    def against_bm25(self) -> dict:
        """BM25 on the same dev pool, and the best step minus it (paired, in points)."""
        from .metrics import paired_bootstrap

        if not self.bm25 or not self.best_values or len(self.bm25) != len(self.best_values):
            return {}
        r = paired_bootstrap(np.asarray(self.best_values), np.asarray(self.bm25), self.n_boot,
                             self.seed)
        return {"bm25": float(np.mean(self.bm25)), "gain over bm25": {
            "diff": r["diff"], "low": r["low"], "high": r["high"], "queries": r["n"]}}
