"""What one optimizer step computes (paper Section 3.3): the training data's two shapes, the
rows of each micro-batch and the loss over them.

In: :class:`ListData` (BMEmbed: a query and m passages with their BM25 scores) or
:class:`PairData` (CL / MNRL: a query, its positive, optional hard negatives), an encoder and a
:class:`~.config.TrainingConfig`. Out: sample indices (:func:`batch_indices`, a pure function of
seed and step, so a resumed run sees the same batches) and a differentiable loss
(:func:`step_loss`). The loop around it (optimizer, checkpoints, dev selection) is
:mod:`bmembed_lab.training`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from .config import TrainingConfig
from .passes import bucket_budget, embed_bucketed

@dataclass
class ListData:
    """BMEmbed's input: per list a query and m passages with their raw BM25 scores."""

    queries: list[str]
    passages: list[list[str]]
    scores: np.ndarray  # (n_lists, m) float
    base_sims: np.ndarray | None = None  # (n_lists, m) base model cosines: the anchored student
    item_emb: np.ndarray | None = None  # (n_lists, m, d) fixed passages: the query-side student

    def __len__(self) -> int:
        return len(self.queries)


@dataclass
class PairData:
    """CL / MNRL input: per query a positive passage and optional hard negatives."""

    queries: list[str]
    positives: list[str]
    negatives: list[list[str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.queries)


# -- data order --------------------------------------------------------------------------------
def batch_indices(n: int, step: int, micro: int, tcfg: TrainingConfig, rank: int = 0,
                  world: int = 1) -> list[int]:
    """Sample indices of one micro-batch: position t of an endless stream of seeded
    permutations, one per epoch; ranks take disjoint consecutive slices."""
    b = tcfg.batch_size
    first = ((step * tcfg.grad_accum + micro) * world + rank) * b
    out = []
    for t in range(first, first + b):
        epoch, pos = divmod(t, n)
        out.append(int(_epoch_order(tcfg.seed, epoch, n)[pos]))
    return out


@functools.lru_cache(maxsize=4)
def _epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


# -- losses on a batch ---------------------------------------------------------------------------
class TokenTable:
    """Token ids of the training texts, computed once per run and looked up by every step, so
    tokenisation stays out of the training step (texts not seen before are added on demand)."""

    def __init__(self, enc):
        self.enc, self.ids = enc, {}

    def add(self, texts) -> None:
        new = [t for t in dict.fromkeys(texts) if t not in self.ids]
        for s in range(0, len(new), 4096):
            self.ids.update(zip(new[s:s + 4096], self.enc.token_ids(new[s:s + 4096])))

    def __call__(self, texts: list[str]) -> list[np.ndarray]:
        self.add(texts)
        return [self.ids[t] for t in texts]

    @classmethod
    def of(cls, enc, data, tcfg: TrainingConfig) -> "TokenTable":
        table = cls(enc)
        everything = [_micro_texts(enc, data, [i], tcfg) for i in range(len(data))]
        table.add(t for parts in everything for part in parts for t in part)
        return table


def _micro_texts(enc, data, idx: list[int], tcfg: TrainingConfig) -> list[list[str]]:
    """The texts of one micro-batch by role: queries (with the protocol's prefix), then the
    lists' passages (bmembed) or the positives and hard negatives (cl, mnrl), each with the
    document prefix (the model's document prompt, as evaluation encodes them)."""
    queries = [enc.query_instruction + data.queries[i] for i in idx]
    doc = enc.document_prefix
    if isinstance(data, ListData):
        if data.item_emb is not None:  # the query-side student: its passages are not encoded
            return [queries]
        return [queries, [doc + t for i in idx for t in data.passages[i]]]
    parts = [queries, [doc + data.positives[i] for i in idx]]
    if data.negatives and tcfg.hard_negatives:
        parts.append([doc + t for i in idx for t in data.negatives[i][:tcfg.hard_negatives]])
    return parts


def _micro_loss(data, idx: list[int], emb: list, tcfg: TrainingConfig):
    import torch

    from .losses import anchor_kl, infonce_loss, listmle_loss, listnet_loss, matryoshka_loss

    if isinstance(data, ListData):
        q = emb[0]
        p = emb[1] if data.item_emb is None else torch.as_tensor(
            data.item_emb[idx], device=q.device).to(q.dtype)
        p = p.reshape(len(idx), len(data.passages[idx[0]]), -1)
        sim = torch.einsum("bd,bmd->bm", q, p)
        scores = torch.as_tensor(data.scores[idx], dtype=torch.float32, device=sim.device)
        if tcfg.loss == "listmle":
            loss = listmle_loss(sim, scores, tcfg.tau)
        else:
            loss = listnet_loss(sim, scores, tcfg.alpha, tcfg.tau)
        if tcfg.anchor:  # the anchored student (0: this line never runs, plain BMEmbed)
            base = torch.as_tensor(data.base_sims[idx], dtype=torch.float32, device=sim.device)
            loss = loss + tcfg.anchor * anchor_kl(sim, base, tcfg.tau)
        if tcfg.contrastive:  # BMEmbed + MNRL: the top item positive, the rest negatives
            loss = loss + tcfg.contrastive * infonce_loss(q, p[:, 0], p[:, 1:], 1.0 / tcfg.tau)
        return loss
    q, p = emb[0], emb[1]
    neg = emb[2].view(len(idx), tcfg.hard_negatives, -1) if len(emb) > 2 else None

    def fn(a, b, c=None):
        return infonce_loss(a, b, c, 1.0 / tcfg.tau)

    if tcfg.matryoshka_dims:
        return matryoshka_loss(
            fn, [q, p] + ([neg] if neg is not None else []), list(tcfg.matryoshka_dims)
        )
    return fn(q, p, neg)


def step_loss(enc, data, micro_batches: list[list[int]], tcfg: TrainingConfig, tokens=None):
    """Mean loss over ``micro_batches`` (each a list of sample indices, its loss computed on its
    own, so in-batch negatives stay within their micro-batch), with every text of all of them
    embedded together by :func:`embed_bucketed`. ``tokens``: a :class:`TokenTable`."""
    tokens = tokens or TokenTable(enc)
    parts = [_micro_texts(enc, data, idx, tcfg) for idx in micro_batches]
    flat = [t for mp in parts for part in mp for t in part]
    emb = embed_bucketed(enc, tokens(flat), bucket_budget(tcfg, enc))
    if not enc.stack.normalize:  # a dot model: the losses still score cosine (paper 3.3)
        import torch.nn.functional as F

        emb = F.normalize(emb, dim=-1)
    total, at = 0.0, 0
    for idx, mp in zip(micro_batches, parts):
        pieces = []
        for part in mp:
            pieces.append(emb[at:at + len(part)])
            at += len(part)
        total = total + _micro_loss(data, idx, pieces, tcfg)
    return total / len(micro_batches)


def batch_loss(enc, data, idx: list[int], tcfg: TrainingConfig, tokens=None):
    """The loss of one micro-batch of sample indices ``idx``."""
    return step_loss(enc, data, [idx], tcfg, tokens)
