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


def test_evaluate_is_cached_so_reopening_does_not_resample(tmp_path, beir_dir, tiny_model_dir, monkeypatch):
    """The per-query tables and the bootstrap comparisons are a cached stage: a fresh pipeline
    (a notebook reopening) gets them back without drawing again; other systems draw anew."""
    from bmembed_lab import pipeline as pipeline_mod
    from bmembed_lab.pipeline import Pipeline

    from .conftest import tiny_config

    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir)
    first = Pipeline(cfg).evaluate(["bm25", "base", "rrf"])
    monkeypatch.setattr(pipeline_mod, "compare_all", lambda *a, **k: pytest.fail("resampled"))
    again = Pipeline(cfg).evaluate(["bm25", "base", "rrf"])
    assert again["comparisons"].equals(first["comparisons"]) and again["summary"].equals(first["summary"])
    with pytest.raises(pytest.fail.Exception, match="resampled"):
        Pipeline(cfg).evaluate(["bm25", "base"])
