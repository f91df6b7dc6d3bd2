"""Training and evaluation on a GPU: each method (bmembed, cl, mnrl), full and LoRA, trains a
few steps on the chosen device, is interrupted after a checkpoint and resumed, and is
evaluated. The same body runs on the CPU everywhere (so the test itself is exercised) and on
CUDA where PyTorch sees a GPU; the CUDA cases skip with a reason elsewhere."""

import pytest
import torch

from bmembed_lab.pipeline import Pipeline

from .conftest import tiny_config

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA GPU visible to PyTorch on this machine"))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("method,lora", [("bmembed", False), ("bmembed", True), ("cl", False),
                                         ("cl", True), ("mnrl", False), ("mnrl", True)])
def test_train_resume_and_evaluate_on_the_device(tmp_path, beir_dir, tiny_model_dir, monkeypatch,
                                                 device, method, lora):
    from bmembed_lab import training

    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, encoder__device=device, sampling__m=3,
                      training__steps=4, training__warmup_steps=1, training__lr=1e-3,
                      training__lora=lora, training__checkpoint_every=2, training__batch_size=2,
                      eval__systems=["bm25", "base", method])
    seen = []
    real = training.step_loss

    def spy(enc, *a, **k):
        loss = real(enc, *a, **k)
        seen.append((loss.device.type, next(enc.model.parameters()).dtype))
        return loss

    monkeypatch.setattr(training, "step_loss", spy)

    def stop(step, loss, lr):
        if step == 3:
            raise KeyboardInterrupt  # after the step-2 checkpoint
    with pytest.raises(KeyboardInterrupt):
        Pipeline(cfg).trained(method, on_step=stop, progress=False)
    runs = Pipeline(cfg).unfinished_runs()
    assert [c.name for cks in runs.values() for c in cks] == ["step-0000002"]
    pipe = Pipeline(cfg)
    tm, _ = pipe.trained(method, progress=False)
    assert tm.info["resumed_from"] == 2 and tm.info["steps"] == 4
    assert {d for d, _ in seen} == {device} and {t for _, t in seen} == {torch.float32}
    res = pipe.evaluate()
    assert list(res["summary"].index) == ["bm25", "base", method]
    assert (res["summary"]["queries"] == 3).all()
    assert f"{method} - base" in set(res["comparisons"].comparison)
    assert pipe.unfinished_runs() == {}  # the export replaced the checkpoints
