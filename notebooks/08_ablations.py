# /// script
# [tool.marimo.opengraph]  # the title and line of this notebook's card in `bmembed-lab notebooks`
# title = "08 · Ablations"
# description = "The paper's ablations rerun on this corpus: partitions, list size, k, 1/alpha"
# ///
import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="08 · Ablations")


@app.cell
def _():
    # first: a hidden figure that makes the browser load plotly while the cells below compute
    from bmembed_lab.charts import plotly_preload

    plotly_preload()
    return


@app.cell
def _():
    import marimo as mo
    import plotly.graph_objects as go

    from bmembed_lab import ablations, charts, workbench
    return ablations, charts, go, mo, workbench


@app.cell
def _(mo):
    mo.md(r"""
    # 08 · Ablations (paper Section 5 and Appendix D, rerun on this corpus)

    The paper varies one thing at a time and reports what it does to retrieval and to the
    embedding space. Here each variant is the default recipe with a few options changed,
    trained and evaluated like any run, and cached:

    - **partitions**: fine-to-coarse against uniform rank partitions, at list sizes m = 3, 6, 9;
    - **k**: how deep BM25 ranks each training query (100 or 1,000);
    - **1/alpha**: the temperature of the BM25 labels (0.1, 0.5, 1.0; the paper argues a lower
      one hurts and lowers uniformity).

    Each variant's **MAP@10 − default** is its difference to the default recipe on the same
    test questions with a paired 95% interval; **|uniformity|** and **normalised alignment**
    are notebook 05's. This notebook only reads the cache: run the sweep with
    `bmembed-lab ablations -c CONFIG [--axes partitions,k,inv_alpha] [--budget-minutes N]`
    (it prints its estimated time first, resumes after an interruption and skips what no
    longer fits the budget). One seed per variant.
    """)
    return


@app.cell
def _(ablations, workbench):
    sweep = workbench.compute_button(
        f"Run the sweep here: {len(ablations.variants())} variants, one training run each "
        "(it resumes; what is cached is skipped)")
    return (sweep,)


@app.cell
def _(ablations, mo, sweep, workbench):
    if sweep.value:
        with mo.status.spinner(title="the ablation sweep, one training run per variant") as _sp:
            ablations.run(workbench.config_path(), say=lambda _line: _sp.update(subtitle=_line))
    table = workbench.from_cache(lambda: ablations.read(workbench.config_path()), sweep,
                                 command="bmembed-lab ablations -c CONFIG")
    return (table,)


@app.cell
def _(ablations, mo, sweep, table):
    view = mo.ui.radio({"metric against m, per partition strategy": "partitions",
                        "metric against BM25 depth k": "k",
                        "|uniformity| against 1/alpha": "inv_alpha",
                        "alignment-uniformity plane": "plane"},
                       value="metric against m, per partition strategy", label="view")
    metric = mo.ui.dropdown(list(ablations.METRICS), value="MAP@10", label="metric")
    _same = table["same as default"].astype(bool)
    _missing = len(ablations.variants()) - (len(table) - 1)
    mo.vstack([mo.md(f"**{int((~_same).sum()) - 1}** variant(s) in the cache besides the default "
                     f"recipe" + (f" ({', '.join(table.variant[_same])} are the default recipe "
                                  "itself)" if _same.any() else "") + "."
                     + (f" {_missing} not run yet:" if _missing else "")),
               *([sweep] if _missing else []),
               mo.hstack([view, metric], justify="start", gap=2)])
    return metric, view


@app.cell
def _(charts, go, metric, mo, table, view):
    m = metric.value
    fig = go.Figure()
    ref = table.iloc[0]
    if view.value == "plane":  # variants that are the default run itself sit on its point
        _own = table[~table["same as default"].astype(bool)]
        fig.add_trace(go.Scatter(x=[ref["alignment_norm (base)"]], y=[ref["uniformity (base)"]],
                                 mode="markers+text", text=["base"], textposition="top center",
                                 marker={"size": 12, "color": "#7f7f7f"}, name="base"))
        fig.add_trace(go.Scatter(x=_own.alignment_norm, y=_own.uniformity,
                                 mode="markers+text", text=_own.variant.replace(
                                     "default", "default recipe"),
                                 textposition="top center", marker={"size": 10}, name="variants"))
        for _, _r in _own.iterrows():
            fig.add_annotation(x=_r.alignment_norm, y=_r.uniformity,
                               ax=ref["alignment_norm (base)"], ay=ref["uniformity (base)"],
                               xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                               arrowhead=2, arrowwidth=1.5, arrowcolor="#d62728", standoff=7)
        fig.update_layout(title="From base to each variant: normalised alignment ↓, "
                                "|uniformity| ↑",
                          xaxis_title="normalised alignment ↓",
                          yaxis_title="|uniformity| ↑ (more evenly spread)")
    else:
        rows = table[table.axis == view.value].sort_values("value")
        y = "uniformity" if view.value == "inv_alpha" else f"{m} - default"
        for _name, _g in rows.groupby(rows.strategy.where(rows.strategy != "", "all")):
            err = {} if y == "uniformity" else {
                "type": "data", "symmetric": False, "array": _g[f"{y} high"] - _g[y],
                "arrayminus": _g[y] - _g[f"{y} low"]}
            fig.add_trace(go.Scatter(x=_g.value, y=_g[y], mode="lines+markers", name=_name,
                                     error_y=err))
        if y != "uniformity":
            fig.add_hline(y=0, line_dash="dot", annotation_text="the default recipe")
        xlabel = {"partitions": "list size m", "k": "BM25 depth k",
                  "inv_alpha": "1/alpha"}[view.value]
        fig.update_layout(
            title=f"{'|uniformity|' if y == 'uniformity' else m + ' minus the default'} "
                  f"against {xlabel}" + (
                " (no variant of this axis in the cache yet)" if not len(rows) else
                " (only the default recipe's own point so far: bmembed-lab ablations runs the "
                "others)" if rows["same as default"].astype(bool).all() else ""),
            xaxis_title=xlabel,
            yaxis_title="|uniformity| ↑" if y == "uniformity" else f"{m} − default (points, "
                                                                  "paired 95% interval)")
    fig.update_layout(height=460)
    plot = mo.ui.plotly(fig, config=charts.PLOT_CONFIG)
    plot
    return fig, plot


@app.cell
def _(ablations, mo, table, workbench):
    mo.vstack([mo.md("### Reading\n\n" + ablations.reading(table)),
               workbench.table(ablations.display_rows(table), selection=None)])
    return


if __name__ == "__main__":
    app.run()
