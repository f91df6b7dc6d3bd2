# /// script
# [tool.marimo.opengraph]  # the title and line of this notebook's card in `bmembed-lab notebooks`
# title = "03 · Training"
# description = "Fine-tune the encoder: the form, a time estimate, loss vs. its floor, dev scores"
# ///
import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="03 · Training")


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

    from bmembed_lab import charts, methods, workbench
    return charts, go, methods, mo, pd, workbench


@app.cell
def _(mo):
    mo.md(r"""
    # 03 · Training (paper Section 3.3, Appendix C)

    BMEmbed fine-tunes the encoder with ListNet: the model's softmax(cos / τ) over a list is
    pulled towards softmax(BM25 / α). The baselines: **cl** (InfoNCE, each query's evidence
    passage as the positive, in-batch negatives, batch 16) and **mnrl** (the practitioner recipe:
    MultipleNegativesRankingLoss with hard negatives mined from BM25 or the base encoder).
    A finished run is cached: pressing *Train* again with the same settings loads it at once.
    """)
    return


@app.cell
def _(methods, mo, workbench):
    _pipe = workbench.open_pipeline(read_only=True)  # opening only reads the cache
    base_cfg = _pipe.cfg.training
    form = mo.md("""
    **Method** {method} &nbsp; **steps** {steps} &nbsp; **lists (or pairs) per step** {grad_accum}

    **learning rate** {lr} &nbsp; **warm-up steps** {warmup_steps} &nbsp; {lora}

    **bmembed:** loss {loss} &nbsp; alpha (label temperature) {alpha} &nbsp;
    tau (student temperature) {tau}
    """).batch(
        method=mo.ui.dropdown(list(methods.NAMES), value=base_cfg.method
                              if base_cfg.method in methods.NAMES else methods.DEFAULT),
        steps=mo.ui.number(1, 20000, value=base_cfg.steps),
        grad_accum=mo.ui.number(1, 256, value=base_cfg.grad_accum),
        lr=mo.ui.number(1e-7, 1e-2, step=1e-6, value=base_cfg.lr),
        warmup_steps=mo.ui.number(0, 5000, value=base_cfg.warmup_steps),
        lora=mo.ui.checkbox(value=base_cfg.lora, label="LoRA (peft) instead of full fine-tuning"),
        loss=mo.ui.dropdown(["listnet", "listmle"], value=base_cfg.loss),
        alpha=mo.ui.number(0.05, 50.0, step=0.05, value=base_cfg.alpha),
        tau=mo.ui.number(0.005, 1.0, step=0.005, value=base_cfg.tau),
    )
    train = mo.ui.run_button(label="Train (or load the cached run)")
    form
    return base_cfg, form, train


@app.cell
def _(form, methods, mo, train, workbench):
    overrides = workbench.overrides("training", **{k: v for k, v in form.value.items()
                                                   if k != "method"})
    method = form.value["method"]
    _pipe = workbench.open_pipeline(overrides=overrides, read_only=True)
    _per_step = _pipe.cfg.training.grad_accum * methods.get(method).batch_size(
        _pipe.cfg.training.batch_size)
    estimate = workbench.training_estimate(
        _pipe.cache, method, _pipe.cfg.training.steps, _per_step, _pipe.cfg.sampling.m,
        _pipe.cfg.training.eval_every,
        _pipe.cfg.training.grad_accum * _pipe.cfg.training.batch_size)
    mo.vstack([mo.md(estimate + " A running training can be stopped with marimo's interrupt "
                     "button (top right); its checkpoints stay and a rerun resumes."), train])
    return estimate, method, overrides


