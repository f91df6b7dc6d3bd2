# /// script
# [tool.marimo.opengraph]  # the title and line of this notebook's card in `bmembed-lab notebooks`
# title = "04 · Evaluation"
# description = "BM25, base, RRF and the adapted model on the test questions, with paired intervals"
# ///
import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="04 · Evaluation")


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

    from bmembed_lab import charts, workbench
    return charts, mo, pd, workbench


@app.cell
def _(mo):
    mo.md(r"""
    # 04 · Evaluation: the comparison table, per question, wins and losses

    Systems: BM25, the base encoder, RRF of the two, and every adapted model in the cache (with
    RRF + adapted). Hit@k, both MAP@10 definitions (the paper reports Multihop-RAG's official
    one), nDCG@10, with paired-bootstrap 95% intervals of the differences.
    """)
    return


@app.cell
def _(mo):
    recompute = mo.ui.run_button(label="Compute (or recompute) the retrieval runs")
    recompute
    return (recompute,)


@app.cell
def _(mo, recompute, workbench):
    from bmembed_lab.metrics import glossary

    pipe = workbench.open_pipeline(read_only=not recompute.value)  # opening only reads the cache
    if recompute.value:
        from bmembed_lab import cache as _cache

        for _stage in (_cache.BM25_RUN, _cache.DENSE_RUN, _cache.RRF_RUN):
            pipe.invalidate(_stage)
    _button = "Compute (or recompute) the retrieval runs"
    trained = workbench.from_cache(pipe.cached_models, _button)
    systems = workbench.systems_for(trained)
    workbench.encode_with_progress(pipe, systems, _button)
    for _s in mo.status.progress_bar(systems, title="evaluating (cached runs load in seconds)",
                                     remove_on_exit=True):
        workbench.from_cache(lambda _s=_s: pipe.run(_s), _button)
    res = workbench.from_cache(lambda: pipe.evaluate(systems), _button)
    mo.vstack(
        [
            mo.md(f"### Summary on the test questions (percent), protocol **{res['protocol']}**, "
                  f"{res['level']}"),
            *[mo.callout(mo.md(_n), kind="warn") for _n in res["notes"]],
            # one row per metric, one column per system: fits a projector's 1,024 px
            workbench.table(res["summary"].round(2).T.rename_axis("metric").reset_index(),
                            page_size=12, header_tooltip={"metric": "the glossary below says "
                                                          "what each one scores"}),
            mo.md(res["metric note"]),
            mo.accordion({"What each column scores, and what it divides by": mo.md(
                "\n".join(f"- {_line}" for _line in glossary(res["summary"].columns)))}),
        ]
    )
    return pipe, res, systems, trained


@app.cell
def _(mo, res, workbench):
    from bmembed_lab.metrics import p_text

    cmp = res["comparisons"].round({"diff": 2, "ci_low": 2, "ci_high": 2})
    cmp["p_value"] = [p_text(p).removeprefix("p=").removeprefix("p") for p in cmp.p_value]
    chart_metric = mo.ui.dropdown(["MAP@10", "Hit@1", "Hit@4", "Hit@10", "nDCG@10"], value="MAP@10",
                                  label="chart metric")
    _shown = cmp.assign(**{"difference, points [95%]": [
        f"{r['diff']:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}]" for _, r in cmp.iterrows()]})[
        ["comparison", "metric", "difference, points [95%]", "p_value", "queries"]].rename(
        columns={"p_value": "p", "queries": "questions"})
    mo.vstack([mo.md("### Paired bootstrap: difference in points [95% interval]"),
               workbench.table(_shown.to_dict("records"), selection=None, page_size=12),
               chart_metric])
    return chart_metric, cmp


@app.cell
def _(chart_metric, charts, mo, res):
    diff_chart = charts.comparison_chart(res["comparisons"], chart_metric.value)
    mo.ui.plotly(diff_chart, config=charts.PLOT_CONFIG)
    return (diff_chart,)


