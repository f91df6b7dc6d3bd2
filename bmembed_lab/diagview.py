"""Notebook 05's views beyond the two numbers (Wang and Isola's alignment and uniformity, paper
Section 5): the distribution behind each mean, computed from the cached embeddings in a second.

In: an encoder's L2-normalised chunk and question embeddings (``Pipeline.embeddings``), the
questions' gold chunks, and per-question ranks. Out: plain arrays and tables:

* :func:`pair_distances`: ||q - gold||^2 of every (question, gold chunk) pair (the alignment's
  terms: per-question alignment) beside ||q - c||^2 of seeded random (question, chunk) pairs;
* :func:`uniformity_curve`: log E exp(-t ||x - y||^2) over the chunks at several t (the paper
  and Wang and Isola report t = 2; a curve shows whether the comparison depends on it);
* :func:`alignment_moves`: each question's alignment change beside its gold rank change, so
  whether moving a question towards its gold chunk bought it a better rank can be read;
* :func:`trace_figure`: alignment and uniformity along training, from the rows each run's dev
  evaluations traced (:mod:`bmembed_lab.geotrace`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .diagnostics import on_sphere, uniformity


TS = (0.5, 1.0, 2.0, 4.0, 8.0)  # uniformity's t: the paper's 2 in the middle


def _gold_pairs(query_ids: list[str], grades: dict) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(i, c) for i, q in enumerate(query_ids) for c in grades.get(q, {})]
    return np.array([a for a, _ in pairs], int), np.array([b for _, b in pairs], int)


def pair_distances(q_emb: np.ndarray, c_emb: np.ndarray, query_ids: list[str], grades: dict,
                   n_random: int = 5000, seed: int = 0) -> dict:
    """{"positive": ||q - gold||^2 per (question, gold chunk) pair, "question": the pair's
    question id, "random": ||q - c||^2 of ``n_random`` seeded random (question, chunk) pairs}."""
    q, c = on_sphere(q_emb), on_sphere(c_emb)
    qi, ci = _gold_pairs(query_ids, grades)
    rng = np.random.default_rng(seed)
    rq, rc = rng.integers(len(q), size=n_random), rng.integers(len(c), size=n_random)
    return {"positive": np.sum((q[qi] - c[ci]) ** 2, axis=1),
            "question": [query_ids[i] for i in qi],
            "random": np.sum((q[rq] - c[rc]) ** 2, axis=1)}


def uniformity_curve(c_emb: np.ndarray, ts=TS, max_points: int = 2000, seed: int = 0) -> list:
    """[(t, |uniformity| at t)] over one seeded subsample of the chunks."""
    c = on_sphere(c_emb)
    return [(t, abs(uniformity(c, t, max_points, seed))) for t in ts]


def alignment_moves(base: dict, adapted: dict, moves: dict) -> pd.DataFrame:
    """Per question: its mean ||q - gold||^2 under base and the adapted model
    (:func:`pair_distances` of each), the change, and its gold rank change (``moves``:
    question id -> closer / further / same, :func:`~bmembed_lab.mapview.question_moves`)."""
    per = {name: pd.Series(d["positive"]).groupby(d["question"]).mean()
           for name, d in (("base", base), ("adapted", adapted))}
    t = pd.DataFrame(per).dropna()
    t["change"] = t["adapted"] - t["base"]
    t["rank change"] = [moves.get(q, "not ranked") for q in t.index]
    return t.rename_axis("question").reset_index()


def moves_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per rank change group: questions, the median alignment change, and the share whose
    question moved closer to its gold chunk (change < 0)."""
    g = table.groupby("rank change")["change"]
    return pd.DataFrame({"questions": g.size(), "median alignment change": g.median().round(4),
                         "moved closer to its gold chunk": (g.apply(lambda s: (s < 0).mean())
                                                            .map("{:.0%}".format))}
                        ).reset_index()


def trace_figure(traces: dict[str, list[dict]], exported: dict[str, int | None],
                 alignment: str = "alignment_norm"):
    """Alignment (``alignment``: "alignment_norm" or "alignment") and |uniformity| of the dev
    pool against the training step, a line per model (its ``geometry_trace`` rows), the
    exported step ringed."""
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    label = "normalised alignment" if alignment == "alignment_norm" else "alignment"
    fig = make_subplots(rows=1, cols=2, subplot_titles=[f"{label} (lower is better)",
                                                        "|uniformity| (higher: more spread)"])
    for i, (name, rows) in enumerate(traces.items()):
        steps = [r["step"] for r in rows]
        for col, key in ((1, alignment), (2, "uniformity_abs")):
            fig.add_scatter(x=steps, y=[r[key] for r in rows], mode="lines+markers", name=name,
                            legendgroup=name, showlegend=col == 1, row=1, col=col,
                            line={"color": qualitative.Plotly[i % 10]})
            best = [r[key] for r in rows if r["step"] == exported.get(name)]
            if best:
                fig.add_scatter(x=[exported[name]], y=best, mode="markers", row=1, col=col,
                                marker={"size": 14, "symbol": "circle-open", "color": "#111"},
                                name="exported step", legendgroup="exported",
                                showlegend=col == 1 and i == 0)
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(rangemode="tozero")  # from zero: a 1% change looks like one
    fig.update_layout(height=340, margin={"t": 60},
                      title="Along training, on the dev pool (what each dev evaluation encoded)")
    return fig


def trace_reading(name: str, rows: list[dict], exported: int | None) -> str:
    """One sentence on a run's trace: normalised alignment and |uniformity| at step 0, at the
    exported step and at the last step traced, each change in percent of step 0's value."""
    first, last = rows[0], rows[-1]
    best = next((r for r in rows if r["step"] == exported), last)

    def moved(key: str) -> str:
        pct = [round(100 * (r[key] - first[key]) / abs(first[key]), 1) + 0.0  # (no "-0.0")
               if first[key] else 0.0 for r in (best, last)]
        return (f"{first[key]:.3f} at step {first['step']}, {best[key]:.3f} at the exported "
                f"step {best['step']} ({pct[0]:+.1f}%), {last[key]:.3f} at step {last['step']} "
                f"({pct[1]:+.1f}%)")
    return (f"**{name}**: normalised alignment {moved('alignment_norm')}; |uniformity| "
            f"{moved('uniformity_abs')}.")
