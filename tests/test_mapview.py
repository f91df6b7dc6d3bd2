"""06's map helpers (bmembed_lab/mapview.py, charts.map_colours): colours that never wrap and
never change with the question, rank change per question, how far the panels differ."""

import numpy as np
import pandas as pd
from plotly.colors import qualitative

from bmembed_lab.chunking import Chunk
from bmembed_lab.charts import MAP_COLOURS, map_colours
from bmembed_lab.mapview import map_table, panel_shift, question_moves


def _chunks(n_docs: int, per_doc: int) -> list:
    return [Chunk(f"d{d}-{i}", f"d{d}", f"text {d} {i}", 0, 8, 3)
            for d in range(n_docs) for i in range(per_doc + d)]


def test_twelve_documents_take_ten_colours_and_grey_the_same_for_every_question():
    chunks = _chunks(12, 2)
    coords = pd.DataFrame({"model": "base", "kind": ["chunk"] * len(chunks) + ["query"] * 2,
                           "item": [c.chunk_id for c in chunks] + ["q1", "q2"],
                           "x": np.arange(len(chunks) + 2.0), "y": 0.0})
    texts, hits = {"q1": "one", "q2": "two"}, {"base": {"q1": 1, "q2": 0}}
    titles = {f"d{d}": f"Title {d}" for d in range(12)}
    tables = [map_table(coords, chunks, {"q1": {0: 1}, "q2": {5: 1}}, q, texts, hits,
                        titles=titles, moves={"q1": "closer"}) for q in ("q1", "q2")]
    assert tables[0].attrs["documents"] == tables[1].attrs["documents"]  # stable across questions
    assert tables[0].attrs["documents"][0] == "Title 11"  # the largest first, by its title
    colours = map_colours(list(dict.fromkeys(tables[0].document)), tables[0].attrs["documents"],
                          qualitative.Plotly)
    docs = [c for v, c in colours.items() if v.startswith("Title")]
    assert len(docs) == 10 and len(set(docs)) == 10  # ten documents, ten colours, no repeat
    assert colours["other documents"] == MAP_COLOURS["other documents"]
    assert set(tables[0]["rank change"]) == {"chunk", "closer", "not ranked"}


def test_question_moves_and_how_far_the_panels_differ():
    base = pd.Series({"a": 1, "b": 5, "c": 3, "d": np.nan})
    adapted = pd.Series({"a": 2, "b": 1, "c": 3, "d": 40})
    assert question_moves(base, adapted) == {"a": "further", "b": "closer", "c": "same",
                                             "d": "same"}  # beyond 10 both: the same
    coords = pd.DataFrame({"model": ["base"] * 3 + ["bm"] * 3, "kind": "chunk",
                           "item": ["x", "y", "z"] * 2,
                           "x": [0.0, 10.0, 5.0, 0.0, 10.0, 7.0], "y": 0.0})
    shift = panel_shift(coords, "base", "bm")
    assert shift["points"] == 3 and shift["median"] == 0.0
    assert np.isclose(shift["moved a tenth"], 1 / 3)


def test_selected_points_move_between_panels_farthest_first():
    from bmembed_lab.charts import movement_figure
    from bmembed_lab.mapview import movements

    coords = pd.DataFrame({"model": ["base"] * 3 + ["tuned"] * 3, "kind": ["query", "chunk",
                                                                          "chunk"] * 2,
                           "item": ["q", "c1", "c2"] * 2, "x": [0, 1, 2, 0, 4, 2.5],
                           "y": [0, 0, 0, 3, 0, 0]})
    # selected in either panel: q under tuned, c1 under base; c2 not selected
    moved = movements(coords, {("tuned", "query", "q"), ("base", "chunk", "c1")}, "base", "tuned")
    assert list(moved["item"]) == ["q", "c1"] and list(moved["moved"]) == [3.0, 3.0]
    assert moved.loc[0, ["x_a", "y_a", "x_b", "y_b"]].tolist() == [0, 0, 0, 3]
    fig = movement_figure(moved, "base", "tuned", arrows=1)
    assert len(fig.layout.annotations) == 1
    assert fig.layout.title.subtitle.text == "the 1 that moved most"


def test_regions_of_the_map_report_where_a_model_gains_with_an_interval():
    from bmembed_lab.mapview import region_table

    rng = np.random.default_rng(0)
    ids = [f"q{i}" for i in range(80)]
    x = np.r_[rng.normal(0, 0.1, 40), rng.normal(10, 0.1, 40)]  # two far-apart groups
    coords = pd.DataFrame({"model": "base", "kind": "query", "item": ids, "x": x, "y": 0.0})
    base = pd.Series(0.0, index=ids)
    tuned = pd.Series([1.0] * 40 + [0.0] * 40, index=ids)  # gains only in the left group
    out = region_table(coords, {"base": base, "tuned": tuned}, "base", "tuned",
                       {i: f"text {i}" for i in ids}, regions=2)
    assert list(out.questions) == [40, 40] and list(out.clear) == ["gain", "-"]
    assert out.loc[0, "Hit@10 tuned"] == 100.0 and out.loc[0, "change [95% interval]"].startswith(
        "+100.0")
    assert out.loc[1, "change [95% interval]"] == "no question differs (0 points)"
    assert int(out.loc[0, "example question"].removeprefix("text q")) < 40  # one of its own


def test_pca_map_keeps_every_point_and_a_line_stays_a_line():
    from bmembed_lab.stages.diagnose import pca_map

    t = np.linspace(-1, 1, 20)[:, None]
    line = t * np.array([[1.0, 2.0, 2.0]]) / 3  # points on a line in 3-D
    blocks = [("base", "query", [f"q{i}" for i in range(10)], line[:10]),
              ("base", "chunk", [f"c{i}" for i in range(10)], line[10:])]
    out = pca_map(blocks)
    assert list(out.item) == [f"q{i}" for i in range(10)] + [f"c{i}" for i in range(10)]
    assert np.allclose(out.y, 0, atol=1e-9)  # one direction holds all the spread
    assert np.allclose(np.abs(np.diff(out.x)), np.abs(np.diff(t[:, 0])) * 1.0, atol=1e-9)
