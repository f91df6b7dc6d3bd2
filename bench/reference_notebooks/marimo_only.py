import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium")


@app.cell
def _():
    import marimo as mo

    mo.md(r"""
    # Reference: marimo alone

    One markdown cell and nothing of the workbench: the time a page of marimo itself takes to
    open, for bench/notebook_open.py to set beside the notebooks' times. Everything a notebook
    takes beyond this is its own work (imports, cells, figures).
    """)
    return


if __name__ == "__main__":
    app.run()
