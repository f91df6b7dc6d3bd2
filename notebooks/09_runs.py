# /// script
# [tool.marimo.opengraph]  # the title and line of this notebook's card in `bmembed-lab notebooks`
# title = "09 · Runs"
# description = "Every trained run of this cache side by side: curves, settings, test results"
# ///
import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="09 · Runs")


@app.cell
def _():
    # first: a hidden figure that makes the browser load plotly while the cells below compute
    from bmembed_lab.charts import plotly_preload

    plotly_preload()
    return


@app.cell
def _():
    import marimo as mo

    from bmembed_lab import charts, methods, runlog, workbench
    return charts, methods, mo, runlog, workbench


@app.cell
def _(mo):
    mo.md(r"""
    # 09 · Runs: every trained model of this cache, side by side

    Each run that exported a model (notebook 03, `bmembed-lab train`, `run`, `ablations`,
    another seed, another method) is one row below: the settings in which the runs differ, the
    step the dev split chose and its gain over the base model on the dev questions (paired 95%
    interval). Tick rows to overlay their training loss and dev curves (at first: the runs
    chosen on the same dev questions as most, which compare); score them on the
    **test** questions with the button (each export encodes the corpus once, then it is cached).
    A method baseline is one click away.
    """)
    return


@app.cell
def _(methods, mo):
    baseline = mo.ui.dropdown([m for m in methods.NAMES if m != methods.DEFAULT],
                              value=[m for m in methods.NAMES if m != methods.DEFAULT][0],
                              label="baseline method")
    add = mo.ui.run_button(label="Train it with this config's settings (or load it)")
    mo.hstack([baseline, add], justify="start")
    return add, baseline


@app.cell
def _(add, baseline, mo, workbench):
    _pipe = workbench.open_pipeline(read_only=not add.value)
    if add.value:
        _steps = _pipe.cfg.training.steps
        with mo.status.progress_bar(total=_steps, title=f"training {baseline.value}",
                                    remove_on_exit=True) as _bar:
            workbench.from_cache(lambda: _pipe.trained(
                baseline.value, on_step=lambda *_: _bar.update(), progress=False))
    return


@app.cell
def _(add, mo, runlog, workbench):
    add  # re-read after a baseline is trained
    cache_pipe = workbench.open_pipeline(read_only=True)
    runs = workbench.from_cache(lambda: runlog.read(cache_pipe.cache, required=True),
                                "Train it with this config's settings (or load it)",
                                command="bmembed-lab train -c CONFIG")
    settings = runlog.settings_table(runs)
    _common = settings["dev set"].mode()[0]  # ticked at first: the runs that compare with most
    picked = mo.ui.table(settings, selection="multi",
                         initial_selection=[i for i, d in enumerate(settings["dev set"])
                                            if d == _common],
                         page_size=15, label="runs (tick to overlay)", show_data_types=False,
                         show_column_summaries=False, wrapped_columns=["dev set", "differs in"],
                         header_tooltip=runlog.TOOLTIPS)
    picked
    return cache_pipe, picked, runs


@app.cell
def _(charts, mo, picked, runlog, runs):
    chosen = [r for r in runs if r.label in set(picked.value["run"])]
    fig = charts.runs_figure(runlog.curves(chosen))
    mo.ui.plotly(fig, config=charts.PLOT_CONFIG) if chosen else mo.md("Tick a run to see it.")
    return (chosen, fig)


@app.cell
def _(mo):
    score = mo.ui.run_button(label="Score the ticked runs on the test questions")
    score
    return (score,)


@app.cell
def _(cache_pipe, chosen, mo, runlog, score, workbench):
    mo.stop(not score.value, mo.md("The test table is computed on demand (button above)."))
    _pipe = workbench.open_pipeline(read_only=False)
    _runs = runlog.scorable(chosen)
    workbench.encode_with_progress(_pipe, [f"{r.label}={r.folder}" for r in _runs])
    tests = workbench.from_cache(lambda: runlog.test_table(_pipe, _runs))
    _left = [r.label for r in chosen if r not in _runs]
    mo.vstack([
        mo.md(f"### On the {cache_pipe.cfg.encoder.protocol}-protocol test questions "
              "(paired 95% intervals against the base model)"),
        workbench.table(tests, selection=None),
        mo.md("Not scored here: " + ", ".join(_left) + " (query-side students: their passages "
              "are the base model's; `bmembed-lab evaluate` scores them under their config)")
        if _left else mo.md(""),
    ])
    return (tests,)


if __name__ == "__main__":
    app.run()
