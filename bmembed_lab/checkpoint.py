"""Resumable training checkpoints (paper Appendix C's runs, made safe to interrupt).

A checkpoint is a folder ``<run>/checkpoints/step-NNNNNNN/`` holding the trainable weights and
the AdamW state (safetensors) and the step and loss curve (JSON), plus ``manifest.json`` (the
size and sha256 of each of those files, written last), made in a temporary folder and renamed
into place. On resume the newest checkpoint whose files match their manifest is used; one that
does not is reported and moved aside (``corrupt-step-NNNNNNN``), and the previous one is tried.
In: a run folder, the model and optimizer. Out: the folder, or (step, loss curve) on load.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from .hashing import file_sha256
from .errors import InputError

log = logging.getLogger(__name__)
MANIFEST = "manifest.json"
BEST_FILES = ("weights.safetensors", "best.json")  # best/: the dev-selected weights
FILES = ("weights.safetensors", "optimizer.safetensors", "state.json")


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
    def write(tmp: Path) -> None:
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
        (tmp / "state.json").write_text(json.dumps(
            {"step": step, "param_groups": sd["param_groups"], "scalars": scalars,
             "losses": losses, "extra": extra or {}}))
        _write_manifest(tmp, FILES)

    _publish(ckdir / f".tmp-{step:07d}-{os.getpid()}", final, write)
    for old in sorted(p for p in ckdir.glob("step-*"))[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run (not verified), or None."""
    done = checkpoints(run_dir)
    return done[-1] if done else None


def _write_manifest(folder: Path, files) -> None:
    """The size and sha256 of each of ``files``, written last: a folder without it is
    unfinished."""
    sums = {f: {"size": (folder / f).stat().st_size, "sha256": file_sha256(folder / f)}
            for f in files}
    (folder / MANIFEST).write_text(json.dumps(sums))


def verify(path: Path, files=FILES) -> str | None:
    """What is wrong with a checkpoint's files against its manifest, or None when they match."""
    try:
        manifest = json.loads((path / MANIFEST).read_text())
        if not isinstance(manifest, dict) or set(manifest) != set(files):
            return "its manifest does not list its files"
        for name, meta in manifest.items():
            f = path / name
            if not f.is_file():
                return f"{name} is missing"
            if f.stat().st_size != meta["size"]:
                return f"{name} has {f.stat().st_size} bytes, expected {meta['size']}"
            if file_sha256(f) != meta["sha256"]:
                return f"{name} does not match its checksum"
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"its manifest cannot be read ({err})"
    return None


def set_aside(path: Path, why: str) -> None:
    bad = path.with_name(f"corrupt-{path.name}")
    shutil.rmtree(bad, ignore_errors=True)
    os.replace(path, bad)
    log.warning("checkpoint %s is damaged (%s): kept aside as %s", path, why, bad.name)


def resume(run_dir: Path, model, opt) -> tuple[int, list[dict], dict, Path | None]:
    """Load the newest checkpoint whose files match their manifest into ``model`` and ``opt``:
    (step, loss curve, extra state, its folder). Damaged ones are reported, set aside and the
    previous one is tried; with none left, training restarts from step 0, saying so."""
    for path in reversed(checkpoints(run_dir)):
        why = verify(path)
        if why is None:
            try:
                return (*load_checkpoint(path, model, opt), path)
            except InputError:
                raise
            except Exception as err:  # noqa: BLE001 - any unreadable file means a bad checkpoint
                why = f"it cannot be loaded ({type(err).__name__}: {err})"
        set_aside(path, why)
        if not checkpoints(run_dir):
            log.warning("no usable checkpoint left in %s: training restarts from step 0", run_dir)
    return 0, [], {}, None


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
    """The complete checkpoints of a training run (their manifest written), oldest first."""
    return sorted(
        p for p in (Path(run_dir) / "checkpoints").glob("step-*") if (p / MANIFEST).is_file()
    )


def save_best(run_dir: Path, model, step: int, score: float) -> None:
    """The trainable weights of the best dev checkpoint so far (``best/``), atomically."""
    from safetensors.torch import save_file

    def write(tmp: Path) -> None:
        save_file({n: p.detach().contiguous().cpu() for n, p in trainable(model).items()},
                  str(tmp / "weights.safetensors"))
        (tmp / "best.json").write_text(json.dumps({"step": step, "score": score}))
        _write_manifest(tmp, BEST_FILES)

    _publish(Path(run_dir) / f".best-tmp-{os.getpid()}", Path(run_dir) / "best", write)


def _publish(tmp: Path, final: Path, write) -> None:
    """``write(tmp)`` into a fresh temporary folder, then put it in ``final``'s place; a failure
    (a full disk) removes the temporary folder and leaves ``final`` as it was."""
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_best(run_dir: Path, model) -> int:
    """Put the best dev checkpoint's weights into ``model``, verified against their manifest
    first (damaged weights were exported with exit 0); returns its step."""
    import torch
    from safetensors.torch import load_file

    best = Path(run_dir) / "best"
    problem = verify(best, BEST_FILES)
    if problem:
        raise InputError(f"the dev-selected weights cannot be used: {problem}", str(best),
                         f"train again: delete the run's folder {Path(run_dir)} (inside the "
                         "cache) and rerun; nothing was exported")
    weights = load_file(str(best / "weights.safetensors"))
    with torch.no_grad():
        for n, p in trainable(model).items():
            p.copy_(weights[n])
    return json.loads((best / "best.json").read_text())["step"]
