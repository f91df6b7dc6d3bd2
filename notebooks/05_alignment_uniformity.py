# /// script
# [tool.marimo.opengraph]  # the title and line of this notebook's card in `bmembed-lab notebooks`
# title = "05 · Alignment and uniformity"
# description = "What training did to the embedding space, and whether the paper's claim holds here"
# ///
import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="05 · Alignment and uniformity")


@app.cell
def _():
    # first: a hidden figure that makes the browser load plotly while the cells below compute
    from bmembed_lab.charts import plotly_preload

    plotly_preload()
    return


@app.cell
def _():
    import marimo as mo
    import pandas as pd
    import plotly.graph_objects as go

    from bmembed_lab import charts, workbench
    return charts, go, mo, pd, workbench


@app.cell
def _(mo):
    mo.md(r"""
    # 05 · Alignment and uniformity (paper Section 5, Appendix E)

    - **Alignment**: the mean of ‖e(q) − e(gold chunk)‖² over the evaluation (question, gold
      chunk) pairs. Lower is better.
    - **Normalised alignment** (the paper's, Appendix E): each pair divided by
      ‖e(q) − e(nearest chunk)‖², so 1 means the gold chunk is as close as the closest chunk
      of all. Lower is better; ranking depends on this one.
    - **Uniformity**: log E exp(−2‖x − y‖²) over chunk pairs, never above 0; plotted as its
      absolute value |uniformity|, where larger means the chunks are spread more evenly.
    - **The paper's claim** (Section 5): BMEmbed spreads the chunks more evenly (|uniformity|
      up) without losing alignment: an arrow pointing up and to the left.

    The reading under the plot says, from the numbers, whether that happened here and what it
    meant for retrieval.
    """)
    return


@app.cell
def _(workbench):
    compute = workbench.compute_button()  # shown by a "not computed yet" note
    return (compute,)


@app.cell
def _(compute, workbench):
    pipe = workbench.open_pipeline(read_only=not compute.value)  # opening only reads the cache
    systems = workbench.systems_for(workbench.from_cache(pipe.cached_models, compute), "dense")
    return pipe, systems


@app.cell
def _(mo, systems):
    which = mo.ui.radio({"normalised (Appendix E)": "alignment_norm", "raw": "alignment"},
                        value="normalised (Appendix E)", label="alignment", inline=True)
    recompute = mo.ui.run_button(label="Compute (or recompute) the diagnostics")
    mo.vstack([mo.md(f"Models in the cache: **{', '.join(systems)}** (train more in notebook 03)."),
               mo.hstack([which, recompute])])
    return recompute, which


@app.cell
def _(mo, pd, pipe, recompute, systems, workbench):
    _pipe = workbench.open_pipeline() if recompute.value else pipe
    if recompute.value:
        from bmembed_lab import cache as _cache

        _pipe.invalidate(_cache.DIAGNOSTICS)
    workbench.encode_with_progress(_pipe, systems, "Compute (or recompute) the diagnostics")
    with mo.status.progress_bar(
        total=len(systems), title="alignment / uniformity", remove_on_exit=True
    ) as _bar:
        rows = []
        for _s in systems:
            rows.append(workbench.from_cache(lambda _s=_s: _pipe.alignment_uniformity(_s),
                                             "Compute (or recompute) the diagnostics"))
            _bar.update()
    au = pd.DataFrame(rows)[
        [
            "system",
            "alignment",
            "alignment_norm",
            "uniformity",
            "uniformity_abs",
            "pairs",
            "pairs_skipped",
            "uniformity_points",
        ]
    ]
    _shown = au.round(4)[["system", "alignment", "alignment_norm", "uniformity_abs", "pairs"]]
    mo.vstack([workbench.table(_shown.rename(columns={"alignment_norm": "normalised alignment",
                                                      "uniformity_abs": "|uniformity|"})),
               mo.md(f"Uniformity over {int(au.uniformity_points.iloc[0]):,} chunks (a seeded "
                     f"sample where there are more); pairs skipped (the question sits on a "
                     f"chunk): {int(au.pairs_skipped.sum())}.")])
    return (au,)


