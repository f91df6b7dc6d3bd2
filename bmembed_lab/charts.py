"""The notebooks' plotly charts, built from plain tables: the paired differences of an evaluation
(notebook 04) and the joint embedding map of base and adapted models (notebook 06, paper
Section 6's visual analysis). In: DataFrames from ``bmembed_lab.evaluation`` / ``workbench``;
out: ``plotly.graph_objects.Figure``, built with graph objects directly (plotly express took
0.26 s against 0.19 s for the demo's map in a fresh process). Also what the notebooks need to
show figures quickly: :data:`PLOT_CONFIG` and :func:`plotly_preload`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # (not imported at run time: the preload cell runs before pandas is imported)
    import pandas as pd

# Pass this to ``mo.ui.plotly(fig, config=PLOT_CONFIG)``: with a config given, marimo does not
# look up plotly's default renderer, and that lookup imports plotly's renderers, nbformat and
# jsonschema: 1.2 s for a first figure in a fresh process on 2 cores (tests/test_notebooks.py).
PLOT_CONFIG = {"displaylogo": False}

MAP_SYMBOLS = {"chunk": "circle", "query": "triangle-up"}
KIND_NAMES = {"query": "question"}
WEBGL_POINTS = 1000


def comparison_chart(comparisons: pd.DataFrame, metric: str = "MAP@10"):
    """Plotly chart of the paired differences on one metric: a point per comparison with its
    95% interval, a zero line; gains right, losses left."""
    import plotly.graph_objects as go

    c = comparisons[comparisons.metric == metric].iloc[::-1]
    colour = ["#2ca02c" if lo > 0 else "#d62728" if hi < 0 else "#7f7f7f"
              for lo, hi in zip(c.ci_low, c.ci_high)]
    fig = go.Figure(go.Scatter(
        x=c["diff"], y=c.comparison, mode="markers", marker={"size": 10, "color": colour},
        error_x={"type": "data", "symmetric": False, "array": c.ci_high - c["diff"],
                 "arrayminus": c["diff"] - c.ci_low},
        hovertemplate="%{y}: %{x:+.2f} points<extra></extra>"))
    fig.add_vline(x=0, line={"color": "#444", "width": 1})
    fig.update_layout(title=f"{metric}: difference in points with its paired 95% interval "
                            "(green: a gain, red: a loss, grey: not clear)",
                      xaxis_title=f"{metric} difference (points)", height=120 + 32 * len(c),
                      margin={"l": 10, "t": 50})
    return fig


def map_legend_name(value: str, kind: str) -> str:
    """A map point group's legend entry, said once: ("gold chunk", "chunk") -> "gold chunk",
    ("hit@10", "query") -> "hit@10 (question)"."""
    kind = KIND_NAMES.get(kind, kind)
    return value if kind in value else f"{value} ({kind})"


# fixed colours of the map's named groups, whatever the question: one meaning, one colour
MAP_COLOURS = {"selected question": "#111111", "question": "#9e9e9e", "gold chunk": "#2ca02c",
               "chunk": "#d9d9d9", "hit@10": "#2ca02c", "miss@10": "#d62728",
               "closer": "#2ca02c", "further": "#d62728", "same": "#9e9e9e",
               "other documents": "#d9d9d9", "not ranked": "#d9d9d9"}


def map_colours(values: list[str], documents: list[str], palette: list[str]) -> dict:
    """Each colour group's colour: a named group's fixed one (:data:`MAP_COLOURS`), the
    ``documents`` (the largest first, at most as many as ``palette`` has colours) the palette's
    in that order, so a document keeps its colour across questions and none shares one."""
    by_doc = {d: palette[i] for i, d in enumerate(documents[:len(palette)])}
    return {v: MAP_COLOURS.get(v) or by_doc.get(v) or "#7f7f7f" for v in values}


def map_figure(table: pd.DataFrame, lines: dict, question: str, projection: str = "UMAP"):
    """The embedding map: one panel per model (same axes: one joint UMAP fit), a point per
    chunk and question coloured by ``table.colour`` (one legend entry per colour and kind,
    shared by the panels), each point's ``customdata`` = (model, kind, item) for selections.
    Over it, in each panel: the selected ``question`` as a black star, lines to the model's top
    chunks (``lines[model]["top"]``, open red rings) and to the gold chunks
    (``lines[model]["gold"]``, green diamonds with a dark edge, drawn last so that a gold chunk
    in the top list shows as a diamond inside a ring); the legend names these marks, so a colour
    group they stand for (colour by relevance) shows no entry of its own. ``table``:
    workbench.map_table's rows plus a ``colour`` column."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    models = list(dict.fromkeys(table.model))
    # WebGL above WEBGL_POINTS points, as plotly express chooses: an SVG element per point slows
    # a browser down in the thousands; WebGL draws them all on one canvas
    scatter = go.Scattergl if len(table) > WEBGL_POINTS else go.Scatter
    fig = make_subplots(rows=1, cols=len(models), subplot_titles=[f"<b>{m}</b>" for m in models],
                        shared_yaxes=True, horizontal_spacing=0.03)
    colours = map_colours(list(dict.fromkeys(table.colour)), table.attrs.get("documents", []),
                          qualitative.Plotly)
    for col, model in enumerate(models, start=1):
        panel = table[table.model == model]
        for (value, kind), pts in panel.groupby(["colour", "kind"], sort=False):
            name = map_legend_name(value, kind)
            # plain numpy arrays: plotly validates them without a dataframe round trip
            fig.add_trace(
                scatter(
                    x=pts.x.to_numpy(),
                    y=pts.y.to_numpy(),
                    mode="markers",
                    name=name,
                    legendgroup=name,
                    showlegend=col == 1,
                    marker={
                        "size": 5,
                        "color": colours[value],
                        "symbol": MAP_SYMBOLS.get(kind, "circle"),
                        "opacity": 0.6,
                    },
                    # strings, not objects: plotly validates an object array row by row (0.1 s here)
                    customdata=np.stack(
                        [pts.model.to_numpy(str), pts.kind.to_numpy(str), pts.item.to_numpy(str)],
                        axis=1,
                    ),
                    text=pts.text.to_numpy(object),
                    hovertemplate="%{customdata[2]}<br>%{text}<extra></extra>",
                ),
                row=1,
                col=col,
            )
        _question_overlay(
            fig, go, panel.set_index(["kind", "item"]), lines.get(model, {}), question, col
        )
    # the overlay's star and diamonds stand for the selected question and its gold chunks in the
    # legend: a colour group of the same name (colour by relevance) keeps its points, not its entry
    marked = {t.name for t in fig.data if t.hoverinfo == "skip" and t.name}
    for t in fig.data:
        if t.hoverinfo != "skip" and t.name in marked:
            t.showlegend = False
    fig.update_xaxes(title_text=f"{projection} 1", matches="x")
    fig.update_yaxes(title_text=f"{projection} 2", row=1, col=1)
    units = ("the axes have no units" if projection == "UMAP" else
             "the two directions of largest variance: distances are kept, squeezed")
    fig.update_layout(
        height=620, dragmode="lasso", legend={"title": "", "itemsizing": "constant"},
        margin={"t": 110},
        title={"text": "The selected question (black star), its gold chunks (green diamonds) and "
                       "the model's top 5 (red rings)",
               "subtitle": {"text": f"one joint {projection} fit: a position means the same on "
                                    f"both panels; {units}"}})
    return fig


