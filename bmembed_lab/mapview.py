"""The embedding map as notebook 06 shows it, and one question followed across the notebooks:
plain functions over the map's coordinates, the evaluation's ranks and the URL's ``?question=``
(re-exported by :mod:`bmembed_lab.workbench`, which the notebooks call)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def gold_rank_moves(base_ranks: pd.Series, adapted_ranks: pd.Series, depth: int = 10) -> dict:
    """How many questions' first gold chunk an adapted model ranks higher (closer), lower
    (further) or the same as base; ranks past ``depth`` or missing count as depth + 1."""
    moved = list(question_moves(base_ranks, adapted_ranks, depth).values())
    return {"closer": moved.count("closer"), "further": moved.count("further"),
            "same": moved.count("same"), "depth": depth}


def selected_keys(fig, points) -> set[tuple]:
    """The (model, kind, item) of each point a box or lasso selection on the map picked.
    marimo sends each point's trace (``curveNumber``) and index in it (``pointIndex``, or
    ``pointNumber``), not its ``customdata``: the keys are looked up in ``fig``'s traces."""
    out = set()
    for p in points or []:
        c = p.get("curveNumber")
        i = p.get("pointIndex", p.get("pointNumber"))
        if not (isinstance(c, int) and isinstance(i, int) and 0 <= c < len(fig.data)):
            continue
        data = fig.data[c].customdata
        if data is not None and 0 <= i < len(data):
            out.add(tuple(str(x) for x in data[i][:3]))
    return out


def map_table(coords: pd.DataFrame, chunks, grades: dict, question: str, texts: dict,
              hits: dict, top_documents: int = 10, titles: dict | None = None,
              moves: dict | None = None) -> pd.DataFrame:
    """The map's points with what they can be coloured by: relevance to ``question`` (the
    selected question / other questions / its gold chunks / other chunks), hit or miss at 10
    per model, rank change (``moves``: question id -> closer / further / same, the adapted
    model against base) and document: the ``top_documents`` largest by mapped chunks under
    their ``titles`` (doc id -> title), the rest grouped, the same for every question, listed
    largest first in ``attrs["documents"]`` (so each keeps one colour)."""
    pos = {c.chunk_id: i for i, c in enumerate(chunks)}
    gold = {chunks[c].chunk_id for c in grades.get(question, {})}
    t = coords.copy()
    is_q = t.kind == "query"
    t["text"] = [
        texts.get(i, "")[:120] if q else chunks[pos[i]].text[:120] for q, i in zip(is_q, t.item)
    ]
    doc = pd.Series(
        [None if q else chunks[pos[i]].doc_id for q, i in zip(is_q, t.item)], index=t.index
    )
    big = list(doc[~is_q].value_counts().index[:top_documents])
    names = {d: ((titles or {}).get(d) or d)[:40] for d in big}
    t["document"] = [
        "question" if q else names.get(d, "other documents") for q, d in zip(is_q, doc)
    ]
    t.attrs["documents"] = [names[d] for d in big]
    t["document (10 largest)"] = t["document"]
    t["relevance"] = np.where(is_q, np.where(t.item == question, "selected question", "question"),
                              np.where(t.item.isin(gold), "gold chunk", "chunk"))
    t["hit or miss"] = ["chunk" if not q else ("hit@10" if hits[m].get(i, 0) > 0 else "miss@10")
                        for m, q, i in zip(t.model, is_q, t.item)]
    t["rank change"] = ["chunk" if not q else (moves or {}).get(i, "not ranked")
                        for q, i in zip(is_q, t.item)]
    return t