@app.cell
def _(au, charts, go, mo, which):
    x = which.value
    fig = go.Figure(
        go.Scatter(
            x=au[x],
            y=au["uniformity_abs"],
            mode="markers+text",
            text=au["system"],
            textposition="top center",
            marker={"size": 12},
        )
    )
    base = au[au.system == "base"].iloc[0]
    for _, _r in au[au.system != "base"].iterrows():
        fig.add_annotation(x=_r[x], y=_r["uniformity_abs"], ax=base[x], ay=base["uniformity_abs"],
                           xref="x", yref="y", axref="x", ayref="y", showarrow=True, arrowhead=2,
                           arrowsize=1.6, arrowwidth=2, arrowcolor="#d62728",
                           standoff=9, startstandoff=9)  # the head stops at the marker's edge
    fig.update_layout(
        title={"text": "Alignment vs |uniformity|",
               "subtitle": {"text": "lower alignment and higher |uniformity| are better; "
                                    "arrows go from base to each adapted model"}},
        xaxis_title=f"{'normalised ' if x == 'alignment_norm' else ''}alignment ↓",
        yaxis_title="|uniformity| ↑ (more evenly spread)", height=480,
        # from zero on both axes: a change of 1% looks like one, not like the whole plot
        xaxis={"rangemode": "tozero"}, yaxis={"rangemode": "tozero"})
    plane = mo.ui.plotly(fig, config=charts.PLOT_CONFIG)
    plane
    return fig, plane


@app.cell
def _(au, compute, mo, pipe, workbench):
    from bmembed_lab.diagnostics import gains_over_base, reading

    gains = gains_over_base(
        workbench.from_cache(lambda: pipe.evaluate(list(au.system)), compute)["comparisons"]
    )
    _lines = reading(au.to_dict("records"), gains)
    mo.md("### Reading\n\n" + ("\n\n".join(_lines) if _lines else
                                "Only the base model is in the cache: train one (notebook 03 or "
                                "`bmembed-lab run`) to see what adapting it moves."))
    return (gains,)


@app.cell
def _(charts, compute, mo, pipe, systems, which, workbench):
    from bmembed_lab.diagview import trace_figure, trace_reading

    # along training: each dev evaluation traced the dev pool's geometry into train.json
    _infos = {_s: workbench.from_cache(lambda _s=_s: pipe.trained(_s)[0].info, compute)
              for _s in systems if _s != "base"}
    _traces = {_s: _i.get("geometry_trace") or [] for _s, _i in _infos.items()}
    _shown = {_s: _t for _s, _t in _traces.items() if len(_t) > 1}
    _none = [_s for _s in _traces if _s not in _shown]
    _best = {_s: (_infos[_s].get("selection") or {}).get("best_step") for _s in _shown}
    _note = (f" No trace for **{', '.join(_none)}**: trained before runs stored one, or without "
             "dev evaluations (`training.eval_every` = 0); a new run stores it." if _none else "")
    mo.stop(not _infos)
    mo.vstack(
        [mo.md("### Along training\n\nAt each dev evaluation the run measured alignment and "
               "uniformity on what it encoded anyway: the dev questions and their pool of "
               "candidate chunks (not the test set: the level differs from the table above, "
               "the direction is what to read). The ring marks the step that was exported."
               + _note)]
        + ([mo.ui.plotly(trace_figure(_shown, _best, which.value), config=charts.PLOT_CONFIG)]
           + [mo.md(trace_reading(_s, _t, _best[_s])) for _s, _t in _shown.items()]
           if _shown else []))
    return


@app.cell
def _(mo):
    behind = mo.ui.switch(label="show the distributions behind the means (a few seconds: they "
                                "read every embedding)", value=False)
    behind
    return (behind,)


