import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo
    import pandas as pd
    import plotly.graph_objects as go

    from bmembed_lab import workbench
    return go, mo, pd, workbench


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
def _(mo, workbench):
    base_cfg = workbench.open_pipeline().cfg.training
    form = mo.ui.dictionary({
        "method": mo.ui.dropdown(["bmembed", "cl", "mnrl"], value=base_cfg.method, label="method"),
        "steps": mo.ui.number(1, 20000, value=base_cfg.steps, label="steps"),
        "lr": mo.ui.number(1e-7, 1e-2, step=1e-6, value=base_cfg.lr, label="learning rate"),
        "warmup_steps": mo.ui.number(0, 5000, value=base_cfg.warmup_steps, label="warm-up steps"),
        "alpha": mo.ui.number(0.05, 50.0, step=0.1, value=base_cfg.alpha, label="alpha (bmembed)"),
        "lora": mo.ui.checkbox(value=base_cfg.lora, label="LoRA (peft) instead of full fine-tuning"),
    })
    train = mo.ui.run_button(label="Train (or load the cached run)")
    mo.vstack([form, train])
    return form, train


@app.cell
def _(form):
    import json as _json

    overrides = [f"training.{k}={_json.dumps(v)}" for k, v in form.value.items() if k != "method"]
    method = form.value["method"]
    return method, overrides


@app.cell
def _(go, method, mo, overrides, train, workbench):
    pipe = workbench.open_pipeline(overrides=overrides)
    curve = {"step": [], "loss": []}

    def live_plot():
        f = go.Figure(go.Scatter(x=curve["step"], y=curve["loss"], mode="lines", name="loss"))
        f.update_layout(title=f"{method}: training loss", xaxis_title="step", yaxis_title="loss", height=320)
        return f

    trained_info = None
    if method in pipe.cached_models() or train.value:
        steps = pipe.cfg.training.steps
        with mo.status.progress_bar(total=steps, title=f"training {method}", remove_on_exit=True) as _bar:
            def on_step(step, loss, lr):
                curve["step"].append(step)
                curve["loss"].append(loss)
                _bar.update()
                if step % 5 == 0 or step == steps:
                    mo.output.replace(live_plot())

            tm, _key = pipe.trained(method, on_step=on_step, progress=False)
        trained_info = tm.info | {"path": str(tm.path)}
    mo.stop(trained_info is None, mo.md(f"No cached **{method}** run for these settings: press *Train*."))
    return pipe, trained_info


@app.cell
def _(go, mo, pd, trained_info):
    losses = pd.DataFrame(trained_info["losses"])
    loss_fig = go.Figure(go.Scatter(x=losses["step"], y=losses["loss"], mode="lines", name="loss"))
    loss_fig.add_trace(go.Scatter(x=losses["step"], y=losses["loss"].rolling(20, min_periods=1).mean(),
                                  mode="lines", name="mean of 20"))
    loss_fig.update_layout(title=f"{trained_info['name']}: {trained_info['steps']} steps in "
                                 f"{trained_info['seconds']:.0f} s", xaxis_title="step", yaxis_title="loss",
                           height=340)
    hp = trained_info["hyperparameters"]
    mo.vstack([loss_fig,
               mo.md(f"**Export**: `{trained_info['path']}` · merged model `merged/` (sentence-transformers and "
                     f"transformers load it) · model card `README.md` · "
                     f"{trained_info['trainable_parameters']:,} of {trained_info['total_parameters']:,} "
                     "parameters trained"),
               mo.ui.table(pd.DataFrame({"hyperparameter": list(hp), "value": [str(v) for v in hp.values()]}),
                           selection=None, page_size=40)])
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
