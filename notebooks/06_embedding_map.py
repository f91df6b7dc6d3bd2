import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full")


@app.cell
def _():
    import marimo as mo
    import pandas as pd
    import plotly.express as px
    import plotly.graph_objects as go

    from bmembed_lab import workbench
    from bmembed_lab.embedmap import MapParams
    return MapParams, go, mo, pd, px, workbench


@app.cell
def _(mo):
    mo.md(r"""
    # 06 · Embedding map: base vs adapted, one UMAP fit

    The evaluation questions and the chunks, embedded by the base encoder and by the adapted
    one, are projected by **one joint UMAP fit**, so a point's position means the same on both
    panels. Colour by document, by relevance to the selected question, or by whether the model
    finds a gold chunk in its top 10. Pick a question to draw its lines to the gold chunks
    (green) and to the model's top-k (red). Select points with the box or lasso tool to list them.
    Coordinates are cached per (models, corpus, parameters): reopening costs no UMAP compilation.
    """)
    return


@app.cell
def _(workbench):
    pipe = workbench.open_pipeline()
    chunks, _ = pipe.chunks()
    rel, _ = pipe.relevance()
    query_ids, query_texts = pipe.eval_queries()
    return chunks, pipe, query_ids, query_texts, rel


@app.cell
def _(mo):
    adapted = mo.ui.dropdown(["bmembed", "cl", "mnrl"], value="bmembed", label="adapted model")
    neighbors = mo.ui.slider(5, 50, value=15, label="UMAP n_neighbors", show_value=True)
    min_dist = mo.ui.slider(0.0, 0.9, step=0.05, value=0.1, label="min_dist", show_value=True)
    recompute = mo.ui.run_button(label="Recompute the map")
    mo.hstack([adapted, neighbors, min_dist, recompute])
    return adapted, min_dist, neighbors, recompute


@app.cell
def _(MapParams, adapted, min_dist, mo, neighbors, pipe, recompute):
    params = MapParams(n_neighbors=neighbors.value, min_dist=min_dist.value)
    with mo.status.spinner(title="Embedding map (cached after the first fit; UMAP compiles ~40 s once)"):
        if recompute.value:
            pipe.invalidate("embedding_map")
        coords = pipe.embedding_map(("base", adapted.value), params)
    return (coords,)


@app.cell
def _(adapted, pipe):
    from bmembed_lab.evaluation import per_query_table

    runs = {s: pipe.run(s)[0] for s in ("base", adapted.value)}
    rel_, _ = pipe.relevance()
    hits = {s: per_query_table(r, rel_).set_index("query_id")["Hit@10"] for s, r in runs.items()}
    return hits, runs


@app.cell
def _(coords, mo, query_ids, query_texts):
    mapped = set(coords[coords.kind == "query"].item)
    texts = dict(zip(query_ids, query_texts))
    options = {f"{texts[q][:80]} ({q})": q for q in query_ids if q in mapped}
    question = mo.ui.dropdown(options, value=next(iter(options)), label="question")
    colour = mo.ui.radio(["document", "relevance", "hit or miss"], value="document", label="colour by",
                         inline=True)
    mo.hstack([question, colour])
    return colour, question, texts


@app.cell
def _(chunks, colour, coords, hits, question, rel, runs, texts):
    import numpy as _np

    chunk_pos = {c.chunk_id: i for i, c in enumerate(chunks)}
    gold = {chunks[c].chunk_id for c in rel.grades.get(question.value, {})}
    table = coords.copy()
    table["text"] = [texts.get(i, "")[:120] if k == "query" else chunks[chunk_pos[i]].text[:120]
                     for k, i in zip(table.kind, table.item)]
    table["document"] = [("question" if k == "query" else chunks[chunk_pos[i]].doc_id)
                         for k, i in zip(table.kind, table.item)]
    table["relevance"] = _np.where(table.kind == "query", _np.where(table.item == question.value,
                                   "selected question", "question"),
                                   _np.where(table.item.isin(gold), "gold chunk", "chunk"))
    table["hit or miss"] = [("chunk" if k == "chunk" else
                             ("hit@10" if hits[m].get(i, 0) > 0 else "miss@10"))
                            for m, k, i in zip(table.model, table.kind, table.item)]
    table["colour"] = table[colour.value]

    def top_chunks(model: str, k: int = 5) -> list[str]:
        run = runs[model]
        row = run.query_ids.index(question.value)
        return [chunks[j].chunk_id for j in run.ranked(row)[:k]]

    lines = {m: {"gold": sorted(gold), "top": top_chunks(m)} for m in runs}
    return lines, table


@app.cell
def _(go, lines, px, question, table):
    fig = px.scatter(table, x="x", y="y", color="colour", symbol="kind", facet_col="model",
                     hover_data={"item": True, "text": True, "x": False, "y": False, "colour": False},
                     custom_data=["model", "kind", "item"], height=620, opacity=0.75)
    fig.update_traces(marker={"size": 5})
    for col, model in enumerate(table.model.unique(), start=1):
        pts = table[table.model == model].set_index(["kind", "item"])
        if ("query", question.value) not in pts.index:
            continue
        qx, qy = pts.loc[("query", question.value), ["x", "y"]]
        for kind, colour_ in (("gold", "#2ca02c"), ("top", "#d62728")):
            for cid in lines[model][kind]:
                if ("chunk", cid) in pts.index:
                    cx, cy = pts.loc[("chunk", cid), ["x", "y"]]
                    fig.add_trace(go.Scatter(x=[qx, cx], y=[qy, cy], mode="lines", showlegend=False,
                                             line={"color": colour_, "width": 1.5}, hoverinfo="skip"),
                                  row=1, col=col)
    fig.update_layout(dragmode="lasso", legend={"title": ""})
    return (fig,)


@app.cell
def _(fig, mo):
    map_view = mo.ui.plotly(fig)
    map_view
    return (map_view,)


@app.cell
def _(map_view, mo, pd, table):
    picked = pd.DataFrame(map_view.value or [])
    if len(picked) and "customdata" in picked:
        keys = {tuple(c[:3]) for c in picked["customdata"]}
        sel = table[[(m, k, i) in keys for m, k, i in zip(table.model, table.kind, table.item)]]
    else:
        sel = table.iloc[0:0]
    mo.vstack([mo.md(f"**{len(sel)} selected** (box or lasso on the map)"),
               mo.ui.table(sel[["model", "kind", "item", "document", "relevance", "hit or miss", "text"]],
                           selection=None, page_size=10)])
    return (sel,)


if __name__ == "__main__":
    app.run()
