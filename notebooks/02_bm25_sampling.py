# /// script
# [tool.marimo.opengraph]  # the title and line of this notebook's card in `bmembed-lab notebooks`
# title = "02 · BM25 sampling"
# description = "The partition designer: how a BM25 ranking becomes a training list and its target"
# ///
import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="02 · BM25 sampling")


@app.cell
def _():
    # first: a hidden figure that makes the browser load plotly while the cells below compute
    from bmembed_lab.charts import plotly_preload

    plotly_preload()
    return


@app.cell
def _():
    import marimo as mo
    import numpy as np
    import plotly.graph_objects as go

    from bmembed_lab import charts, workbench
    from bmembed_lab.config import SamplingConfig
    return SamplingConfig, charts, go, mo, np, workbench


@app.cell
def _(mo):
    mo.md(r"""
    # 02 · BM25 ranking and rank-partition sampling (paper Section 3.2)

    Every synthetic query's top-*k* chunks are ranked with BM25. A training list takes one
    chunk from each **rank interval**: fine-to-coarse intervals are short near the top (fine
    distinctions among close competitors) and grow geometrically further down (coarse
    negatives). The list's target is softmax(BM25 score / α): α decides how much of the BM25
    order the model is asked to reproduce.

    Move the controls: the interval edges, the drawn list and its target redraw at once.
    """)
    return


@app.cell
def _(workbench):
    compute = workbench.compute_button()  # shown by a "not computed yet" note
    return (compute,)


@app.cell
def _(compute, workbench):
    pipe = workbench.open_pipeline(read_only=not compute.value)  # opening only reads the cache
    chunks, _ = workbench.from_cache(pipe.chunks, compute)
    return chunks, pipe


@app.cell
def _(mo, pipe):
    recompute = mo.ui.run_button(
        label="Compute (or recompute) the BM25 ranking of the training queries"
    )
    recompute
    return (recompute,)


@app.cell
def _(compute, mo, pipe, recompute, workbench):
    with mo.status.progress_bar(total=1, title="BM25 top-k of every training query",
                                remove_on_exit=True) as _bar:
        _pipe = workbench.open_pipeline() if recompute.value else pipe
        if recompute.value:
            from bmembed_lab import cache as _cache

            _pipe.invalidate(_cache.RANKING)
        ranking, _ranking_key = workbench.from_cache(_pipe.training_ranking, compute)
        _bar.update()
    mo.stop(not ranking.query_ids, mo.callout(mo.md(
        "**No training query matches any chunk under BM25** (skipped: "
        + ", ".join(f"{len(v)} {k}" for k, v in ranking.skipped.items())
        + "), so no list can be drawn. "
        "**Fix:** check the training queries in `01_query_generation` (do they share words "
        "with the corpus?) or give more documents."), kind="danger"))
    mo.md(
        f"**{len(ranking.query_ids):,}** training queries ranked over "
        f"**{len(pipe.chunks()[0]):,}** chunks "
        f"(skipped: {sum(len(v) for v in ranking.skipped.values())})."
    )
    return (ranking,)


@app.cell
def _(mo, pipe, ranking, workbench):
    cfg = pipe.cfg.sampling
    k = mo.ui.slider(
        2,
        max(3, int(ranking.indices.shape[1])),
        value=min(cfg.k, int(ranking.indices.shape[1])),
        label="k (BM25 depth)",
        show_value=True,
    )
    m = mo.ui.slider(2, 20, value=cfg.m, label="m (list size)", show_value=True)
    strategy = mo.ui.dropdown(
        ["fine-to-coarse", "uniform", "paper-illustration"], value=cfg.strategy, label="strategy"
    )
    ratio = mo.ui.slider(1.0, 4.0, step=0.1, value=cfg.ratio, label="ratio", show_value=True)
    alpha = mo.ui.slider(
        0.2,
        10.0,
        step=0.1,
        value=pipe.cfg.training.alpha,
        label="alpha (label temperature)",
        show_value=True,
    )
    # the URL's ?question=ID: a training query whose BM25 top chunks hold its gold chunk
    _focus = workbench.focus_gold(pipe, workbench.focus_id())
    _row = _focus and workbench.focus_training_query(ranking, _focus["gold"])
    _rows = list(range(min(200, len(ranking.query_ids)))) + (
        [_row] if _row is not None and _row >= 200 else [])
    query = mo.ui.dropdown(
        {f"{ranking.query_texts[i][:70]} ({ranking.query_ids[i]})": i for i in _rows},
        value=(f"{ranking.query_texts[_row or 0][:70]} ({ranking.query_ids[_row or 0]})"),
        label="query" + (f" (BM25 ranks the followed question {_focus['id']}'s gold chunk "
                         "near its top)" if _row is not None else ""),
        searchable=True,
    )
    return alpha, k, m, query, ratio, strategy


