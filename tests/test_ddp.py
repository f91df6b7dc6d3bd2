"""`accelerate launch` (DDP, gloo, 2 CPU processes) runs `bmembed-lab train` unchanged and both
ranks end with the same weights; the run also matches nothing-special bookkeeping: one export."""

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("accelerate")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("method", ["bmembed", "mnrl"])
def test_two_gloo_ranks_agree_on_the_weights(tmp_path, beir_dir, tiny_model_dir, method):
    sets = {
        "corpus.path": str(beir_dir),
        "encoder.model": str(tiny_model_dir),
        "cache.dir": str(tmp_path / "cache"),
        "chunking.chunk_tokens": 24,
        "sampling.m": 3,
        "training.steps": 3,
        "training.warmup_steps": 1,
        "training.lr": 1e-3,
        "training.checkpoint_every": 2,
        "training.negative_depth": 6,
        "training.negative_margin": 1.0,
    }
    args = [a for k, v in sets.items() for a in ("--set", f"{k}={json.dumps(v)}")]
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [
        str(accelerate),
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_ip",
        "127.0.0.1",
        "--main_process_port",
        str(free_port()),
        "-m",
        "bmembed_lab.cli",
        "train",
        "--method",
        method,
        *args,
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=280)
    assert out.returncode == 0, out.stderr[-3000:]
    digests = dict(re.findall(r"rank (\d) weights sha256 ([0-9a-f]{64})", out.stdout))
    assert set(digests) == {"0", "1"} and len(set(digests.values())) == 1, out.stdout
    exports = list((tmp_path / "cache" / "model").glob("*/train.json"))
    assert len(exports) == 1
    info = json.loads(exports[0].read_text())
    assert info["processes"] == 2 and info["steps"] == 3 and info["method"] == method


@pytest.mark.timeout(300)
def test_two_processes_share_the_encoding_and_match_one(
    tmp_path, beir_dir, tiny_model_dir, monkeypatch
):
    """`accelerate launch ... encode` with 2 gloo processes: each encodes every other shard,
    the main one joins them; the stored embeddings equal a single process's encoding."""
    import numpy as np

    from bmembed_lab.config import load_config
    from bmembed_lab.encoder import Encoder
    from bmembed_lab.pipeline import Pipeline

    sets = {
        "corpus.path": str(beir_dir),
        "encoder.model": str(tiny_model_dir),
        "encoder.precision": "fp32",
        "cache.dir": str(tmp_path / "cache"),
        "chunking.chunk_tokens": 24,
        "encoder.shard_texts": 3,
    }
    args = [a for k, v in sets.items() for a in ("--set", f"{k}={json.dumps(v)}")]
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_ip", "127.0.0.1",
           "--main_process_port", str(free_port()), "-m", "bmembed_lab.cli", "encode", *args]
    env = dict(os.environ, OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=280)
    assert out.returncode == 0, out.stderr[-3000:]
    assert re.search(r"base: \d+ chunks x \d+ dimensions in \d+ s, 2 process", out.stdout), (
        out.stdout
    )
    assert out.stdout.count("chunks x") == 1  # the main process reports
    cfg = load_config(None, [f"{k}={json.dumps(v)}" for k, v in sets.items()])
    with monkeypatch.context() as m:
        m.setattr(Encoder, "encode", lambda *a, **k: pytest.fail("not stored: encoded again"))
        shared, key = Pipeline(cfg).chunk_embeddings("base")  # read back from the cache
    alone = Pipeline(load_config(None, [f"{k}={json.dumps(v)}" for k, v in sets.items()
                                        if k != "cache.dir"] + ['cache.enabled=false']))
    want, _ = alone.chunk_embeddings("base")
    assert len(shared) > 3 * 2  # more than one shard per process
    np.testing.assert_allclose(shared, want, atol=1e-5)
    assert not any(
        (tmp_path / "cache" / "encode_shards").glob("*/*.npy")
    )  # shards removed once stored
