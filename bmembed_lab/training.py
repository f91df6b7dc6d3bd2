"""Fine-tuning the encoder on the training lists (paper Section 3.3, Appendix C).

In: an :class:`~.encoder.Encoder` (its model is trained in place), the training data
(:mod:`.batches` says what one step computes on it), a :class:`~.config.TrainingConfig` and a run
folder. Out: :class:`TrainResult` (loss curve, steps, seconds). Full fine-tuning or LoRA (peft);
AdamW with linear warm-up and decay; gradient accumulation; bf16 autocast where the hardware has
native bf16.

Robustness: a checkpoint (:mod:`.checkpoint`) every ``checkpoint_every`` steps; a rerun resumes
from the newest one. Data order and dropout are pure functions of (seed, step), so a resumed run
ends with the same weights as an uninterrupted one. A NaN/inf loss stops the run with a clear
message before the optimizer step, leaving the last good checkpoint in place.

Multi-process (``accelerate launch``, DDP): each rank takes its own slice of every batch and
gradients are averaged by DDP, so the weights stay identical across ranks.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path


from .batches import ListData, PairData, TokenTable, batch_indices, batch_loss, step_loss
from .checkpoint import checkpoints, latest_checkpoint, load_best, resume, save_checkpoint
from .config import TrainingConfig
from .errors import InputError
from .passes import embed_bucketed

__all__ = [
    "ListData",
    "PairData",
    "TrainResult",
    "TrainingDiverged",
    "TokenTable",
    "batch_indices",
    "batch_loss",
    "checkpoints",
    "embed_bucketed",
    "prepare_model",
    "rank_digests",
    "step_loss",
    "train",
    "weights_digest",
]

log = logging.getLogger(__name__)
BERT_TARGETS = {"query", "key", "value", "dense"}
DECODER_TARGETS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


UNUSED = ("pooler.",)  # BERT's pooler: mean/CLS pooling reads the hidden states, not it; a
# parameter without a gradient would also stop DDP ("did not receive grad")


class TrainingDiverged(InputError):
    pass


@dataclass
class TrainResult:
    steps: int
    losses: list[dict]  # {step, loss, lr, seconds}
    seconds: float
    resumed_from: int = 0
    trainable_parameters: int = 0
    total_parameters: int = 0
    selection: dict | None = None  # the dev curve, base, best step (see selection.Selector)


# -- model set-up ----------------------------------------------------------------------------
def lora_targets(model) -> list[str]:
    """Linear layers to adapt, by architecture: decoder projections, else BERT-style names."""
    import torch

    names = {
        n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)
    }
    chosen = names & DECODER_TARGETS or names & BERT_TARGETS
    if not chosen:
        raise InputError(
            f"no known LoRA target among the model's linear layers {sorted(names)[:12]}",
            "training.target_modules",
            "name the modules to adapt explicitly",
        )
    return sorted(chosen)


def prepare_model(enc, tcfg: TrainingConfig):
    """Make ``enc.model`` trainable (fp32 master weights; LoRA-wrapped if configured). The
    encoder must hold fp32 weights (``Encoder.load(..., trainable=True)``): training from
    weights rounded to bf16 would start from another model than the one evaluated as base.
    On the CPU its dropout modules become :class:`~bmembed_lab.dropout.CPUDropout`."""
    import torch

    from .dropout import use_cpu_dropout

    torch.manual_seed(tcfg.seed)
    low = {p.dtype for p in enc.model.parameters()} - {torch.float32}
    if low:
        raise ValueError(f"the encoder's weights are {sorted(map(str, low))}: load it with "
                         "Encoder.load(cfg, trainable=True) so training starts from fp32 weights")
    if tcfg.lora:
        from peft import LoraConfig, get_peft_model

        targets = list(tcfg.target_modules) or lora_targets(enc.model)
        unused = [n for n, m in enc.model.named_modules() if n.startswith(UNUSED)]
        enc.model = get_peft_model(enc.model, LoraConfig(
            r=tcfg.lora_r, lora_alpha=tcfg.lora_alpha, lora_dropout=tcfg.lora_dropout,
            target_modules=targets, bias="none", exclude_modules=unused or None))
    else:
        for n, p in enc.model.named_parameters():
            p.requires_grad_(not n.startswith(UNUSED))
    if tcfg.attention_dropout >= 0:
        set_attention_dropout(enc.model, tcfg.attention_dropout)
    if enc.device == "cpu":  # the same dropout with a cheaper mask (bmembed_lab/dropout.py)
        use_cpu_dropout(enc.model)
    enc.max_length = min(enc.max_length, tcfg.max_length)
    enc.model.train()
    return enc


def set_attention_dropout(model, p: float) -> int:
    """Set the attention-probability dropout of every attention module to ``p`` (nn.Dropout
    ``dropout`` children, as in BERT, or a float ``attention_dropout``, as in Llama/Qwen).
    Returns the number of modules changed."""
    import torch

    n = 0
    for m in model.modules():
        if "Attention" not in type(m).__name__:
            continue
        if isinstance(getattr(m, "dropout", None), torch.nn.Dropout):
            m.dropout.p = p
            n += 1
        elif isinstance(getattr(m, "attention_dropout", None), float):
            m.attention_dropout = p
            n += 1
    return n


# -- the loop --------------------------------------------------------------------------------------
def train(enc, data, tcfg: TrainingConfig, run_dir: Path, on_step=None, progress: bool = True,
          accelerator=None, selector=None) -> TrainResult:
    """Train ``enc.model`` in place on ``data`` (:class:`ListData` or :class:`PairData`).
    ``on_step(step, loss, lr)`` is called after each optimizer step (live loss curves). With a
    :class:`~bmembed_lab.selection.Selector`, the model is scored on the dev split at step 0
    and every ``eval_every`` steps, training stops after ``patience`` scores without a gain,
    and the model ends with its best-scoring weights."""
    import torch
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    if len(data) == 0:
        raise InputError("no training data", "training", "check the queries and lists stages")
    if tcfg.steps < 1 or tcfg.batch_size < 1 or tcfg.grad_accum < 1:
        raise InputError(f"training.steps = {tcfg.steps}, batch_size = {tcfg.batch_size}, "
                         f"grad_accum = {tcfg.grad_accum}", "config", "use values >= 1")
    if tcfg.anchor and getattr(data, "base_sims", None) is None:
        raise InputError(f"training.anchor = {tcfg.anchor} needs the BM25 lists with the base "
                         f"model's cosines over them; {tcfg.method} is not trained on lists",
                         "training.anchor", "set it to 0, or train bmembed")
    if tcfg.query_side and getattr(data, "item_emb", None) is None:
        raise InputError(f"training.query_side needs the BM25 lists with the base model's "
                         f"embeddings of their passages; {tcfg.method} is not trained on lists",
                         "training.query_side", "set it to false, or train bmembed")
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    model = enc.model
    params = [p for p in model.parameters() if p.requires_grad]
    opt = _adamw(params, tcfg)
    sched = get_linear_schedule_with_warmup(opt, min(tcfg.warmup_steps, tcfg.steps), tcfg.steps)
    start, losses = 0, []
    if accelerator is not None and accelerator.num_processes > 1 and selector is not None:
        log.warning("model selection on dev is off under DDP: the last step is exported")
        selector = None
    start, losses, extra, ck = resume(run_dir, model, opt)
    if ck is not None:
        if selector is not None:
            selector.restore(extra.get("selection", {}))
        import warnings

        with warnings.catch_warnings():  # fast-forwarding the schedule, not a misuse
            warnings.simplefilter("ignore", UserWarning)
            for _ in range(start):
                sched.step()
        log.info("resumed from %s (step %d)", ck, start)
    if accelerator is not None:
        enc.model, opt = accelerator.prepare(model, opt)
    tokens = TokenTable.of(enc, data, tcfg)
    t0 = time.perf_counter()
    bar = tqdm(total=tcfg.steps, initial=start, desc="training", disable=not progress or rank != 0)
    if selector is not None and start == 0:
        selector.evaluate_apart(bar, enc, model, 0)
    try:
        for step in range(start, tcfg.steps):
            torch.manual_seed(tcfg.seed * 1_000_003 + step)  # dropout: a function of the step
            opt.zero_grad(set_to_none=True)
            total = 0.0
            micro = [
                batch_indices(len(data), step, m, tcfg, rank, world) for m in range(tcfg.grad_accum)
            ]
            for group in ([micro] if tcfg.pack_step else [[m] for m in micro]):
                loss = step_loss(enc, data, group, tcfg, tokens) * (len(group) / tcfg.grad_accum)
                finite = bool(torch.isfinite(loss))
                if (
                    accelerator is not None and accelerator.num_processes > 1
                ):  # all ranks stop together
                    finite = bool(accelerator.reduce(torch.tensor([float(finite)]), "min").item())
                if not finite:
                    last = latest_checkpoint(run_dir)
                    raise TrainingDiverged(
                        f"the loss became {loss.item()} at step {step}; the last good checkpoint "
                        "is "
                        f"{last or 'none (no checkpoint written yet)'}",
                        "training",
                        "lower training.lr, raise training.tau or training.alpha, or check the "
                        "lists for extreme BM25 scores; a rerun resumes from the last checkpoint",
                    )
                if accelerator is not None:
                    accelerator.backward(loss)
                else:
                    loss.backward()
                total += loss.item()
            opt.step()
            sched.step()
            lr = sched.get_last_lr()[0]
            losses.append({"step": step + 1, "loss": total, "lr": lr,
                           "seconds": time.perf_counter() - t0})
            bar.update(1)
            bar.set_postfix(loss=f"{total:.4f}")
            if on_step:
                on_step(step + 1, total, lr)
            stop = selector is not None and selector.due(step + 1, tcfg.steps) and \
                selector.evaluate_apart(bar, enc, model, step + 1, tcfg.steps)
            every = tcfg.checkpoint_every
            if (
                rank == 0
                and every
                and (step + 1) % every == 0
                and step + 1 < tcfg.steps
                and not stop
            ):
                save_checkpoint(run_dir, step + 1, _unwrap(enc.model, accelerator), opt, losses,
                                tcfg.keep_checkpoints,
                                {"selection": selector.state()} if selector is not None else None)
            if stop:
                log.info(
                    "no dev gain in %d evaluations: stopped at step %d", selector.patience, step + 1
                )
                break
    finally:
        bar.close()
    if accelerator is not None:
        enc.model = accelerator.unwrap_model(enc.model)
    last = losses[-1]["step"] if losses else 0
    if selector is not None and selector.best_step is not None and selector.best_step != last:
        load_best(run_dir, enc.model)
    enc.model.eval()
    n_train = sum(p.numel() for p in enc.model.parameters() if p.requires_grad)
    n_all = sum(p.numel() for p in enc.model.parameters())
    return TrainResult(last, losses, time.perf_counter() - t0, start, n_train, n_all,
                       selector.summary() if selector is not None else None)


def weights_digest(model) -> str:
    """sha256 over every parameter's name and bytes (fp32), in name order."""
    import hashlib

    h = hashlib.sha256()
    for n, p in sorted(model.state_dict().items()):
        h.update(n.encode())
        h.update(p.detach().float().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def rank_digests(model, accelerator=None) -> list[str]:
    """Every rank's :func:`weights_digest`, in rank order (one entry without DDP). Ranks that
    disagree mean the replicas drifted apart: an error, since the export would be arbitrary."""
    digest = weights_digest(model)
    if accelerator is None or accelerator.num_processes == 1:
        return [digest]
    from accelerate.utils import gather_object

    out = gather_object([digest])
    if len(set(out)) != 1:
        raise InputError(
            f"the {len(out)} ranks hold different weights after training",
            "training",
            "check that every rank sees the same data and seed; train on one process meanwhile",
        )
    return out


def _adamw(params, tcfg: TrainingConfig):
    """AdamW, fused where PyTorch has a fused kernel for the device (about 7x faster steps of
    the optimizer on CPU), else the default implementation."""
    import torch

    try:
        return torch.optim.AdamW(params, lr=tcfg.lr, weight_decay=tcfg.weight_decay, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(params, lr=tcfg.lr, weight_decay=tcfg.weight_decay)


def _unwrap(model, accelerator):
    return accelerator.unwrap_model(model) if accelerator is not None else model