@app.cell
def _(alpha, k, m, mo, query, ratio, strategy):
    # the ratio only shapes fine-to-coarse intervals: hidden under the other strategies
    mo.vstack([mo.hstack([k, m, strategy]),
               mo.hstack([ratio, alpha] if strategy.value == "fine-to-coarse" else [alpha]), query])
    return


@app.cell
def _(SamplingConfig, alpha, chunks, k, m, mo, pipe, query, ranking, ratio, strategy, workbench):
    from dataclasses import replace

    from bmembed_lab.errors import InputError

    sampling = replace(
        pipe.cfg.sampling, k=k.value, m=m.value, strategy=strategy.value, ratio=ratio.value
    )
    try:
        view = workbench.design_list(ranking, query.value, chunks, sampling, alpha.value)
        problem = None
    except InputError as err:
        view, problem = None, str(err)
    mo.stop(
        view is None,
        mo.callout(mo.md(f"**These settings cannot draw a list:** {problem}"), kind="warn"),
    )
    return (view,)


@app.cell
def _(charts, go, mo, np, view):
    curve = view["curve"]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=np.arange(1, len(curve) + 1),
            y=curve,
            mode="lines",
            name="BM25 score",
            line={"color": "#888"},
        )
    )
    _items = view["items"]
    fig.add_trace(
        go.Scatter(
            x=_items["rank"],
            y=_items["bm25"],
            mode="markers",
            name="sampled",
            marker={"size": 10, "color": "#d62728"},
            text=_items["text"].str[:120],
            hovertemplate="rank %{x} (1 = BM25's first)<br>score "
                          "%{y:.2f}<br>%{text}<extra></extra>",
        )
    )
    for e in view["edges"][1:-1]:
        fig.add_vline(
            x=int(e) + 0.5, line={"width": 1, "dash": "dot", "color": "#1f77b4"}
        )  # after rank e
    fig.update_layout(
        title=f"BM25 scores of the query's top {view['k']} (of {view['candidates']} candidates); "
        "dotted lines = interval edges",
        xaxis_title="BM25 rank, 1 = first (log scale)",
        yaxis_title="BM25 score",
        xaxis_type="log",
        height=380,
        margin={"t": 50},
    )
    curve_view = mo.ui.plotly(fig, config=charts.PLOT_CONFIG)
    curve_view
    return curve_view, fig


@app.cell
def _(charts, go, mo, view, workbench):
    _items = view["items"]
    target_fig = go.Figure(go.Bar(x=[f"{r}" for r in _items["rank"]], y=_items["target p"],
                                  marker_color="#2ca02c"))
    target_fig.update_layout(
        title=f"Target softmax(score / alpha): entropy {view['entropy']:.2f} of at most "
        f"{view['max_entropy']:.2f} nats",
        xaxis_title="rank of the sampled chunk",
        yaxis_title="target probability",
        height=300,
        margin={"t": 50},
    )
    warn = (
        mo.callout(mo.md(f"**Target {view['warning']}**"), kind="warn")
        if view["warning"]
        else mo.md("")
    )
    mo.vstack(
        [
            warn,
            mo.ui.plotly(target_fig, config=charts.PLOT_CONFIG),
            workbench.table(_items, page_size=20, wrapped_columns=["text"]),
        ]
    )
    return (target_fig,)