def _panels(coords: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Each (kind, item) on both panels: x_a, y_a under ``a``, x_b, y_b under ``b``."""
    pa = coords[coords.model == a].set_index(["kind", "item"])[["x", "y"]]
    pb = coords[coords.model == b].set_index(["kind", "item"])[["x", "y"]]
    return pa.merge(pb, left_index=True, right_index=True, suffixes=("_a", "_b"))


def panel_shift(coords: pd.DataFrame, a: str, b: str) -> dict:
    """How far the points moved between two panels of one joint map: the median distance
    between an item's position under ``a`` and under ``b``, as a share of the map's width."""
    both = _panels(coords, a, b)
    d = np.hypot(both.x_a - both.x_b, both.y_a - both.y_b)
    width = float(max(np.ptp(coords.x), np.ptp(coords.y)) or 1.0)
    return {"points": len(both), "median": float(np.median(d)) / width if len(d) else 0.0,
            "moved a tenth": float(np.mean(d / width > 0.1)) if len(d) else 0.0}


def question_moves(base_ranks: pd.Series, adapted_ranks: pd.Series, depth: int = 10) -> dict:
    """Question id -> "closer" / "further" / "same": the adapted model's first gold rank
    against base's (a rank beyond ``depth`` counts as depth + 1)."""
    both = pd.concat([base_ranks, adapted_ranks], axis=1, join="inner").fillna(depth + 1)
    b, a = both.iloc[:, 0].clip(upper=depth + 1), both.iloc[:, 1].clip(upper=depth + 1)
    return dict(zip(both.index, np.select([a < b, a > b], ["closer", "further"], "same")))


def cached_map(pipe, systems: tuple[str, ...], params) -> pd.DataFrame | None:
    """The UMAP map of ``systems`` from the cache of a read-only ``pipe``, or None when it is
    not there yet (06 then fits one, showing PCA meanwhile)."""
    from .errors import NotComputed

    try:
        return pipe.embedding_map(systems, params)
    except NotComputed:
        return None

def movements(coords: pd.DataFrame, keys: set[tuple], a: str, b: str) -> pd.DataFrame:
    """Where the selected points (``keys``: (model, kind, item), from either panel) sit under
    ``a`` and under ``b`` in one joint map: kind, item, x_a, y_a, x_b, y_b and how far they
    moved, the farthest first."""
    picked = {(k, i) for _, k, i in keys}
    both = _panels(coords, a, b)
    both = both[[k in picked for k in both.index]].reset_index()
    both["moved"] = np.hypot(both.x_a - both.x_b, both.y_a - both.y_b)
    return both.sort_values("moved", ascending=False, ignore_index=True)


def region_table(coords: pd.DataFrame, hits: dict, a: str, b: str, texts: dict,
                 regions: int = 8, seed: int = 0) -> pd.DataFrame:
    """Where on the map ``b`` gains over ``a``: the questions of ``a``'s panel grouped into
    ``regions`` regions by k-means on their positions (seeded), each region's Hit@10 under
    both models, the paired difference with its 95% bootstrap interval, and the question
    nearest the region's centre as its example; regions with the largest change first.
    ``hits``: model -> per-question Hit@10 (0 or 1) indexed by question id."""
    from scipy.cluster.vq import kmeans2  # (scikit-learn's KMeans took 2.3 s to import)

    from .metrics import interval_text, paired_bootstrap

    q = coords[(coords.model == a) & (coords.kind == "query")].reset_index(drop=True)
    q = q[q.item.isin(hits[a].index) & q.item.isin(hits[b].index)].reset_index(drop=True)
    k = min(regions, len(q))
    if k < 2:
        return pd.DataFrame()
    xy = q[["x", "y"]].to_numpy(dtype=np.float64)
    centres, labels = kmeans2(xy, k, seed=seed, minit="++")
    rows = []
    for r in range(k):
        if not (labels == r).any():  # (k-means may leave a region empty)
            continue
        members = q.item[labels == r]
        ha, hb = (100.0 * hits[m].loc[members].to_numpy() for m in (a, b))  # in percent
        ci = paired_bootstrap(hb, ha, n_boot=2000, seed=seed)
        centre = members.iloc[int(np.argmin(np.linalg.norm(xy[labels == r] - centres[r],
                                                           axis=1)))]
        rows.append({"questions": len(members), f"Hit@10 {a}": round(float(ha.mean()), 1),
                     f"Hit@10 {b}": round(float(hb.mean()), 1), "diff": ci["diff"],
                     "change [95% interval]": interval_text(ci["diff"], ci["low"], ci["high"]),
                     "clear": "gain" if ci["low"] > 0 else "loss" if ci["high"] < 0 else "-",
                     "example question": texts.get(centre, centre)[:100]})
    out = pd.DataFrame(rows).sort_values("diff", ascending=False, ignore_index=True)
    out.insert(0, "region", range(1, len(out) + 1))
    return out.drop(columns="diff")

# -- one question followed across the notebooks (the URL carries it: ?question=ID) ---------
FOCUS = "question"  # the URL parameter
FOLLOW = ("01_query_generation", "02_bm25_sampling", "04_evaluation", "06_embedding_map",
          "07_perturbation")  # the notebooks that open on a followed question


def focus_id() -> str | None:
    """The followed question's id from the page's URL (``?question=ID``), or None (also where
    no marimo page runs the notebook: a Jupyter kernel, a script)."""
    import marimo as mo
    from marimo._runtime.context.types import ContextNotInitializedError

    try:
        value = mo.query_params().get(FOCUS)
    except ContextNotInitializedError:
        return None
    return (value[0] if isinstance(value, list) else value) or None


def focus_links(query_id: str, here: str) -> str:
    """Markdown links that open the other notebooks on this question: marimo's gallery
    (`bmembed-lab notebooks`) opens ``?file=NN.py``, and each reads ``?question=ID``."""
    from urllib.parse import quote

    return "**Follow this question in:** " + " · ".join(
        f"[{nb.replace('_', ' ', 1).replace('_', ' ')}](?file={nb}.py&{FOCUS}={quote(query_id)})"
        for nb in FOLLOW if nb != here)


def focus_gold(pipe, query_id: str | None) -> dict | None:
    """The followed question as the notebooks use it: its text, its gold chunks (rows of the
    chunk list) and their documents (01 opens the first), or None when it is not a test
    question of this config (or none is computed yet)."""
    from .errors import InputError, NotComputed

    if not query_id:
        return None
    try:
        q, chunks = pipe.questions(), pipe.chunks()[0]
    except (NotComputed, InputError):  # nothing to follow yet, or no labelled questions
        return None
    if query_id not in q.relevance.grades:
        return None
    gold = sorted(q.relevance.grades[query_id])
    return {"id": query_id, "text": dict(zip(q.ids, q.texts)).get(query_id, ""), "gold": gold,
            "documents": list(dict.fromkeys(chunks[c].doc_id for c in gold))}


def focus_training_query(ranking, gold: list[int]) -> int | None:
    """The row of the first training query whose BM25 top chunk is one of ``gold`` (the
    followed question's gold chunk rows), else of the first with one in its top 10: the list
    02 shows for that question; None when no training query ranks a gold chunk that high."""
    for depth in (1, 10):
        hit = np.flatnonzero(np.isin(ranking.indices[:, :depth], gold).any(axis=1))
        if len(hit):
            return int(hit[0])
    return None
