"""Forward passes over token ids: unpadded (CPU, BERT family) or padded, in token budgets.

A padded batch computes every layer over ``batch x longest`` tokens and masks the padding in
attention. An unpadded pass concatenates the texts' tokens into one sequence, restarts the
position ids at each text, and runs attention text by text (no mask), so every linear layer
sees only real tokens and attention never touches padding. The embeddings equal the padded
ones (fp32: to float rounding; tests/test_passes.py). Used where it is faster: the CPU,
in training and encoding alike (bench/README.md, "Training throughput"). A GPU keeps padded
batches and one batched attention kernel: a loop over texts there is unmeasured (no GPU yet).

In: token-id arrays (special tokens included, unpadded); out: their embeddings through the
model's head (pooling, Dense, normalisation: :mod:`bmembed_lab.modelstack`), in order
(section 3.3 of the paper trains on cosine similarities of these).
Training cuts a step's texts into passes of a token budget (:func:`embed_bucketed`).
"""
from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .config import TrainingConfig

ATTENTION = "bmembed_unpadded"
UNPADDABLE = {
    "bert"
}  # absolute positions from 0, one token type, attention via transformers' interface


def unpaddable(model, device: str) -> bool:
    """Whether ``model`` (a transformers model, possibly LoRA-wrapped) runs unpadded on
    ``device``."""
    config = getattr(model, "config", None)
    return device == "cpu" and getattr(config, "model_type", None) in UNPADDABLE \
        and getattr(config, "_attn_implementation", None) in ("sdpa", "eager", ATTENTION)


def unpadded_attention(
    module,
    query,
    key,
    value,
    attention_mask,
    dropout: float = 0.0,
    scaling: float | None = None,
    text_lengths: list[int] | None = None,
    **kwargs,
):
    """Attention of each text with itself: ``query``/``key``/``value`` are (1, heads, tokens,
    head dim) over the concatenated texts, cut by ``text_lengths``. Under gradients, bf16
    inputs are computed in fp32: PyTorch's bf16 attention backward on the CPU is about 2x
    slower than fp32's (measured here on an AMX CPU); without gradients bf16 is the faster."""
    import torch
    import torch.nn.functional as F

    if text_lengths is None:
        raise ValueError(
            "an unpadded forward needs text_lengths (bmembed_lab.passes.forward_unpadded)"
        )
    dtype = query.dtype
    if dtype == torch.bfloat16 and torch.is_grad_enabled():
        query, key, value = query.float(), key.float(), value.float()
    with torch.autocast("cpu", enabled=False):
        outs = [F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, scale=scaling)
                for q, k, v in zip(query.split(text_lengths, 2), key.split(text_lengths, 2),
                                   value.split(text_lengths, 2))]
    out = torch.cat(outs, 2).to(dtype)
    return out.transpose(1, 2).contiguous(), None


@functools.cache
def _register() -> None:
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION, unpadded_attention)


@contextlib.contextmanager
def _unpadded_attention(model):
    config = model.config
    before = config._attn_implementation
    config._attn_implementation = ATTENTION
    try:
        yield
    finally:
        config._attn_implementation = before


def forward_unpadded(model, ids: list[np.ndarray], head, autocast):
    """Embeddings of token-id sequences ``ids`` through ``model`` in one unpadded pass, pooled
    by ``head`` (a :class:`~bmembed_lab.modelstack.Head`: sentence-transformers' Pooling over
    the concatenated tokens, then Dense and normalisation where the stack has them;
    ``autocast``: a context manager, the encoder's). Gradients flow if enabled by the caller.
    The same embeddings as the padded pass to float rounding; for mean, CLS and last-token
    pooling the arithmetic every published demo run used (a segment sum for the mean)."""
    import torch

    _register()
    lengths = [len(x) for x in ids]
    device = next(model.parameters()).device
    input_ids = torch.from_numpy(np.concatenate(ids).astype(np.int64))[None].to(device)
    positions = torch.from_numpy(np.concatenate([np.arange(n) for n in lengths]))[None].to(device)
    with _unpadded_attention(model), autocast:
        out = model(input_ids=input_ids, position_ids=positions, text_lengths=lengths)
    hidden = (out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0])[0].float()
    return head.flat(hidden, lengths)


def bucket_budget(tcfg: TrainingConfig, enc) -> int:
    """Tokens per forward pass: ``training.bucket_tokens``, or by how ``enc`` runs (0): 8,192
    real tokens where passes are unpadded (CPU, BERT family), else 2,048 padded tokens on CPU
    and 65,536 on CUDA (fastest measured, bench/README.md)."""
    if tcfg.bucket_tokens:
        return tcfg.bucket_tokens
    return 65536 if enc.device.startswith("cuda") else 8192 if enc.unpads else 2048


def embed_bucketed(enc, ids: list[np.ndarray], budget: int):
    """Embeddings of token-id sequences, in input order, in forward passes of at most
    ``budget`` tokens. Unpadded passes (:attr:`Encoder.unpads`) take the texts as they come, up
    to ``budget`` real tokens each. Padded passes sort the texts by length and count padding:
    a text shorter than half of its pass's longest starts a new pass, so short texts
    (queries) are not padded to long ones (passages)."""
    import torch

    if enc.unpads:
        passes, cur, size = [], [], 0
        for i, x in enumerate(ids):
            if cur and size + len(x) > budget:
                passes.append(cur)
                cur, size = [], 0
            cur.append(i)
            size += len(x)
        passes.append(cur)
        return torch.cat([enc.forward_ids([ids[i] for i in p]) for p in passes])
    order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
    passes, cur = [], []
    for i in order:
        longest = len(ids[cur[0]]) if cur else 0
        if cur and ((len(cur) + 1) * longest > budget or 2 * len(ids[i]) < longest):
            passes.append(cur)
            cur = []
        cur.append(i)
    passes.append(cur)
    out = torch.cat([enc.forward_ids([ids[i] for i in p]) for p in passes])
    where = torch.empty(len(ids), dtype=torch.long, device=out.device)
    where[torch.as_tensor(order, device=out.device)] = torch.arange(len(ids), device=out.device)
    return out[where]
