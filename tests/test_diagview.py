"""05's distributions (bmembed_lab/diagview.py): their means are the table's numbers."""

import numpy as np

from bmembed_lab import diagnostics, diagview


def _unit(rng, n, d=8):
    x = rng.normal(size=(n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_the_distributions_agree_with_alignment_and_uniformity():
    rng = np.random.default_rng(0)
    q, c = _unit(rng, 6), _unit(rng, 40)
    ids = [f"q{i}" for i in range(6)]
    grades = {f"q{i}": {i: 1, i + 10: 1} for i in range(6)}
    d = diagview.pair_distances(q, c, ids, grades, n_random=300)
    pairs = [(i, ch) for i in range(6) for ch in grades[f"q{i}"]]
    table = diagnostics.alignment_uniformity(q, c, pairs)
    assert np.isclose(d["positive"].mean(), table["alignment"])  # the alignment's own terms
    assert len(d["random"]) == 300 and (d["random"] >= 0).all() and (d["random"] <= 4 + 1e-9).all()
    curve = dict(diagview.uniformity_curve(c, max_points=4000))
    assert np.isclose(curve[2.0], table["uniformity_abs"])  # t = 2 is the table's
    assert list(curve) == sorted(curve) and curve[0.5] < curve[8.0]


def test_alignment_change_per_question_beside_its_rank_change():
    rng = np.random.default_rng(1)
    q, c = _unit(rng, 3), _unit(rng, 10)
    ids, grades = ["a", "b", "c"], {"a": {0: 1}, "b": {1: 1}, "c": {2: 1}}
    base = diagview.pair_distances(q, c, ids, grades)
    moved_q = q.copy()
    moved_q[0] = c[0]  # question a sits on its gold chunk under the "adapted" model
    adapted = diagview.pair_distances(moved_q, c, ids, grades)
    t = diagview.alignment_moves(base, adapted, {"a": "closer", "b": "same"})
    row = t.set_index("question")
    assert row.loc["a", "change"] < 0 and np.isclose(row.loc["b", "change"], 0)
    assert row.loc["c", "rank change"] == "not ranked"
    s = diagview.moves_summary(t).set_index("rank change")
    assert s.loc["closer", "questions"] == 1
    assert s.loc["closer", "moved closer to its gold chunk"] == "100%"


def test_a_trace_reads_its_first_exported_and_last_step():
    from bmembed_lab.diagview import trace_figure, trace_reading

    rows = [{"step": s, "alignment": 0.7, "alignment_norm": n, "uniformity_abs": u}
            for s, n, u in ((0, 1.2, 3.0), (10, 1.2, 2.7), (20, 1.08, 2.4))]
    text = trace_reading("bmembed", rows, 10)
    assert "1.200 at step 0, 1.200 at the exported step 10 (+0.0%), 1.080 at step 20 (-10.0%)" \
        in text and "3.000 at step 0, 2.700 at the exported step 10 (-10.0%)" in text
    fig = trace_figure({"bmembed": rows}, {"bmembed": 10})
    rings = [t for t in fig.data if t.name == "exported step"]
    assert [list(t.x) for t in rings] == [[10], [10]] and list(rings[1].y) == [2.7]
