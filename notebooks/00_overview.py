# /// script
# [tool.marimo.opengraph]  # the title and line of this notebook's card in `bmembed-lab notebooks`
# title = "00 · Overview"
# description = "The method in brief, the ten notebooks, the corpus and what the method did on it"
# ///
import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="00 · Overview")


@app.cell
def _():
    import marimo as mo
    import pandas as pd

    from bmembed_lab import charts, workbench
    return charts, mo, pd, workbench


@app.cell
def _(mo):
    mo.md(r"""
    # bmembed-lab · BMEmbed in brief

    **BMEmbed** (Wei, Han & Yang) adapts a general-purpose text encoder to a private corpus
    with BM25 as the teacher:

    1. **Queries** — generate questions about the corpus (LLM or offline) →
       `01_query_generation`
    2. **Lists** — rank every chunk for each question with BM25 and draw one chunk per rank
       interval (fine near the top, coarse further down) → `02_bm25_sampling`
    3. **Training** — ListNet pulls the encoder's similarity distribution over a list towards
       softmax(BM25 / α) → `03_training`
    4. **Evaluation** — the test questions (a dev split chooses, the test split reports),
       Hit@k / MAP@10 / nDCG@10 with paired bootstrap intervals → `04_evaluation`
    5. **Why it works (or not)** — how evenly the chunks spread and how close each question
       sits to its gold chunk → `05_alignment_uniformity`
    6. **Where things moved** — one UMAP map of base and adapted embeddings, question by
       question → `06_embedding_map`
    7. **How lexical it became** — the questions with their keywords masked or swapped for
       synonyms, every system's loss → `07_perturbation`
    8. **Which choices matter** — the paper's ablations rerun here: partitions and list size,
       BM25 depth, label temperature → `08_ablations`
    9. **Which run wins** — every trained run of this cache side by side: curves, settings,
       test results, a baseline method one click away → `09_runs`

    This page, `00_overview`, is the tenth: the corpus in counts and what it found, below.
    Open any of them with `bmembed-lab notebooks NN` (all of them: `bmembed-lab notebooks`; to
    change the code: `bmembed-lab notebooks --edit`).
    """)
    return


@app.cell
def _(workbench):
    compute = workbench.compute_button()  # shown by a "not computed yet" note
    return (compute,)


@app.cell
def _(compute, mo, pd, workbench):
    pipe = workbench.open_pipeline(read_only=not compute.value)  # opening only reads the cache
    labelled = workbench.from_cache(pipe.labelled, compute)
    counts = workbench.from_cache(pipe.report if labelled else lambda: {
        "documents": len(pipe.dataset()[0].documents), "chunks": len(pipe.chunks()[0])}, compute)
    cfg = pipe.cfg
    mo.vstack(
        [
            mo.md(
                f"**Config**: `{workbench.shown_path(workbench.config_path())}` · corpus "
                f"`{workbench.shown_path(cfg.resolve(cfg.corpus.path))}` · "
                f"encoder `{cfg.encoder.model}` · query protocol **{cfg.encoder.protocol}** "
                "(clean = the model's own convention; reference = the paper's code, an "
                "instruction before every query; see docs/method.md)"
            ),
            mo.ui.table(
                pd.DataFrame({"count": list(counts), "value": list(counts.values())}),
                selection=None, page_size=20, show_data_types=False,
                show_column_summaries=False,
            ),
        ]
    )
    return labelled, pipe


@app.cell
def _(compute, mo, pipe, workbench):
    from bmembed_lab.check import verdict_line

    with mo.status.spinner(title="check: will BMEmbed help here? (from the stage cache)"):
        chk = workbench.from_cache(pipe.check, compute)
    _kind = {"help": "success", "hurt": "danger"}.get(chk["verdict"], "neutral")
    mo.callout(mo.md(f"**Before any training, `bmembed-lab check` says: {verdict_line(chk)}**\n\n"
                     + "\n".join(f"- {_r}" for _r in chk["reasons"])), kind=_kind)
    return (chk,)


@app.cell
def _(compute, labelled, mo, pipe, workbench):
    from bmembed_lab.metrics import tooltips

    trained = workbench.from_cache(pipe.cached_models, compute)
    which = "test" if labelled else "heldout"  # no labels: the held-out keyword-style queries
    systems = workbench.systems_for(trained) if labelled else ["bm25", "base", *trained]
    workbench.encode_with_progress(pipe, systems, compute)
    with mo.status.spinner(title="headline table (from the stage cache)"):
        _res = workbench.from_cache(lambda: pipe.evaluate(systems, which), compute)
    headline = _res["summary"]
    finding = workbench.finding(_res)
    _cols = [c for c in ("queries", "Hit@1", "Hit@4", "Hit@10", "MAP@10", "nDCG@10")
             if c in headline.columns]  # what fits a projector; 04 has every column
    _on = ("test questions" if labelled else "held-out keyword-style queries: this corpus has "
           "no labelled questions, so these measure how well the student learned its teacher")
    mo.vstack([mo.md(f"**On this corpus:** {finding}"),
               mo.md(f"### Headline table (percent, {_on})" + ("" if trained else
                     " — no adapted model in the cache yet: train one in `03_training`")),
               mo.ui.table(headline[_cols].round(2).reset_index(), selection=None,
                           show_data_types=False, show_column_summaries=False,
                           header_tooltip=tooltips(_cols)),
               mo.md("The other MAP@10 definitions and MRR@10: `04_evaluation`."),
               mo.md(_res["metric note"])])
    return finding, headline, trained


@app.cell
def _(charts, labelled, mo, pipe, trained, workbench):
    from bmembed_lab.evaluation import regime_lines

    mo.stop(not trained or not labelled or not pipe.cfg.eval.heldout_queries)
    _real = workbench.from_cache(lambda: pipe.evaluate(workbench.systems_for(trained)))
    _held = workbench.from_cache(lambda: pipe.evaluate(["bm25", "base", *trained], "heldout"))
    regimes = {"real questions": _real, "keyword-style queries": _held}
    mo.vstack([
        mo.md("### Two regimes: the users' questions and queries of the kind it trained on"),
        mo.ui.plotly(charts.regimes_figure(regimes, trained[0]), config=charts.PLOT_CONFIG),
        mo.md("BMEmbed learns BM25's strengths: it should gain where BM25 leads base (orange "
              "above zero) and may lose where base leads.\n\n" + "\n".join(
                  f"- {_line.strip()}" for _line in regime_lines(regimes, trained[0])))])
    return (regimes,)


if __name__ == "__main__":
    app.run()
