import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo
    import pandas as pd

    from bmembed_lab import workbench
    return mo, pd, workbench


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
    recompute = mo.ui.run_button(label="Recompute the retrieval runs")
    recompute
    return (recompute,)


@app.cell
def _(mo, recompute, workbench):
    pipe = workbench.open_pipeline()
    if recompute.value:
        for _stage in ("bm25_run", "dense_run", "rrf_run"):
            pipe.invalidate(_stage)
    trained = pipe.cached_models()
    systems = ["bm25", "base", "rrf"] + trained + [f"rrf+{m}" for m in trained]
    for _s in mo.status.progress_bar(systems, title="evaluating (cached runs load in seconds)",
                                     remove_on_exit=True):
        pipe.run(_s)
    res = pipe.evaluate(systems)
    mo.vstack([mo.md(f"### Summary on the test questions (percent), protocol **{res['protocol']}**"),
               *[mo.callout(mo.md(_n), kind="warn") for _n in res["notes"]],
               mo.ui.table(res["summary"].round(2).reset_index(), selection=None)])
    return pipe, res, systems, trained


@app.cell
def _(mo, res):
    cmp = res["comparisons"].round(3)
    mo.vstack([mo.md("### Paired bootstrap: difference in points [95% interval]"),
               mo.ui.table(cmp, selection=None, page_size=12)])
    return


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
    _ids, _texts = pipe.eval_queries()
    wl.insert(1, "question", wl.query_id.map(dict(zip(_ids, _texts))))
    counts = wl.status.value_counts().to_dict()
    status = mo.ui.dropdown(["fixed", "broke", "both hit", "both miss"], value="fixed", label="show")
    mo.vstack([mo.md(f"**{a.value} vs {b.value} on {metric.value}:** fixed {counts.get('fixed', 0)}, "
                     f"broke {counts.get('broke', 0)}, both hit {counts.get('both hit', 0)}, "
                     f"both miss {counts.get('both miss', 0)}"), status])
    return counts, status, wl


@app.cell
def _(mo, status, wl):
    shown = wl[wl.status == status.value]
    picked = mo.ui.table(shown, selection="single", page_size=10)
    picked
    return (picked,)


@app.cell
def _(mo, pd, picked, pipe, res, systems):
    _rows = picked.value
    mo.stop(_rows is None or len(_rows) == 0, mo.md("Select a question above to see every system's ranking."))
    qid = _rows.iloc[0]["query_id"]
    chunks, _ = pipe.chunks()
    rel, _ = pipe.relevance()
    gold = set(rel.grades[qid])
    cols = {}
    for s in systems:
        run, _ = pipe.run(s)
        top = run.ranked(run.query_ids.index(qid))[:10]
        cols[s] = [("★ " if c in gold else "") + chunks[c].chunk_id for c in top]
    drill = pd.DataFrame({k: v + [""] * (10 - len(v)) for k, v in cols.items()}, index=range(1, 11))
    gr = res["per_query"]
    ranks = gr[gr.query_id == qid].set_index("system")["gold_rank"]
    mo.vstack([mo.md(f"**{qid}**: gold chunks {', '.join(chunks[c].chunk_id for c in sorted(gold))} (★); "
                     "first gold rank per system: " + ", ".join(f"{s} {ranks.get(s)}" for s in systems)),
               mo.ui.table(drill.reset_index(names="rank"), selection=None)])
    return (drill,)


if __name__ == "__main__":
    app.run()