@app.cell
def _(mo, pipe, workbench):
    _systems = ["base"] + workbench.from_cache(pipe.cached_models)
    student = mo.ui.dropdown(["(off)"] + _systems, value="(off)",
                             label="beside the target: a model's own distribution over this list")
    student
    return (student,)


@app.cell
def _(charts, go, mo, pipe, query, ranking, student, view, workbench):
    own, own_fig = None, None  # (off): nothing encoded, no model loaded
    if student.value != "(off)":
        _items = view["items"]
        _tau = pipe.cfg.training.tau
        with mo.status.spinner(title=f"encoding the query with {student.value}"):
            own = workbench.from_cache(lambda: workbench.model_view(
                pipe, student.value, ranking.query_texts[query.value], view["rows"],
                _items["target p"].to_numpy(), _tau))
        _x = [str(r) for r in _items["rank"]]
        own_fig = go.Figure([
            go.Bar(x=_x, y=_items["target p"], name="target softmax(BM25 / alpha)",
                   marker_color="#2ca02c"),
            go.Bar(x=_x, y=own["model p"], name=f"{student.value}: softmax(cos / tau)",
                   marker_color="#1f77b4")])
        own_fig.update_layout(barmode="group", height=320, xaxis_title="rank of the sampled chunk",
                              yaxis_title="probability", margin={"t": 50},
                              title=f"ListNet loss on this list: {own['loss']:.3f} "
                                    f"(its floor, the target's entropy: {own['floor']:.3f})")
    mo.vstack([mo.ui.plotly(own_fig, config=charts.PLOT_CONFIG),
               mo.md(f"tau = {pipe.cfg.training.tau:g} (the student's temperature, "
                     "`training.tau`). Training lowers this loss towards the floor by moving the "
                     "blue bars onto the green ones.")]) if own_fig is not None else mo.md("")
    return own, own_fig


@app.cell
def _(alpha, charts, compute, go, mo, pipe, workbench):
    _lists = workbench.from_cache(pipe.training_lists, compute)[0]
    _trained_alpha = pipe.cfg.training.alpha
    spread = workbench.target_spread(_lists.scores, alpha.value)
    _at_training = workbench.target_spread(_lists.scores, _trained_alpha)
    spread_fig = go.Figure(go.Histogram(x=spread["normalised"], xbins={"start": 0, "end": 1.0001,
                                                                        "size": 0.05},
                                        marker_color="#2ca02c"))
    spread_fig.update_layout(
        title=f"Every training list's target at alpha {alpha.value:g}",
        xaxis={"range": [0, 1], "title": "entropy / log(m): 0 = one-hot, 1 = uniform"},
        yaxis_title="lists", height=300, margin={"t": 50})
    mo.vstack([
        mo.ui.plotly(spread_fig, config=charts.PLOT_CONFIG),
        mo.md(f"At this alpha **{spread['peaked']:.0%}** of the {len(_lists.scores):,} training "
              "lists (the config's k, m and strategy) are near one-hot (top item >= 90%). "
              f"Training uses the config's alpha **{_trained_alpha:g}**, where "
              f"**{_at_training['peaked']:.0%}** are" + (
                  " — the same setting as the slider." if alpha.value == _trained_alpha else
                  "; move the slider to it to see what training sees.")),
    ])
    return (spread, spread_fig)


@app.function
def test_design_view_matches_partitions():
    """Notebook-level check: the designer's edges are the package's partition edges."""
    from bmembed_lab.config import SamplingConfig as _S
    from bmembed_lab.partitions import partition_boundaries

    edges = partition_boundaries(100, 5, "fine-to-coarse", 2.0, 3, "m_items")
    assert edges[0] == 0 and edges[-1] == 100 and len(edges) == 6
    assert _S().m == 9


if __name__ == "__main__":
    app.run()