@app.cell
def _(charts, go, method, mo, overrides, train, workbench):
    pipe = workbench.open_pipeline(overrides=overrides, read_only=not train.value)
    curve = {"step": [], "loss": []}

    def live_plot():
        f = go.Figure(go.Scatter(x=curve["step"], y=curve["loss"], mode="lines", name="loss"))
        f.update_layout(
            title=f"{method}: training loss", xaxis_title="step", yaxis_title="loss", height=320
        )
        return f

    trained_info = None
    if method in workbench.from_cache(pipe.cached_models) or train.value:
        steps = pipe.cfg.training.steps
        with mo.status.progress_bar(
            total=steps, title=f"training {method}", remove_on_exit=True
        ) as _bar:

            def on_step(step, loss, lr):
                curve["step"].append(step)
                curve["loss"].append(loss)
                _bar.update()
                if step % 5 == 0 or step == steps:
                    mo.output.replace(mo.ui.plotly(live_plot(), config=charts.PLOT_CONFIG))

            tm, _key = workbench.from_cache(  # an error of the package's shows with its fix
                lambda: pipe.trained(method, on_step=on_step, progress=False))
        trained_info = tm.info | {"path": str(tm.path)}
    mo.stop(
        trained_info is None,
        mo.md(f"No cached **{method}** run for these settings: press *Train*."),
    )
    return pipe, trained_info


@app.cell
def _(charts, go, methods, mo, pd, pipe, trained_info, workbench):
    from plotly.subplots import make_subplots

    losses = pd.DataFrame(trained_info["losses"])
    hp = trained_info["hyperparameters"]
    sel = trained_info.get("selection") or {}
    loss_fig = make_subplots(specs=[[{"secondary_y": bool(sel.get("curve"))}]])
    loss_fig.add_trace(go.Scatter(x=losses["step"], y=losses["loss"], mode="lines", name="loss"))
    loss_fig.add_trace(
        go.Scatter(
            x=losses["step"],
            y=losses["loss"].rolling(20, min_periods=1).mean(),
            mode="lines",
            name="mean of 20",
        )
    )
    if methods.get(trained_info["method"]).uses_lists and hp.get("loss", "listnet") == "listnet":
        floor = workbench.listnet_floor(
            workbench.from_cache(pipe.training_lists)[0].scores, hp["alpha"]
        )
        loss_fig.add_hline(y=floor, line={"dash": "dot", "color": "#2ca02c"},
                           annotation_text=f"floor: the targets' entropy {floor:.3f}")
    _start = workbench.loss_start(trained_info["losses"])
    loss_fig.add_hline(y=_start, line={"dash": "dot", "color": "#7f7f7f"},
                       annotation_text=f"start: mean loss of steps 1-10, {_start:.3f}",
                       annotation_position="bottom right")
    if sel.get("curve"):
        _c = pd.DataFrame(sel["curve"])
        _on = sel["on"].split(" (")[0].split(",")[0]  # "dev questions" (the pool: the y-axis)
        loss_fig.add_trace(go.Scatter(x=_c["step"], y=_c["score"], mode="lines+markers",
                                      name=f"dev {sel['metric']} ({_on})"),
                           secondary_y=True)
        loss_fig.update_yaxes(title_text=f"dev {sel['metric']} (%, its pool)", secondary_y=True)
    loss_fig.update_layout(title=f"{trained_info['name']}: {trained_info['steps']} steps in "
                                 f"{trained_info['seconds']:.0f} s", xaxis_title="step", height=380)
    loss_fig.update_yaxes(title_text="loss", secondary_y=False)
    _best = (f" · exported step **{sel['best_step']}** (best dev {sel['metric']} "
             f"{sel['best']:.2f} against {sel['base']:.2f} at step 0)"
             if sel.get("best_step") is not None else "")
    mo.vstack(
        [
            mo.ui.plotly(loss_fig, config=charts.PLOT_CONFIG),
            mo.md(
                f"**Export**: `{workbench.shown_path(trained_info['path'])}` · merged model "
                "`merged/` "
                "(sentence-transformers and "
                f"transformers load it) · model card `README.md` · "
                f"{trained_info['trainable_parameters']:,} of {trained_info['total_parameters']:,} "
                f"parameters trained{_best}"
            ),
            workbench.table(
                [{"hyperparameter": k, "value": str(v)} for k, v in hp.items()],
                selection=None,
                page_size=40,
            ),
        ]
    )
    return (loss_fig,)


@app.cell
def _(mo, pipe):
    unfinished = pipe.unfinished_runs()
    mo.md("**Checkpoints of unfinished runs** (a rerun resumes from the newest): "
          + (", ".join(f"`{key[:12]}…/{p.name}`" for key, cks in unfinished.items() for p in cks)
             or "none"))
    return


if __name__ == "__main__":
    app.run()
