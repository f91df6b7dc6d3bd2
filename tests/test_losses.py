"""Each loss against a case computed by hand (with math, not the code under test)."""

import math

import pytest
import torch

from bmembed_lab.losses import infonce_loss, listmle_loss, listnet_loss, matryoshka_loss


def softmax(xs):
    m = max(xs)
    e = [math.exp(x - m) for x in xs]
    return [v / sum(e) for v in e]


def test_listnet_hand_case():
    sim, bm25 = [0.9, 0.5, 0.1], [12.0, 8.0, 2.0]
    p_r = softmax([b / 2.0 for b in bm25])  # alpha = 2 (1/alpha = 0.5)
    p_s = softmax([s / 0.05 for s in sim])  # tau = 0.05
    want = -sum(r * math.log(s) for r, s in zip(p_r, p_s))
    got = listnet_loss(torch.tensor([sim]), torch.tensor([bm25]), alpha=2.0, tau=0.05)
    assert got.item() == pytest.approx(want, rel=1e-5)
    # mean over lists; minimum (the target's entropy) when p_s equals p_r
    two = listnet_loss(torch.tensor([sim, sim]), torch.tensor([bm25, bm25]))
    assert two.item() == pytest.approx(want, rel=1e-5)
    sim_match = torch.tensor([[b / 2.0 * 0.05 for b in bm25]])
    ent = -sum(r * math.log(r) for r in p_r)
    assert listnet_loss(sim_match, torch.tensor([bm25])).item() == pytest.approx(ent, rel=1e-5)


def test_listnet_target_is_float32_even_under_bf16():
    bm25 = torch.tensor([[30.0, 29.9, 5.0]], dtype=torch.bfloat16)
    sim = torch.zeros(1, 3, dtype=torch.bfloat16, requires_grad=True)
    loss = listnet_loss(sim, bm25)
    assert loss.dtype == torch.float32
    loss.backward()
    assert sim.grad is not None


def test_listmle_hand_case():
    sim, bm25 = [0.2, 0.6, 0.4], [5.0, 9.0, 1.0]  # BM25 order: item 1, item 0, item 2
    s = [x / 0.05 for x in (0.6, 0.2, 0.4)]
    want = sum(math.log(sum(math.exp(v) for v in s[i:])) - s[i] for i in range(3))
    got = listmle_loss(torch.tensor([sim]), torch.tensor([bm25]), tau=0.05)
    assert got.item() == pytest.approx(want, rel=1e-5)
    # the perfect order costs less than the reversed one
    good = listmle_loss(torch.tensor([[0.9, 0.5, 0.1]]), torch.tensor([[3.0, 2.0, 1.0]]))
    bad = listmle_loss(torch.tensor([[0.1, 0.5, 0.9]]), torch.tensor([[3.0, 2.0, 1.0]]))
    assert good < bad


def test_infonce_hand_case_and_hard_negatives():
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    p = torch.tensor([[0.6, 0.8], [0.8, 0.6]])
    # query 0: logits 20*[0.6, 0.8] label 0; query 1: 20*[0.8, 0.6] label 1
    l0 = -math.log(math.exp(12) / (math.exp(12) + math.exp(16)))
    l1 = -math.log(math.exp(12) / (math.exp(16) + math.exp(12)))
    assert infonce_loss(q, p).item() == pytest.approx((l0 + l1) / 2, rel=1e-5)
    neg = torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]]])  # each query's hard negative = itself
    # every query now also sees both negatives: logits 20*[p0, p1, n0, n1]
    l0 = -math.log(math.exp(12) / (math.exp(12) + math.exp(16) + math.exp(20) + math.exp(0)))
    l1 = -math.log(math.exp(12) / (math.exp(16) + math.exp(12) + math.exp(0) + math.exp(20)))
    assert infonce_loss(q, p, neg).item() == pytest.approx((l0 + l1) / 2, rel=1e-5)


def test_matryoshka_truncates_and_renormalises():
    q = torch.tensor([[3.0, 4.0, 0.0, 0.0]]) / 5
    p = torch.tensor([[3.0, -4.0, 0.0, 0.0]]) / 5
    seen = []

    def fn(a, b):
        seen.append((a.shape[-1], round(float(a.norm()), 6)))
        return (a * b).sum()

    out = matryoshka_loss(fn, [q, p], dims=[4, 1], weights=[1.0, 0.5])
    assert seen == [(4, 1.0), (1, 1.0)]
    assert out.item() == pytest.approx(1.0 * (-7 / 25) + 0.5 * 1.0, rel=1e-6)


def test_one_listnet_step_matches_a_hand_computation(tiny_model_dir):
    """One BMEmbed step on a tiny model and one list, computed independently: mean pooling
    over the attention mask, L2 normalisation, cosine / tau against softmax(BM25 / alpha) in
    float64, cross-entropy; the loss and every gradient match the trainer's."""
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    from bmembed_lab.config import EncoderConfig, TrainingConfig
    from bmembed_lab.encoder import Encoder
    from bmembed_lab.training import ListData, batch_loss, prepare_model

    tcfg = TrainingConfig(alpha=2.0, tau=0.05, attention_dropout=0.0)
    query, passages = (
        "kidney stones pain",
        ["stones form in the kidney", "bile and the liver", "pain relief"],
    )
    bm25 = np.array([[7.5, 1.25, 3.0]])
    enc = prepare_model(
        Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32"), trainable=True),
        tcfg,
    )
    enc.model.eval()  # no dropout, so the two computations see the same network
    ours = batch_loss(enc, ListData([query], [passages], bm25), [0], tcfg)
    ours.backward()
    ours_grads = {n: p.grad.clone() for n, p in enc.model.named_parameters() if p.grad is not None}

    model = AutoModel.from_pretrained(str(tiny_model_dir)).double().eval()
    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))

    def embed(texts):
        b = tok(texts, padding=True, return_tensors="pt")
        h = model(**b).last_hidden_state
        m = b["attention_mask"].unsqueeze(-1).double()
        v = (h * m).sum(1) / m.sum(1)
        return v / v.norm(dim=-1, keepdim=True)

    q, p = embed([query]), embed(passages)
    log_pred = torch.log_softmax((p @ q[0]) / 0.05, 0)
    target = np.exp(bm25[0] / 2.0) / np.exp(bm25[0] / 2.0).sum()
    loss = -(torch.from_numpy(target) * log_pred).sum()
    loss.backward()
    assert abs(loss.item() - ours.item()) < 1e-4
    for n, p in model.named_parameters():
        if n.startswith("pooler."):
            continue  # unused by mean pooling: frozen in ours, no gradient in either
        np.testing.assert_allclose(ours_grads[n].numpy(), p.grad.numpy(), rtol=1e-3, atol=1e-6)
