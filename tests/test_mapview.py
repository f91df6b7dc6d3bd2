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
