import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo
    import plotly.graph_objects as go

    from bmembed_lab.charts import PLOT_CONFIG

    figure = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], mode="markers"))
    figure.update_layout(height=300)
    mo.vstack([mo.md(r"""
    # Reference: marimo and one plotly figure

    One markdown cell and a three-point plotly figure, shown the way the notebooks show theirs:
    the time marimo's page and plotly's script take to open, for bench/notebook_open.py to set
    beside the times of the notebooks with figures.
    """), mo.ui.plotly(figure, config=PLOT_CONFIG)])
    return


if __name__ == "__main__":
    app.run()
