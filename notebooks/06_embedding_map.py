# /// script
# [tool.marimo.opengraph]  # the title and line of this notebook's card in `bmembed-lab notebooks`
# title = "06 · Embedding map"
# description = "One UMAP fit of base and adapted embeddings side by side, question by question"
# ///
import marimo

__generated_with = "0.25.2"
app = marimo.App(width="full", app_title="06 · Embedding map")


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
    from bmembed_lab.embedmap import MapParams
    return MapParams, charts, mo, pd, workbench


@app.cell
def _(mo):
    mo.md(r"""
    # 06 · Embedding map: base vs adapted, one UMAP fit

    The evaluation questions and the chunks, embedded by the base encoder and by the adapted
    one, are projected by **one joint UMAP fit**, so a point's position means the same on both
    panels. Colour by relevance to the selected question, by whether the model finds a gold
    chunk in its top 10, by rank change, or by document (the 10 largest; the rest grouped).
    Pick a question to draw its lines to the gold chunks (green) and to the model's top 5 (red).
    Select points with the box or lasso tool to list them and to see how far they moved.
    Coordinates are cached per (models, corpus, parameters): reopening costs no UMAP compilation;
    while a new UMAP fit runs, a PCA view of the same points shows at once (PCA, a linear
    projection, keeps global distances that UMAP does not: choose it above to read the whole
    page in it).
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
    _q = workbench.from_cache(pipe.questions, compute)
    rel, query_ids, query_texts = _q.relevance, _q.ids, _q.texts
    return chunks, pipe, query_ids, query_texts, rel


@app.cell
def _(MapParams, mo, pipe, workbench):
    _trained = workbench.from_cache(pipe.cached_models)
    mo.stop(
        not _trained,
        mo.callout(
            mo.md(
                "No adapted model in the cache yet: train one in notebook "
                "03 or with `make demo`, then reopen."
            ),
            kind="info",
        ),
    )
    adapted = mo.ui.dropdown(_trained, value=_trained[0], label="adapted model")
    neighbors = mo.ui.slider(
        5, 50, value=MapParams().n_neighbors, label="UMAP n_neighbors", show_value=True
    )
    min_dist = mo.ui.slider(
        0.0, 0.9, step=0.05, value=MapParams().min_dist, label="min_dist", show_value=True
    )
    recompute = mo.ui.run_button(label="Compute (or recompute) the map")
    projection = mo.ui.radio(["UMAP", "PCA (instant)"], value="UMAP", label="projection",
                             inline=True)
    mo.hstack([adapted, projection, neighbors, min_dist, recompute], wrap=True)
    return adapted, min_dist, neighbors, projection, recompute


@app.cell
def _(MapParams, adapted, charts, compute, min_dist, mo, neighbors, pipe, projection,
      recompute, workbench):
    params = MapParams(n_neighbors=neighbors.value, min_dist=min_dist.value)
    _systems = ("base", adapted.value)
    _pca = lambda: pipe.embedding_map(_systems, params, "pca")  # noqa: E731 (instant)
    # opening shows the cached map; moving a UMAP control (or the button) fits a new one,
    # and while it fits the same points show under PCA
    _fit = recompute.value or params != MapParams()
    if projection.value != "UMAP":
        coords = workbench.from_cache(_pca, compute)
    else:
        coords = None if recompute.value else workbench.cached_map(pipe, _systems, params)
        if coords is None:
            if _fit:
                mo.output.replace(mo.ui.plotly(charts.preview_figure(
                    workbench.from_cache(_pca, compute),
                    f"PCA preview while UMAP fits (n_neighbors {params.n_neighbors}, min_dist "
                    f"{params.min_dist:g})"), config=charts.PLOT_CONFIG))
            _pipe = workbench.open_pipeline() if _fit else pipe
            with mo.status.spinner(
                title="Embedding map (cached after the first fit; UMAP compiles ~40 s once)"
            ):
                if recompute.value:
                    from bmembed_lab import cache as _cache

                    _pipe.invalidate(_cache.EMBEDDING_MAP)
                coords = workbench.from_cache(lambda: _pipe.embedding_map(_systems, params),
                                              "Compute (or recompute) the map")
            mo.output.clear()
    return (coords,)


@app.cell
def _(adapted, compute, pipe, workbench):
    # per-question numbers from the evaluation of base and every trained model: the one 05
    # reads and `diagnose` (run by `make demo`) computes
    _dense = workbench.systems_for(workbench.from_cache(pipe.cached_models), "dense")
    workbench.encode_with_progress(pipe, _dense, compute)
    _res = workbench.from_cache(lambda: pipe.evaluate(_dense), compute)
    _pq = {s: _res["per_query"][_res["per_query"].system == s].set_index("query_id")
           for s in ("base", adapted.value)}
    runs = {s: workbench.from_cache(lambda s=s: pipe.run(s)[0], compute)
            for s in ("base", adapted.value)}
    hits = {s: t["Hit@10"] for s, t in _pq.items()}
    moved = workbench.gold_rank_moves(_pq["base"]["gold_rank"], _pq[adapted.value]["gold_rank"])
    moves = workbench.question_moves(_pq["base"]["gold_rank"], _pq[adapted.value]["gold_rank"])
    return hits, moved, moves, runs


@app.cell
def _(mo, query_ids, query_texts, workbench):
    # built from the questions alone, so changing a map control keeps these choices
    _first = query_ids.index(workbench.focus_id()) if workbench.focus_id() in query_ids else 0
    question = mo.ui.dropdown({f"{t[:80]} ({q})": q for q, t in zip(query_ids, query_texts)},
                              value=f"{query_texts[_first][:80]} ({query_ids[_first]})",
                              label="question",  # the URL's ?question=ID, else the first
                              searchable=True)  # type to find one of hundreds
    colour = mo.ui.radio(["relevance", "hit or miss", "rank change", "document (10 largest)"],
                         value="relevance", label="colour by", inline=True)
    search = mo.ui.text(placeholder="words in a chunk or question", label="find text",
                        full_width=False)
    texts = dict(zip(query_ids, query_texts))
    return colour, question, search, texts


@app.cell
def _(adapted, coords, workbench):
    # how far the panels differ: once per map, not again when the question or colour changes
    shift = workbench.panel_shift(coords, "base", adapted.value)
    return (shift,)


@app.cell
def _(adapted, colour, mo, moved, question, search, shift, workbench):
    _alike = shift["median"] < 0.02
    mo.vstack(
        [
            mo.hstack([question, colour, search], wrap=True),
            mo.md(workbench.focus_links(question.value, "06_embedding_map")),
            mo.md(
                f"Against base, **{adapted.value}** ranks the gold chunk higher for "
                f"**{moved['closer']}** test questions, lower for **{moved['further']}**, the same "
                f"for **{moved['same']}** (first gold chunk's rank, top {moved['depth']}; colour "
                "by rank change to see which)."
            ),
            mo.md(
                f"Between the panels a point moved by a median **{shift['median']:.1%}** of the "
                f"map's width; {shift['moved a tenth']:.0%} of the {shift['points']:,} points "
                "moved more than a tenth of it"
                + (": **the panels barely differ**, the adapted model kept base's neighbourhoods"
                   " (what moved is in the ranks above, not in the picture)." if _alike else ".")
            ),
        ]
    )
    return


@app.cell
def _(chunks, colour, coords, hits, mo, moves, question, rel, runs, texts, workbench):
    mo.stop(not (coords.kind == "query").any() or question.value not in set(coords.item),
            mo.callout(mo.md("This question is not on the map (beyond the map's question sample)."),
                       kind="info"))
    _titles = {c.doc_id: c.title for c in chunks if c.title}  # the chunks carry their titles
    table = workbench.map_table(coords, chunks, rel.grades, question.value, texts, hits,
                                titles=_titles, moves=moves)
    table["colour"] = table[colour.value]

    def top_chunks(model: str, k: int = 5) -> list[str]:
        run = runs[model]
        row = run.query_ids.index(question.value)
        return [chunks[j].chunk_id for j in run.ranked(row)[:k] if j >= 0]

    gold = {chunks[c].chunk_id for c in rel.grades.get(question.value, {})}
    lines = {m: {"gold": sorted(gold), "top": top_chunks(m)} for m in runs}
    return lines, table


@app.cell
def _(charts, lines, projection, question, table):
    fig = charts.map_figure(table, lines, question.value, projection.value.split()[0])
    return (fig,)


@app.cell
def _(charts, fig, mo):
    map_view = mo.ui.plotly(fig, config=charts.PLOT_CONFIG)
    map_view
    return (map_view,)


@app.cell
def _(adapted, charts, coords, fig, map_view, mo, table, workbench):
    keys = workbench.selected_keys(fig, map_view.value)  # (model, kind, item) of each point
    sel = table[[(str(m), str(k), str(i)) in keys
                 for m, k, i in zip(table.model, table.kind, table.item)]]
    _moved = workbench.movements(coords, keys, "base", adapted.value)
    mo.vstack(
        [mo.md(f"**{len(sel)} selected** (box or lasso on the map)")]
        + (
            [
                workbench.table(
                    sel[
                        ["model", "kind", "item", "document", "relevance", "hit or miss", "text"]
                    ].to_dict("records"),
                    selection=None,
                    page_size=10,
                ),
                mo.ui.plotly(charts.movement_figure(_moved, "base", adapted.value),
                             config=charts.PLOT_CONFIG),
            ]
            if len(sel)
            else []
        )
    )
    return (sel,)


@app.cell
def _(mo):
    by_region = mo.ui.switch(label="Hit@10 by map region: where does the adapted model gain?")
    by_region
    return (by_region,)


@app.cell
def _(adapted, by_region, coords, hits, mo, texts, workbench):
    # as Arize Phoenix does for its clusters: a metric per region of the map, on a switch
    mo.stop(not by_region.value)
    _regions = workbench.region_table(coords, hits, "base", adapted.value, texts)
    mo.stop(_regions.empty, mo.md("Too few questions on the map to group."))
    mo.vstack([mo.md(f"**Where {adapted.value} gains or loses:** the questions grouped into "
                     f"{len(_regions)} regions of base's panel (k-means on their positions), "
                     "each region's Hit@10 under both models and the paired difference with "
                     "its 95% interval (few questions per region: read the intervals)."),
               workbench.table(_regions, page_size=10, wrapped_columns=["example question"])])
    return


@app.cell
def _(chunks, mo, pd, question, runs, texts, workbench):
    # the selected question's nearest chunks under each model, with their cosine similarity
    _rows = []
    for _m, _run in runs.items():
        _r = _run.query_ids.index(question.value)
        for _k, (_c, _score) in enumerate(zip(_run.indices[_r][:5], _run.scores[_r][:5])):
            if _c >= 0:
                _rows.append({"model": _m, "rank": _k + 1, "cosine": round(float(_score), 3),
                              "document": chunks[_c].doc_id,
                              "chunk": " ".join(chunks[_c].text.split())[:160]})
    mo.vstack([mo.md(f"**Nearest chunks of the selected question** (_{texts[question.value]}_), "
                     "cosine similarity under each model:"),
               workbench.table(pd.DataFrame(_rows), page_size=10, wrapped_columns=["chunk"])])
    return


@app.cell
def _(mo, search, table, workbench):
    _q = search.value.strip().lower()
    _found = table[table.text.str.lower().str.contains(_q, regex=False)] if _q else table[:0]
    mo.stop(not _q)
    mo.vstack([mo.md(f"**{len(_found)} points** hold \"{search.value.strip()}\" (first 120 "
                     "characters of their text; every model's panel counts its own)"),
               workbench.table(_found[["model", "kind", "item", "document", "text"]]
                               .to_dict("records"), page_size=8, wrapped_columns=["text"])])
    return


if __name__ == "__main__":
    app.run()