def _question_overlay(fig, go, pts: pd.DataFrame, lines: dict, question: str, col: int) -> None:
    """The star, its lines and the ringed / diamond chunks of one panel (see map_figure)."""
    if ("query", question) not in pts.index:
        return
    qx, qy = pts.loc[("query", question), ["x", "y"]]
    # legend entries from the first panel; a legend group per mark, so a click hides it in both
    fig.add_trace(
        go.Scatter(
            x=[qx],
            y=[qy],
            mode="markers",
            name="selected question",
            legendgroup="selected question",
            showlegend=col == 1,
            hoverinfo="skip",
            marker={"size": 16, "symbol": "star", "color": "#000"},
        ),
        row=1,
        col=col,
    )
    styles = {"top": ("the model's top 5", "#d62728",
                      {"size": 14, "symbol": "circle-open", "line": {"width": 2.5}}),
              "gold": ("gold chunk", "#2ca02c",
                       {"size": 13, "symbol": "diamond", "line": {"width": 1.5, "color": "#000"}})}
    for kind, (name, colour, marker) in styles.items():
        found = [
            pts.loc[("chunk", c), ["x", "y"]]
            for c in lines.get(kind, [])
            if ("chunk", c) in pts.index
        ]
        if not found:
            continue
        cx, cy = [float(p.x) for p in found], [float(p.y) for p in found]
        # one trace of segments (question -> chunk, None between) and one of the chunks' markers
        seg_x = [v for x in cx for v in (qx, x, None)]
        seg_y = [v for y in cy for v in (qy, y, None)]
        fig.add_trace(
            go.Scatter(
                x=seg_x,
                y=seg_y,
                mode="lines",
                legendgroup=name,
                showlegend=False,
                hoverinfo="skip",
                line={"color": colour, "width": 2},
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=cx,
                y=cy,
                mode="markers",
                name=name,
                legendgroup=name,
                showlegend=col == 1,
                hoverinfo="skip",
                marker={"color": colour, **marker},
            ),
            row=1,
            col=col,
        )