@app.cell
def _(mo, systems, trained):
    a = mo.ui.dropdown(systems, value=(trained or ["base"])[0], label="system")
    b = mo.ui.dropdown(systems, value="base" if trained else "bm25", label="against")
    metric = mo.ui.dropdown(["Hit@1", "Hit@4", "Hit@10"], value="Hit@10", label="metric")
    mo.hstack([a, b, metric])
    return a, b, metric


@app.cell
def _(a, b, metric, mo, pipe, res, workbench):
    wl = workbench.win_loss(res["per_query"], a.value, b.value, metric.value)
    _q = pipe.questions()
    wl.insert(1, "question", wl.query_id.map(dict(zip(_q.ids, _q.texts))))
    counts = wl.status.value_counts().to_dict()
    status = mo.ui.dropdown(
        ["fixed", "broke", "both hit", "both miss"], value="fixed", label="show"
    )
    mo.vstack(
        [
            mo.md(
                f"**{a.value} vs {b.value} on {metric.value}:** fixed {counts.get('fixed', 0)}, "
                f"broke {counts.get('broke', 0)}, both hit {counts.get('both hit', 0)}, "
                f"both miss {counts.get('both miss', 0)}"
            ),
            status,
        ]
    )
    return counts, status, wl


@app.cell
def _(a, b, charts, mo, pipe, res, wl, workbench):
    _depth = pipe.cfg.eval.depth
    pairs = workbench.rank_pairs(res["per_query"], a.value, b.value, _depth)
    rank_fig = charts.rank_scatter(pairs, a.value, b.value, _depth,
                                   dict(zip(wl.query_id, wl.question)))
    mo.ui.plotly(rank_fig, config=charts.PLOT_CONFIG)
    return pairs, rank_fig


@app.cell
def _(mo, status, wl, workbench):
    shown = wl[wl.status == status.value]
    picked = workbench.table(shown.to_dict("records"), selection="single", page_size=10)
    picked
    return (picked,)


@app.cell
def _(mo, picked, pipe, res, systems, workbench):
    _rows = picked.value
    _focus = workbench.focus_gold(pipe, workbench.focus_id())  # ?question=ID in the URL
    mo.stop(not _rows and not _focus, mo.md("Select a question above to see every system's "
                                            "top 10."))
    qid = _rows[0]["query_id"] if _rows else _focus["id"]
    view = workbench.drilldown(pipe, qid, systems, width=240)  # wrapped below, not cut at 90
    gr = res["per_query"]
    ranks = gr[gr.query_id == qid].set_index("system")["gold_rank"]
    drill = view["table"]
    mo.vstack([mo.md(f"**{qid}**: {view['question']}"),
               mo.md("**Gold** (★ below): " + " / ".join(f"_{t[:300]}_" for t in view["gold"])),
               mo.md("First gold rank per system: " + ", ".join(
                   f"{s} {workbench.rank_text(ranks.get(s))}" for s in systems)),
               workbench.table(drill.to_dict("records"), selection=None, page_size=10,
                               wrapped_columns=list(systems)),
               mo.md(workbench.focus_links(qid, "04_evaluation"))])
    return (drill,)


@app.cell
def _(mo):
    from bmembed_lab import slices

    slice_kind = mo.ui.dropdown(list(slices.KINDS), value="keyword overlap",
                                label="slice the questions by")
    slice_kind
    return slice_kind, slices


@app.cell
def _(a, b, mo, pipe, res, slice_kind, slices, workbench):
    _chunks = workbench.from_cache(pipe.chunks)[0]
    _of = slices.labels(slice_kind.value, pipe.questions(), _chunks, pipe.cfg.bm25)
    sliced = slices.table(res["per_query"], a.value, b.value, _of)
    mo.vstack([mo.md(f"**{a.value} against {b.value}, MAP@10 by {slice_kind.value}** (slices of "
                     "5 questions or more; paired 95% intervals, wide on small slices)"),
               mo.ui.table(sliced, selection=None, page_size=10, show_data_types=False,
                           show_column_summaries=False)])
    return (sliced,)


if __name__ == "__main__":
    app.run()