@app.cell
def _(behind, compute, mo, pipe, systems, workbench):
    from bmembed_lab import diagview

    # the distributions behind the two means, from the cached embeddings (seconds), on demand
    # so the page opens as fast as before
    mo.stop(not behind.value)
    _q = workbench.from_cache(pipe.questions, compute)
    dists, curves = {}, {}
    for _s in systems:
        _c, _, _qe, _ = workbench.from_cache(lambda _s=_s: pipe.embeddings(_s), compute)
        dists[_s] = diagview.pair_distances(_qe, _c, _q.ids, _q.relevance.grades)
        curves[_s] = diagview.uniformity_curve(_c)
    return curves, diagview, dists


@app.cell
def _(charts, curves, dists, go, mo, systems):
    from plotly.subplots import make_subplots

    hist = make_subplots(rows=1, cols=len(systems), shared_yaxes=True,
                         subplot_titles=[f"<b>{_s}</b>" for _s in systems])
    for _i, _s in enumerate(systems, start=1):
        for _name, _key, _colour in (("question - its gold chunk", "positive", "#2ca02c"),
                                     ("question - a random chunk", "random", "#9e9e9e")):
            hist.add_histogram(x=dists[_s][_key], name=_name, marker_color=_colour, opacity=0.6,
                               histnorm="probability", xbins={"start": 0, "end": 4, "size": 0.1},
                               legendgroup=_name, showlegend=_i == 1, row=1, col=_i)
    hist.update_layout(barmode="overlay", height=330, margin={"t": 60},
                       title="Squared distances on the sphere (0 = same direction, 4 = opposite)")
    hist.update_xaxes(range=[0, 4])
    curve = go.Figure([go.Scatter(x=[t for t, _ in curves[_s]], y=[u for _, u in curves[_s]],
                                  mode="lines+markers", name=_s) for _s in systems])
    curve.update_layout(height=300, margin={"t": 50}, xaxis_title="t", xaxis_type="log",
                        yaxis={"title": "|uniformity| at t", "rangemode": "tozero"},
                        title="Uniformity as a function of t (the table uses t = 2)")
    mo.vstack([
        mo.md("### Behind the means\n\nThe alignment is the mean of the green distances; "
              "uniformity reads how far apart the chunks are, which the grey ones (random "
              "pairs) show. If an adapted model pulls every pair closer, the green bars move "
              "left without the gold chunk beating the others."),
        mo.ui.plotly(hist, config=charts.PLOT_CONFIG),
        mo.ui.plotly(curve, config=charts.PLOT_CONFIG),
    ])
    return curve, hist


@app.cell
def _(charts, compute, diagview, dists, go, mo, pipe, systems, workbench):
    mo.stop(len(systems) < 2)
    _adapted = systems[1]
    _res = workbench.from_cache(lambda: pipe.evaluate(["base", _adapted]), compute)
    _pq = _res["per_query"]
    _moves = workbench.question_moves(_pq[_pq.system == "base"].set_index("query_id").gold_rank,
                                      _pq[_pq.system == _adapted].set_index("query_id").gold_rank)
    moved = diagview.alignment_moves(dists["base"], dists[_adapted], _moves)
    _box = go.Figure([go.Box(y=moved[moved["rank change"] == _g]["change"], name=_g,
                             marker_color=charts.MAP_COLOURS.get(_g, "#7f7f7f"))
                      for _g in ("closer", "same", "further")])
    _box.add_hline(y=0, line_dash="dot")
    _box.update_layout(height=320, margin={"t": 50},
                       yaxis_title="alignment change (adapted - base)",
                       title=f"Did moving a question towards its gold chunk buy it a rank? "
                             f"({_adapted} against base)")
    mo.vstack([mo.ui.plotly(_box, config=charts.PLOT_CONFIG),
               workbench.table(diagview.moves_summary(moved)),
               mo.md("Below zero: the question sits closer to its gold chunk than under base. "
                     "Where most questions whose rank fell also moved closer, the whole space "
                     "contracted (the grey random-pair distances above shrink too): closeness "
                     "alone did not rank the gold chunk higher.")])
    return (moved,)


if __name__ == "__main__":
    app.run()
