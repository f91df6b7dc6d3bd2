"""Commands that run unchanged under ``accelerate launch`` (several processes, one GPU each, or
gloo on CPU): training with DDP and encoding the corpus with every process.

In: a config and a pipeline factory. Out: what the CLI prints (main process only). A single
process (no ``WORLD_SIZE`` > 1 in the environment) runs as usual.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace

from .config import Config


def accelerator_for(cfg: Config):
    """(accelerator or None, config): under ``accelerate launch`` with several processes an
    ``accelerate.Accelerator`` (gloo on CPU-only machines), and each process's encoder on its
    own GPU; otherwise (None, cfg)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None, cfg
    import torch
    from accelerate import Accelerator

    acc = Accelerator(cpu=not torch.cuda.is_available())
    if acc.device.type == "cuda":
        cfg = replace(cfg, encoder=replace(cfg.encoder, device=f"cuda:{acc.local_process_index}"))
    return acc, cfg


def train_command(cfg: Config, method: str, pipeline) -> list[str]:
    """Train one method. Under ``accelerate launch`` every rank trains its slice of each batch;
    rank 0 prepares the data first (the others then read it from the cache), writes the
    checkpoints and the export, and all ranks check that they hold the same weights."""
    acc, cfg = accelerator_for(cfg)
    pipe = pipeline(cfg)
    with acc.main_process_first() if acc else contextlib.nullcontext():
        pipe.training_inputs(method)
    tm, _ = pipe.trained(method, accelerator=acc)
    if acc is not None and not acc.is_main_process:
        return []
    info = tm.info
    return [
        f"trained {info['name']}: {info['steps']} steps in {info['seconds']:.0f} s, "
        f"final loss {info['final_loss']:.4f}",
        *(
            f"rank {r} weights sha256 {d}"
            for r, d in enumerate(info.get("rank_weight_digests", []))
        ),
        f"export: {tm.path} (merged model: {tm.merged}; model card: {tm.path / 'README.md'})",
    ]


def encode_command(cfg: Config, models: list[str], pipeline) -> list[str]:
    """Encode the corpus with each of ``models`` (base, a trained method, folder:PATH) into the
    cache, resumable shard by shard. Under ``accelerate launch`` process r encodes every n-th
    shard on its own device and the main process joins and stores them."""
    import time

    acc, cfg = accelerator_for(cfg)
    pipe = pipeline(cfg)
    with acc.main_process_first() if acc else contextlib.nullcontext():
        pipe.chunks()
    out = []
    for name in models:
        t = time.perf_counter()
        emb, key = pipe.chunk_embeddings(name, accelerator=acc)
        if emb is not None:
            out.append(f"{name}: {emb.shape[0]:,} chunks x {emb.shape[1]} dimensions in "
                       f"{time.perf_counter() - t:.0f} s, {acc.num_processes if acc else 1} "
                       f"process(es); cached as embeddings/{key}")
    if acc is not None:
        acc.wait_for_everyone()
    return out
