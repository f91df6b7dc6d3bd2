# /// script
# [tool.marimo.opengraph]  # the title and line of this notebook's card in `bmembed-lab notebooks`
# title = "07 · Lexical sensitivity"
# description = "Keywords masked or swapped for synonyms: how much each system leans on the words"
# ///
import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="07 · Lexical sensitivity")


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

    from bmembed_lab import charts, perturbation, workbench
    return charts, go, mo, perturbation, workbench


@app.cell
def _(mo):
    mo.md(r"""
    # 07 · Lexical sensitivity: keyword masking and synonym substitution (paper Section 6, Table 5)

    How much of each retriever's success rests on the exact domain keywords that a question
    shares with its gold passage? Each evaluation question is perturbed twice: **masked** (every
    occurrence of every keyword replaced by a mask token) and **substituted** (each keyword
    replaced by one word of the same meaning). The perturbed questions are computed once and
    shared by every system. BM25 should collapse under masking; a dense encoder should lose
    less under substitution; the question is where BMEmbed, taught by BM25, lands between them.
    """)
    return


@app.cell
def _(mo):
    keywords_backend = mo.ui.dropdown(
        {
            "offline: shared words ranked by BM25 idf": "offline",
            "LLM ([llm] endpoint, Appendix F)": "llm",
        },
        value="offline: shared words ranked by BM25 idf",
        label="keywords",
    )
    substitution_backend = mo.ui.dropdown(
        {"WordNet (offline)": "wordnet", "LLM ([llm] endpoint)": "llm", "none": "none"},
        value="WordNet (offline)",
        label="substitutes",
    )
    max_keywords = mo.ui.slider(1, 10, value=5, label="max keywords per question", show_value=True)
    mask_token = mo.ui.text(value="[MASK]", label="mask token")
    compute = mo.ui.run_button(label="Compute the study for these settings")
    mo.hstack(
        [keywords_backend, substitution_backend, max_keywords, mask_token, compute], wrap=True
    )
    return compute, keywords_backend, mask_token, max_keywords, substitution_backend


@app.cell
def _(compute, keywords_backend, mask_token, max_keywords, substitution_backend, workbench):
    settings = workbench.overrides(
        "perturbation", keywords=keywords_backend.value, substitution=substitution_backend.value,
        max_keywords=max_keywords.value, mask_token=mask_token.value or "[MASK]")
    pipe = workbench.open_pipeline(read_only=not compute.value, overrides=settings)
    # a package error (no keyword backend, no WordNet ...) stops here with its fix
    pset, _ = workbench.from_cache(pipe.perturbations, "Compute the study for these settings",
                                   workbench.command("perturb", settings))
    workbench.table([{"count": k, "value": v} for k, v in pset.counts.items()], selection=None,
                    label="what was perturbed (and what was skipped)", page_size=12,
                    wrapped_columns=["count", "value"])
    return pipe, pset, settings


@app.cell
def _(mask_token, mo, pset, workbench):
    view = workbench.perturbation_view(pset, mask_token.value or "[MASK]", first=25)
    _rows = "".join(f"<tr><td>{r.query_id}</td><td>{r.original}</td><td>{r.masked}</td>"
                    f"<td>{r.substituted}</td></tr>" for r in view.itertuples())
    mo.vstack(
        [
            mo.md("### Questions side by side (first 25; keywords, masks and substitutes marked)"),
            mo.Html(
                "<table><tr><th>id</th><th>original</th><th>masked</th><th>substituted</th></tr>"
                f"{_rows}</table>"
            ),
        ]
    )
    return (view,)


@app.cell
def _(mo, pipe, workbench):
    trained = workbench.from_cache(pipe.cached_models)
    systems = workbench.systems_for(trained, "study")
    mo.md(f"Systems: **{', '.join(systems)}**" + ("" if trained else
          " (no adapted model in the cache yet: train one in notebook 03 or with `make demo`)."))
    return (systems,)


@app.cell
def _(mo, pipe, settings, systems, workbench):
    with mo.status.progress_bar(total=3 * len(systems), title="retrieval on original / masked / "
                                "substituted questions", remove_on_exit=True) as _bar:
        res = workbench.from_cache(
            lambda: pipe.perturbation_study(systems, progress=lambda done, total: _bar.update()),
            "Compute the study for these settings", workbench.command("perturb", settings),
        )
    mo.vstack(
        [
            mo.md(
                "### The study table (paper Table 5 layout): original → perturbed on the "
                "same questions (change [95% bootstrap interval]), in percent; negative = worse"
            ),
            workbench.table(res["table"].to_dict("records"), selection=None, page_size=20),
        ]
    )
    return (res,)


@app.cell
def _(mo):
    metric = mo.ui.dropdown(["Hit@1", "Hit@4", "Hit@10", "MAP@10"], value="Hit@10", label="metric")
    metric
    return (metric,)


@app.cell
def _(charts, go, metric, mo, perturbation, res):
    _s = res["study"][res["study"].metric == metric.value]
    fig = go.Figure()
    for _v, _color in (("masked", "#d62728"), ("substituted", "#1f77b4")):
        _d = _s[_s.variant == _v]
        fig.add_bar(x=_d.system, y=_d.change, name=_v, marker_color=_color,
                    error_y={"type": "data", "symmetric": False, "array": _d.ci_high - _d.change,
                             "arrayminus": _d.change - _d.ci_low})
    fig.update_layout(barmode="group", height=420, yaxis_title=f"change in {metric.value} (points)",
                      title=f"{metric.value}: perturbed minus original, 95% bootstrap intervals")
    mo.vstack(
        [
            mo.ui.plotly(fig, config=charts.PLOT_CONFIG),
            mo.md(
                "### What the numbers say\n\n"
                + "\n".join(
                    f"- {line}" for line in perturbation.reading(res["study"], metric.value)
                )
            ),
        ]
    )
    return (fig,)


@app.cell
def _(mo, pset, workbench):
    picked = workbench.table(
        workbench.perturbation_keywords(pset.queries).to_dict("records"),
        selection="single",
        page_size=8,
        label="pick a question for the drill-down",
    )
    picked
    return (picked,)


@app.cell
def _(mo, picked, pipe, pset, res, workbench):
    from bmembed_lab.perturbation.study import rank_change_view

    _rows = picked.value
    _focus = workbench.focus_id()  # ?question=ID in the URL
    _focus = _focus if any(x.query_id == _focus for x in pset.queries) else None
    mo.stop(not _rows and not _focus, mo.md("Select a question above to see how the rank of "
                                            "its gold chunk moves under each perturbation."))
    qid = _rows[0]["query_id"] if _rows else _focus
    q = next(x for x in pset.queries if x.query_id == qid)
    _rc = res["rank_changes"]
    drill = rank_change_view(_rc[_rc.query_id == qid], pipe.cfg.eval.depth)
    mo.vstack(
        [
            mo.md(
                f"**original:** {q.text}  \n**masked:** {q.masked or '(no keyword: not masked)'}"
                f"  \n**substituted:** {q.substituted or '(no substitute found)'}  \n"
                "Rank of the first gold chunk (1 = top) and its change; negative = worse, as "
                "in the table and the chart above:"
            ),
            workbench.table(drill.to_dict("records"), selection=None),
            mo.md(workbench.focus_links(qid, "07_perturbation")),
        ]
    )
    return (drill,)


if __name__ == "__main__":
    app.run()
