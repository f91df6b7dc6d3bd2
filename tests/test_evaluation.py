"""The grammar of system names and the comparisons that evaluate bootstraps."""

import pytest

from bmembed_lab.errors import InputError
from bmembed_lab.evaluation import System, default_comparisons, parse_system


@pytest.mark.parametrize("name, parsed", [
    ("bm25", System("bm25", "bm25")),
    ("base", System("base", "dense", "base")),
    ("base@128", System("base@128", "dense", "base", 128)),
    ("rrf", System("rrf", "rrf", "base")),
    ("bmembed", System("bmembed", "dense", "bmembed")),
    ("mnrl@64", System("mnrl@64", "dense", "mnrl", 64)),
    ("rrf+cl", System("rrf+cl", "rrf", "cl")),
])
def test_parse_system(name, parsed):
    assert parse_system(name) == parsed


@pytest.mark.parametrize("bad", ["dense", "rrf+base", "rrf+bm25", "bmembed@", "bmembed@0",
                                 "bmembed@x", "BM25", "rrf+bmembed@64"])
def test_parse_system_rejects_with_the_grammar(bad):
    with pytest.raises(InputError, match="bm25 \\| base \\| rrf") as err:
        parse_system(bad, "perturbation.systems")
    assert "perturbation.systems" in str(err.value)


def test_every_fused_system_is_compared_with_rrf():
    systems = ["bm25", "base", "rrf", "bmembed", "cl", "mnrl", "rrf+bmembed", "rrf+cl", "rrf+mnrl",
               "base@128", "mnrl@128"]
    pairs = default_comparisons(systems)
    for fused in ("rrf+bmembed", "rrf+cl", "rrf+mnrl"):
        assert (fused, "rrf") in pairs
    for trained in ("bmembed", "cl", "mnrl"):
        assert (trained, "base") in pairs and (trained, "bm25") in pairs
    assert ("mnrl@128", "base@128") in pairs and ("mnrl@128", "bm25") in pairs
    assert ("rrf", "bm25") in pairs and ("rrf", "base") in pairs and ("base", "bm25") in pairs
    assert len(pairs) == len(set(pairs))


def test_comparisons_only_among_the_systems_given():
    assert default_comparisons(["rrf+cl", "cl"]) == []
    assert default_comparisons(["bm25", "cl"]) == [("cl", "bm25")]


def test_evaluate_is_cached_so_reopening_does_not_resample(
    tmp_path, beir_dir, tiny_model_dir, monkeypatch
):
    """The per-query tables and the bootstrap comparisons are a cached stage: a fresh pipeline
    (a notebook reopening) gets them back without drawing again; other systems draw anew."""
    from bmembed_lab import evaluation as evaluation_mod
    from bmembed_lab.pipeline import Pipeline

    from .conftest import tiny_config

    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir)
    first = Pipeline(cfg).evaluate(["bm25", "base", "rrf"])
    monkeypatch.setattr(evaluation_mod, "compare_all", lambda *a, **k: pytest.fail("resampled"))
    again = Pipeline(cfg).evaluate(["bm25", "base", "rrf"])
    assert again["comparisons"].equals(first["comparisons"]) and again["summary"].equals(
        first["summary"]
    )
    with pytest.raises(pytest.fail.Exception, match="resampled"):
        Pipeline(cfg).evaluate(["bm25", "base"])


def test_the_metric_note_says_when_map_and_mrr_agree_and_why():
    import pandas as pd

    from bmembed_lab.evaluation import metric_note, per_query_table
    from bmembed_lab.relevance import Relevance
    from bmembed_lab.retrieval import Run

    # q1: one gold fact in chunk 1 (rank 2); q2: two facts, in chunks 0 and 2 (ranks 1 and 3)
    import numpy as np

    run = Run(system="s", query_ids=["q1", "q2"], indices=np.array([[0, 1, 2], [0, 1, 2]]),
              scores=np.array([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]]))
    one = Relevance(grades={"q1": {1: 1.0}}, facts={"q1": {1: [0]}}, n_facts={"q1": 1})
    pq = per_query_table(run, one)
    assert pq["MAP@10"].tolist() == pq["MRR@10"].tolist() == [0.5]
    assert "every question has one gold fact" in metric_note(pq, one.n_facts)
    assert "the first chunk that holds it" in metric_note(pq, one.n_facts)
    assert "the first document that holds it" in metric_note(pq, one.n_facts, "document")
    two = Relevance(
        grades={"q2": {0: 1.0, 2: 1.0}}, facts={"q2": {0: [0], 2: [1]}}, n_facts={"q2": 2}
    )
    pq = per_query_table(run, two)  # MAP@10 (1 + 1/3) / 2, MRR@10 1: a difference to read
    assert pq["MAP@10"].round(3).tolist() == [0.667] and metric_note(pq, two.n_facts) == ""
    assert metric_note(pd.DataFrame(), {}) == ""


def test_rank_pairs_say_which_questions_moved_and_the_scatter_draws_them():
    """04's rank scatter: each question's first gold rank under both systems, a miss placed
    past the depth, the move read off the two ranks; one trace per kind of move."""
    import pandas as pd

    from bmembed_lab import charts, workbench

    pq = pd.DataFrame({"system": ["base"] * 3 + ["bmembed"] * 3, "query_id": ["q1", "q2", "q3"] * 2,
                       "gold_rank": [5, None, 2, 1, 7, 2]})
    pairs = workbench.rank_pairs(pq, "bmembed", "base", depth=100)
    assert list(pairs["rank (base)"]) == [5, 101, 2] and list(pairs["rank (bmembed)"]) == [1, 7, 2]
    assert list(pairs.move) == ["closer", "closer", "same"]
    fig = charts.rank_scatter(pairs, "bmembed", "base", 100, {"q1": "what is it"})
    moved = {t.name: list(t.x) for t in fig.data[1:]}
    assert moved == {"closer (2)": [5, 101], "same (1)": [2]}
    assert fig.data[1].text[0] == "what is it" and fig.layout.xaxis.ticktext[-1] == "not found"


def test_the_regimes_figure_flips_base_minus_bm25_into_bm25s_lead():
    """00's figure: per regime, BM25 - base (stored as base - bm25, so flipped with its
    interval) and the trained model - base, as bars with their intervals as error bars."""
    import pandas as pd

    from bmembed_lab import charts

    def res(base_bm25, gain):
        rows = [("base - bm25", *base_bm25), ("bmembed - base", *gain)]
        return {"comparisons": pd.DataFrame(
            [{"comparison": c, "metric": "Hit@10", "diff": d, "ci_low": lo, "ci_high": hi}
             for c, d, lo, hi in rows])}
    fig = charts.regimes_figure({"real questions": res((5, 2, 8), (-1, -3, 1)),
                                 "keyword-style queries": res((-20, -25, -15), (5, 2, 8))},
                                "bmembed")
    lead, trained = fig.data
    assert list(lead.y) == [-5, 20] and list(trained.y) == [-1, 5]
    assert list(lead.error_y.array) == [3, 5] and list(lead.error_y.arrayminus) == [3, 5]
    assert list(trained.x) == ["real questions", "keyword-style queries"]
