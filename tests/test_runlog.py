"""Every trained run of a cache side by side (issue 34, line 4: the runs view): two seeds and a
baseline method on the tiny corpus, read back from the cache by `bmembed-lab runs` and
notebook 09's functions, the settings table showing only what differs, the curves overlaid,
and each export scored on the test questions against the base model with an interval."""

import pytest

from bmembed_lab import runlog
from bmembed_lab.cli import main
from bmembed_lab.config import load_config
from bmembed_lab.pipeline import Pipeline

from .conftest import tiny_config_file


@pytest.fixture
def config(tmp_path, beir_dir, tiny_model_dir):
    return tiny_config_file(tmp_path, beir_dir, tiny_model_dir, sampling__m=3, training__steps=3,
                            training__warmup_steps=1, training__lr=1e-3, eval__dev_fraction=0.5,
                            eval__seed=3, training__eval_every=3, training__patience=0)


def test_runs_of_two_seeds_and_a_baseline_side_by_side(config, capsys):
    assert main(["runs", "-c", str(config)]) == 0
    assert "no trained run" in capsys.readouterr().out
    for overrides, method in (([], "bmembed"), (["training.seed=1"], "bmembed"), ([], "cl")):
        Pipeline(load_config(config, overrides)).trained(method, progress=False)
    pipe = Pipeline(load_config(config))
    runs = runlog.read(pipe.cache)
    assert sorted(r.method for r in runs) == ["bmembed", "bmembed", "cl"]
    table = runlog.settings_table(runs)
    assert set(runlog.TOOLTIPS) <= set(table.columns)  # marimo refuses a tooltip for no column
    apart = dict(zip(table.run, table["differs in"]))  # only what sets a run apart is said
    seeded = next(r for r in runs if r.info["hyperparameters"]["seed"] == 1)
    assert apart[seeded.label].startswith("seed 1") and "lr" not in " ".join(apart.values())
    cl = next(r for r in runs if r.method == "cl")
    assert "batch" in apart[cl.label] and "lists " in apart[cl.label]
    assert table["dev set"].nunique() == 1  # the same dev questions: the runs compare
    assert all(t.startswith(("+", "-")) and "[" in t
               for t in table["dev MAP@10 − base [95%]"])
    long = runlog.curves(runs)
    for r in runs:  # every step's loss and every dev evaluation, per run
        mine = long[long.run == r.label]
        assert list(mine[mine.kind == "training loss"].step) == [1, 2, 3]
        assert list(mine[mine.kind == "dev MAP@10"].step) == [0, 3]
    tests = runlog.test_table(pipe, runs)
    assert list(tests.run) == [r.label for r in runs]
    res = pipe.evaluate(["base", "bmembed"])  # the current config's export: the same numbers
    mine = next(r for r in runs if r.folder == pipe.trained("bmembed")[0].path / "merged")
    row = tests[tests.run == mine.label].iloc[0]
    assert row["MAP@10"] == round(float(res["summary"].loc["bmembed", "MAP@10"]), 2)
    assert row["questions"] == res["summary"].loc["base", "queries"]
    assert main(["runs", "-c", str(config), "--test"]) == 0
    out = capsys.readouterr().out
    assert "minus base [95%]" in out and all(r.label in out for r in runs)


def test_a_query_side_export_is_listed_but_not_scored_as_a_whole_model(config):
    Pipeline(load_config(config, ["training.query_side=true"])).trained("bmembed",
                                                                         progress=False)
    runs = runlog.read(Pipeline(load_config(config)).cache)
    assert len(runs) == 1 and runlog.scorable(runs) == []
    assert runlog.settings_table(runs)["run"].tolist() == [runs[0].label]


def test_notebook_09_overlays_every_run_of_the_cache(config, monkeypatch):
    from .test_notebooks import ROOT, load_app

    for seed in (0, 1):
        Pipeline(load_config(config, [f"training.seed={seed}"])).trained("bmembed",
                                                                         progress=False)
    monkeypatch.setenv("BMEMBED_CONFIG", str(config))
    _, defs = load_app(ROOT / "notebooks" / "09_runs.py").run()
    assert len(defs["runs"]) == 2 and len(defs["chosen"]) == 2  # same dev set: both ticked
    fig = defs["fig"]
    assert [t.name for t in fig.data] == [r.label for r in defs["runs"] for _ in (0, 1)]
    assert list(fig.data[1].x) == [0, 3]  # the dev curve of the first run, step 0 and 3
