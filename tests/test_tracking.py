"""Experiment tracking (issue 30, line 4): report_to = ["tensorboard"] and ["mlflow"] log loss,
learning rate, throughput and every dev evaluation, read back from TensorBoard's event files and
MLflow's SQLite store; off by default; the model trained is the same either way (its key leaves
report_to out)."""

import pytest

from bmembed_lab import training
from bmembed_lab.errors import InputError
from bmembed_lab.pipeline import Pipeline

from .conftest import tiny_config


def settings(**kw):
    return dict(sampling__m=3, training__steps=4, training__warmup_steps=1, training__lr=1e-3,
                eval__dev_fraction=0.5, eval__seed=3, training__eval_every=2,
                training__patience=0, **kw)


def test_tensorboard_gets_every_step_and_dev_evaluation(tmp_path, beir_dir, tiny_model_dir,
                                                        monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir,
                      **settings(training__report_to=["tensorboard"]))
    tm, key = Pipeline(cfg).trained("bmembed", progress=False)
    logs = tmp_path / "cache" / "tracking" / key / "tensorboard"
    acc = EventAccumulator(str(logs))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/learning_rate", "train/steps_per_second",
            "dev/MAP@10"} <= tags
    loss = acc.Scalars("train/loss")
    assert [e.step for e in loss] == [1, 2, 3, 4]
    assert [round(e.value, 4) for e in loss] == [round(x["loss"], 4) for x in tm.info["losses"]]
    assert [e.step for e in acc.Scalars("dev/MAP@10")] == [0, 2, 4]
    assert [round(e.value, 4) for e in acc.Scalars("dev/MAP@10")] == [
        round(c["score"], 4) for c in tm.info["selection"]["curve"]]
    assert all(e.value > 0 for e in acc.Scalars("train/steps_per_second"))
    # off by default, and the same model: switching tracking off trains nothing again
    plain = tiny_config(tmp_path, beir_dir, tiny_model_dir, **settings())
    assert plain.training.report_to == []

    def no_training(*a, **k):
        raise AssertionError("trained again")
    monkeypatch.setattr(training, "train", no_training)
    assert Pipeline(plain).trained("bmembed")[1] == key


def test_an_unknown_tracker_is_named(tmp_path, beir_dir, tiny_model_dir):
    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir,
                      **settings(training__report_to=["wandb"]))
    with pytest.raises(InputError, match="training.report_to"):
        Pipeline(cfg).trained("bmembed", progress=False)


def test_mlflow_store_gets_every_step_and_dev_evaluation(tmp_path, beir_dir,
                                                              tiny_model_dir):
    """The same run logged to MLflow's SQLite store beside TensorBoard, read back with MLflow's
    own client; a resumed run (same key) appends to its run instead of opening another."""
    from mlflow.tracking import MlflowClient

    from bmembed_lab.tracking import MLFLOW_EXPERIMENT, Tracking, mlflow_name, mlflow_uri

    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir,
                      **settings(training__report_to=["tensorboard", "mlflow"]))
    tm, key = Pipeline(cfg).trained("bmembed", progress=False)
    root = tmp_path / "cache" / "tracking"
    assert (root / key / "tensorboard").is_dir()
    client = MlflowClient(tracking_uri=mlflow_uri(root))
    exp = client.get_experiment_by_name(MLFLOW_EXPERIMENT)
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.run_name == key and run.info.status == "FINISHED"
    loss = client.get_metric_history(run.info.run_id, "train/loss")
    assert [m.step for m in loss] == [1, 2, 3, 4]
    assert [round(m.value, 4) for m in loss] == [round(x["loss"], 4) for x in tm.info["losses"]]
    dev = client.get_metric_history(run.info.run_id, mlflow_name("dev/MAP@10"))
    assert mlflow_name("dev/MAP@10") == "dev/MAP_at_10"
    assert [(m.step, round(m.value, 4)) for m in dev] == [
        (c["step"], round(c["score"], 4)) for c in tm.info["selection"]["curve"]]
    assert {"train/learning_rate", "train/steps_per_second"} <= set(run.data.metrics)
    again = Tracking(["mlflow"], root, key, "MAP@10")  # a resumed run: the same MLflow run
    again.step(5, 0.5, 1e-4)
    again.close()
    (run,) = client.search_runs([exp.experiment_id])
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")][-1] == 5
