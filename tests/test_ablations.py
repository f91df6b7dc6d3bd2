"""The ablation sweep (issue 33, line 2): two variants end to end on the tiny corpus, each a
cached run (a rerun trains nothing), read back from the cache alone, and the budget."""

import pytest

from bmembed_lab import ablations, training
from bmembed_lab.cli import main

from .conftest import tiny_config_file


@pytest.fixture
def config(tmp_path, beir_dir, tiny_model_dir):
    return tiny_config_file(tmp_path, beir_dir, tiny_model_dir, sampling__m=3, training__steps=2,
                            training__warmup_steps=1, training__lr=1e-3, eval__dev_fraction=0,
                            training__eval_every=0)


def test_a_two_variant_sweep_end_to_end(config, monkeypatch, capsys):
    assert [v.label for v in ablations.variants(["k"])] == ["k=100", "k=1000"]
    assert main(["ablations", "-c", str(config), "--axes", "k"]) == 0
    out = capsys.readouterr().out
    assert "2 variants, 2 not trained yet" in out and "k=100" in out and "k=1000" in out
    assert "(reference)" in out and "One seed per variant." in out
    table = ablations.read(config, [], ["k"])
    assert list(table.variant) == ["default", "k=100", "k=1000"]
    # the default is the paper's k = 1000: the same config, the same cached run, no difference
    same = table[table.variant == "k=1000"].iloc[0]
    assert same["MAP@10 - default"] == 0 and same["uniformity"] == table.uniformity.iloc[0]
    assert list(table["same as default"]) == [False, False, True]
    assert table["uniformity (base)"].nunique() == 1  # one base model under every variant
    for col in ("alignment", "alignment_norm", "uniformity", "MAP@10 - base low"):
        assert table[col].notna().all()

    def no_training(*a, **k):
        raise AssertionError("a cached variant was trained again")
    monkeypatch.setattr(training, "train", no_training)
    assert main(["ablations", "-c", str(config), "--axes", "k"]) == 0
    assert "0 not trained yet" in capsys.readouterr().out
    # a variant not in the cache is left out of what the notebook reads, never computed
    assert list(ablations.read(config, [], ["k", "inv_alpha"]).variant)[:3] == list(table.variant)


def test_the_budget_skips_what_no_longer_fits(config, monkeypatch, capsys):
    from bmembed_lab import timing

    # 10 s per text, no evaluation timed: 2 steps x 1 list x 4 texts = 80 s a variant
    monkeypatch.setattr(timing, "measured", lambda cache, method=None: timing.Rates(10.0, None, 1))
    assert main(["ablations", "-c", str(config), "--axes", "inv_alpha",
                 "--budget-minutes", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "about 4 min of training" in out
    assert out.count("skipped: estimated 1.3 min") >= 2  # the default's 1/alpha = 0.5 is cached


def test_a_variant_reuses_only_what_no_sampling_or_training_option_reaches(config):
    """ablations.read gives each variant the default's corpus, questions and base stages (most
    of notebook 08's open) and nothing its recipe reaches; another corpus shares nothing."""
    from bmembed_lab.pipeline import recipe_free

    assert all(recipe_free(n) for n in ("dataset", "chunks:bm25_index", "questions:test",
                                        "embeddings:base:chunks", "rrf_run:rrf:test"))
    assert not any(recipe_free(n) for n in ("lists", "train_ranking", "model:bmembed",
                                            "embeddings:bmembed:chunks", "rrf_run:rrf+bmembed:test",
                                            "evaluation:test:bm25|base", "model:dev_pool"))
    default = ablations.pipeline(config, [])
    default.questions(), default.training_lists()
    k100 = ablations.AXES["k"][1][0]
    variant = ablations.pipeline(config, [], k100).adopt(default)
    assert variant.chunks() is default.chunks() and variant.questions() is default.questions()
    assert "lists" not in variant._memo and variant.training_lists() is not default.training_lists()
    other = ablations.pipeline(config, ["chunking.chunk_tokens=32"]).adopt(default)
    assert other._memo == {}
