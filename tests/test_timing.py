"""What a run costs (bmembed_lab/timing.py, notebook 03's estimate): training and dev
evaluations are measured apart, short runs do not poison the rate, the method's own runs are
preferred, and the form's sentence says when a method raises the batch."""

import json

import pytest

from bmembed_lab import timing, workbench
from bmembed_lab.cache import StageCache


def fake_run(cache, key, method, steps, seconds, evals=(), batch=1):
    d = cache.root / "model" / key
    d.mkdir(parents=True)
    curve = [{"step": 0, "score": 50.0, "seconds": 0.0}] + [
        {"step": 50 * (i + 1), "score": 51.0, "seconds": s} for i, s in enumerate(evals)]
    (d / "train.json").write_text(json.dumps({
        "method": method, "steps": steps, "seconds": seconds,
        "hyperparameters": {"batch_size": batch, "grad_accum": 1, "hard_negatives": 1},
        "selection": {"curve": curve}}))


def test_training_and_evaluation_are_measured_apart(tmp_path):
    cache = StageCache(tmp_path / "cache")
    fake_run(cache, "a", "bmembed", 200, 300.0, [20.0] * 4)  # 220 s of steps, 2,000 texts
    fake_run(cache, "b", "bmembed", 4, 593.0, [500.0])  # a short run: left out of the rate
    fake_run(cache, "c", "cl", 200, 100.0, batch=16)  # another method: not used for bmembed
    r = timing.measured(cache, "bmembed")
    assert r.per_text == pytest.approx(220 / 2000) and r.runs == 1
    assert r.per_eval == 20.0  # the median evaluation, the short run's outlier included
    e = timing.estimate(cache, "bmembed", 200, 1, 9, eval_every=50)
    assert e["train"] == pytest.approx(220.0) and e["n_evals"] == 4
    assert e["evals"] == pytest.approx(80.0)
    assert timing.measured(cache, "cl").per_text == pytest.approx(100 / (200 * 16 * 2))
    text = workbench.training_estimate(cache, "cl", 200, 16, 9, 50, requested=1)
    assert "cl raises the 1 asked for to 16" in text and "plus 4 dev evaluations" in text


def test_no_timed_run_says_so(tmp_path):
    cache = StageCache(tmp_path / "cache")
    fake_run(cache, "b", "bmembed", 4, 593.0)
    assert timing.measured(cache).per_text is None
    assert "No run of 20 steps or more" in workbench.training_estimate(cache, "bmembed", 200,
                                                                       1, 9)
