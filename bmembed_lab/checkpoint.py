"""Resumable training checkpoints (paper Appendix C's runs, made safe to interrupt).

A checkpoint is a folder ``<run>/checkpoints/step-NNNNNNN/`` holding the trainable weights and
the AdamW state (safetensors) and the step and loss curve (JSON), written to a temporary
folder and renamed into place. In: a run folder, the model and optimizer. Out: the folder, or
(step, loss curve) on load.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .errors import InputError


def trainable(model) -> dict:
    """The parameters that training changes, by name."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(run_dir: Path, step: int, model, opt, losses: list[dict], keep: int,
                    extra: dict | None = None) -> Path:
    """Trainable weights + AdamW state (safetensors) + step, loss curve and ``extra`` (the
    model selection's state: dev curve, best step) as JSON, atomically."""
    from safetensors.torch import save_file

    ckdir = run_dir / "checkpoints"
    ckdir.mkdir(parents=True, exist_ok=True)
    final = ckdir / f"step-{step:07d}"
    tmp = ckdir / f".tmp-{step:07d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file({n: p.detach().contiguous().cpu() for n, p in trainable(model).items()},
              str(tmp / "weights.safetensors"))
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if hasattr(v, "shape"):
                tensors[f"{pid}.{k}"] = v.detach().contiguous().cpu()
            else:
                scalars[f"{pid}.{k}"] = v
    save_file(tensors, str(tmp / "optimizer.safetensors"))
    (tmp / "state.json").write_text(json.dumps({"step": step, "param_groups": sd["param_groups"],
                                                "scalars": scalars, "losses": losses,
                                                "extra": extra or {}}))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in sorted(p for p in ckdir.glob("step-*"))[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    done = checkpoints(run_dir)
    return done[-1] if done else None


def load_checkpoint(path: Path, model, opt) -> tuple[int, list[dict], dict]:
    import torch
    from safetensors.torch import load_file

    weights = load_file(str(path / "weights.safetensors"))
    params = trainable(model)
    missing = set(params) ^ set(weights)
    if missing:
        raise InputError(f"checkpoint does not fit the model ({len(missing)} tensors differ)",
                         str(path), "delete the run folder or restore the training config")
    with torch.no_grad():
        for n, p in params.items():
            p.copy_(weights[n])
    meta = json.loads((path / "state.json").read_text())
    tens = load_file(str(path / "optimizer.safetensors"))
    state: dict = {}
    for key, v in tens.items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    for key, v in meta["scalars"].items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return meta["step"], meta["losses"], meta.get("extra", {})


def checkpoints(run_dir: Path) -> list[Path]:
    """The complete checkpoints of a training run, oldest first."""
    return sorted(p for p in (Path(run_dir) / "checkpoints").glob("step-*") if (p / "state.json").is_file())


def save_best(run_dir: Path, model, step: int, score: float) -> None:
    """The trainable weights of the best dev checkpoint so far (``best/``), atomically."""
    from safetensors.torch import save_file

    tmp = Path(run_dir) / f".best-tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file({n: p.detach().contiguous().cpu() for n, p in trainable(model).items()},
              str(tmp / "weights.safetensors"))
    (tmp / "best.json").write_text(json.dumps({"step": step, "score": score}))
    final = Path(run_dir) / "best"
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def load_best(run_dir: Path, model) -> int:
    """Put the best dev checkpoint's weights into ``model``; returns its step."""
    import torch
    from safetensors.torch import load_file

    best = Path(run_dir) / "best"
    weights = load_file(str(best / "weights.safetensors"))
    with torch.no_grad():
        for n, p in trainable(model).items():
            p.copy_(weights[n])
    return json.loads((best / "best.json").read_text())["step"]