def preview_figure(coords: pd.DataFrame, title: str):
    """A plain map (a panel per model, chunks grey, questions blue): the PCA preview 06 shows
    at once while a UMAP fit runs."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    models = list(dict.fromkeys(coords.model))
    fig = make_subplots(rows=1, cols=len(models), subplot_titles=models, shared_yaxes=True,
                        horizontal_spacing=0.03)
    for col, model in enumerate(models, start=1):
        for kind, colour in (("chunk", "#bdbdbd"), ("query", "#1f77b4")):
            pts = coords[(coords.model == model) & (coords.kind == kind)]
            fig.add_trace(go.Scattergl(x=pts.x.to_numpy(), y=pts.y.to_numpy(), mode="markers",
                                       marker={"size": 4, "color": colour},
                                       name=KIND_NAMES.get(kind, kind), showlegend=col == 1,
                                       hoverinfo="skip"), row=1, col=col)
    fig.update_layout(title=title, height=420, margin={"l": 10, "r": 10, "t": 60, "b": 10})
    return fig


def movement_figure(moved: pd.DataFrame, a: str, b: str, arrows: int = 150):
    """One panel: an arrow per selected point from where it sits under ``a`` to where it sits
    under ``b`` (the farthest ``arrows`` of ``moved``, :func:`workbench.movements`' rows)."""
    import plotly.graph_objects as go

    m = moved.head(arrows)
    fig = go.Figure()
    for kind, colour in (("chunk", "#7f7f7f"), ("query", "#1f77b4")):
        pts = m[m.kind == kind]
        fig.add_trace(go.Scatter(x=pts.x_a, y=pts.y_a, mode="markers", name=f"{kind} under {a}",
                                 marker={"size": 6, "color": "white",
                                         "line": {"color": colour, "width": 1.5}},
                                 text=pts.item, hovertemplate="%{text}<extra></extra>"))
        fig.add_trace(go.Scatter(x=pts.x_b, y=pts.y_b, mode="markers", name=f"{kind} under {b}",
                                 marker={"size": 6, "color": colour}, text=pts.item,
                                 hovertemplate="%{text}<extra></extra>"))
    for r in m.itertuples():
        fig.add_annotation(x=r.x_b, y=r.y_b, ax=r.x_a, ay=r.y_a, xref="x", yref="y",
                           axref="x", ayref="y", showarrow=True, arrowhead=2, arrowsize=1,
                           arrowwidth=1, arrowcolor="#555", text="")
    fig.update_layout(title={"text": f"How the selected points moved from {a} (hollow) to {b} "
                                     "(filled)", "subtitle": {"text": (
                                         f"the {arrows} that moved most" if len(moved) > arrows
                                         else f"all {len(moved)}")}},
                      height=440, margin={"l": 10, "r": 10, "t": 90, "b": 10})
    return fig

def plotly_preload():
    """A hidden, empty plotly figure for a notebook's first cell (marimo output). marimo loads
    plotly's 4.6 MB script only when a page shows its first figure; shown first, the browser
    loads and starts it while the kernel computes the cells below, instead of after the first
    real figure arrives (median open times 0.5-0.7 s lower in a new browser, 0.05-0.3 s in a warm
    one; notebooks/README.md)."""
    import marimo as mo
    import plotly.graph_objects as go

    figure = mo.ui.plotly(go.Figure(), config=PLOT_CONFIG)
    return mo.Html(f'<div style="display:none">{figure.text}</div>')


def runs_figure(long) -> "object":
    """Notebook 09's overlay: per run (``runlog.curves``' long table) the training loss as a
    mean of 20 steps on the left and the dev score at each evaluation on the right, one colour
    per run in both panels (plotly's 24-colour Dark24, so it wraps only past 24 runs)."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "training loss (mean of 20 steps)", "dev score at each evaluation (%)"))
    for i, (run, part) in enumerate(long.groupby("run", sort=False)):
        line = {"color": qualitative.Dark24[i % len(qualitative.Dark24)]}
        loss, dev = part[part.kind == "training loss"], part[part.kind != "training loss"]
        fig.add_trace(go.Scatter(x=loss.step, y=loss.value.rolling(20, min_periods=1).mean(),
                                 mode="lines", name=run, legendgroup=run, line=line),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=dev.step, y=dev.value, mode="lines+markers", name=run,
                                 legendgroup=run, showlegend=False, line=line), row=1, col=2)
    fig.update_layout(height=400, legend={"orientation": "h", "y": -0.25})
    fig.update_xaxes(title_text="step")
    return fig


MOVE_COLOURS = {"closer": "#2ca02c", "further": "#d62728", "same": "#9e9e9e"}


def rank_scatter(pairs, a: str, b: str, depth: int, texts: dict | None = None):
    """04's scatter of ``workbench.rank_pairs``: each question's first gold rank under ``b``
    (x) against ``a`` (y), log axes from 1 to past ``depth`` ("not found" at depth + 1), the
    diagonal for "did not move", green below it (``a`` brought the gold closer), red above;
    hover shows the question (``texts``: query id -> text)."""
    import plotly.graph_objects as go

    texts = texts or {}
    fig = go.Figure()
    top = depth + 1
    fig.add_trace(go.Scatter(x=[1, top], y=[1, top], mode="lines", name="did not move",
                             line={"dash": "dot", "color": "#7f7f7f"}, hoverinfo="skip"))
    for move, part in pairs.groupby("move", sort=False):
        fig.add_trace(go.Scatter(
            x=part[f"rank ({b})"], y=part[f"rank ({a})"], mode="markers",
            name=f"{move} ({len(part)})", marker={"color": MOVE_COLOURS[move], "opacity": 0.6},
            text=[texts.get(q, q)[:120] for q in part.query_id],
            hovertemplate="%{text}<br>" + b + ": %{x}, " + a + ": %{y}<extra></extra>"))
    # ticks up to two thirds of the depth: a tick at the depth itself would sit on "not found"
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if t * 1.5 <= top] + [top]
    labels = [str(t) for t in ticks[:-1]] + ["not found"]
    axis = {"type": "log", "range": [-0.05, float(np.log10(top)) + 0.05], "tickvals": ticks,
            "ticktext": labels}
    fig.update_layout(height=420, xaxis={**axis, "title": f"first gold rank, {b}"},
                      yaxis={**axis, "title": f"first gold rank, {a}"},
                      title=f"Which questions moved: {a} against {b} (below the line: closer)")
    return fig


def regimes_figure(results: dict, trained: str, metric: str = "Hit@10"):
    """00's two regimes side by side: per query set (name -> an ``evaluate`` result), BM25 minus
    base (the teacher's lead) and ``trained`` minus base (what training on BM25's lists did),
    in points with their paired 95% intervals as error bars; `run`'s "Both regimes" lines
    (evaluation.regime_lines) in a figure."""
    import plotly.graph_objects as go

    bars = {"BM25 − base (the teacher's lead)": ("base - bm25", -1),
            f"{trained} − base (what training did)": (f"{trained} - base", 1)}
    fig = go.Figure()
    for (label, (name, sign)), colour in zip(bars.items(), ("#ff7f0e", "#1f77b4")):
        xs, ys, up, down = [], [], [], []
        for regime, res in results.items():
            c = res["comparisons"]
            row = c[(c.comparison == name) & (c.metric == metric)]
            if row.empty:
                continue
            r = row.iloc[0]
            lo, hi = sorted((sign * r.ci_low, sign * r.ci_high))
            xs.append(regime)
            ys.append(sign * r["diff"])
            up.append(hi - sign * r["diff"])
            down.append(sign * r["diff"] - lo)
        fig.add_trace(go.Bar(x=xs, y=ys, name=label, marker_color=colour,
                             error_y={"type": "data", "array": up, "arrayminus": down}))
    fig.add_hline(y=0, line={"color": "#444"})
    fig.update_layout(barmode="group", height=360, yaxis_title=f"{metric}, points",
                      title="Where BM25 leads, does training on its lists gain? (95% intervals)",
                      legend={"orientation": "h", "y": -0.15})
    return fig
