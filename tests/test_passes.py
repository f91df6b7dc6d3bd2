"""Unpadded forward passes (bmembed_lab/passes.py) compute what padded batches compute."""
import numpy as np
import pytest
import torch

from bmembed_lab import passes
from bmembed_lab.config import EncoderConfig, TrainingConfig
from bmembed_lab.encoder import Encoder
from bmembed_lab.training import prepare_model

TEXTS = [
    "a short one",
    "kidney stones form when urine holds more minerals than it can dissolve " * 3,
    "what causes gallstones ?",
    "x",
    "the liver makes bile and the gallbladder stores it " * 5,
]


def padded(enc, monkeypatch):
    """``enc``'s embedding function with unpadded passes switched off."""
    def run(ids):
        with monkeypatch.context() as m:
            m.setattr(passes, "UNPADDABLE", set())
            assert not enc.unpads
            return enc.forward_ids(ids)
    return run


@pytest.mark.parametrize("pooling", ["mean", "cls", "last", "max", "weightedmean",
                                     "mean_sqrt_len_tokens"])
def test_unpadded_embeddings_equal_padded_ones(tiny_model_dir, monkeypatch, pooling):
    enc = Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32", pooling=pooling))
    assert enc.unpads  # a BERT on the CPU
    ids = enc.token_ids(TEXTS)
    with torch.no_grad():
        got, want = enc.forward_ids(ids), padded(enc, monkeypatch)(ids)
    assert got.shape == (len(TEXTS), 32)
    torch.testing.assert_close(got, want, atol=2e-6, rtol=0)
    with torch.no_grad():  # a text's embedding does not depend on the texts beside it
        alone = torch.cat([enc.forward_ids([x]) for x in ids])
    torch.testing.assert_close(got, alone, atol=2e-6, rtol=0)


@pytest.mark.parametrize("lora", [False, True])
def test_unpadded_gradients_equal_padded_ones(tiny_model_dir, monkeypatch, lora):
    """The same loss and the same gradient for every trained weight, full or LoRA."""
    tcfg = TrainingConfig(lora=lora, lora_r=4)
    enc = prepare_model(Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32"),
                                     trainable=True), tcfg)
    enc.model.eval()  # dropout off: the two runs would draw different masks
    assert enc.unpads
    ids = enc.token_ids(TEXTS)
    weights = torch.linspace(-1, 1, 32)

    def grads(fn):
        loss = (fn(ids) @ weights).square().sum()
        loss.backward()
        out = {n: p.grad.clone() for n, p in enc.model.named_parameters() if p.grad is not None}
        enc.model.zero_grad(set_to_none=True)
        return float(loss.detach()), out

    loss_u, g_u = grads(enc.forward_ids)
    loss_p, g_p = grads(padded(enc, monkeypatch))
    assert loss_u == pytest.approx(loss_p, rel=1e-5)
    assert g_u.keys() == g_p.keys() and len(g_u) > 0
    for name in g_u:
        torch.testing.assert_close(g_u[name], g_p[name], atol=1e-5, rtol=1e-4, msg=name)


def test_bf16_training_pass_runs_unpadded_close_to_fp32(tiny_model_dir, monkeypatch):
    """Under bf16 autocast (attention computed in fp32 while gradients flow) the embeddings
    stay close to fp32's and gradients reach every weight."""
    tcfg = TrainingConfig()
    enc = prepare_model(Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="bf16"),
                                     trainable=True), tcfg)
    enc.model.eval()
    ids = enc.token_ids(TEXTS)
    emb = enc.forward_ids(ids)
    emb.sum().backward()
    assert all(p.grad is not None for n, p in enc.model.named_parameters()
               if p.requires_grad and "pooler" not in n)
    with torch.no_grad():
        ref = padded(enc, monkeypatch)(ids)
    assert float((emb.detach() * ref).sum(1).min()) > 0.99


def test_padded_where_unpadding_does_not_apply(tiny_model_dir):
    enc = Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32"))
    assert passes.unpaddable(enc.model, "cpu")
    assert not passes.unpaddable(enc.model, "cuda")  # one batched attention kernel is faster there
    assert not passes.unpaddable(torch.nn.Linear(2, 2), "cpu")  # not a transformers model
    config = enc.model.config
    config.model_type, before = "roberta", config.model_type  # positions offset by the padding id
    try:
        assert not passes.unpaddable(enc.model, "cpu")
    finally:
        config.model_type = before


def test_training_passes_keep_to_the_token_budget(tiny_model_dir, monkeypatch):
    enc = Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32"))
    ids = enc.token_ids(TEXTS)
    calls = []
    forward = enc.forward_ids
    monkeypatch.setattr(
        enc, "forward_ids", lambda x: calls.append([len(t) for t in x]) or forward(x)
    )
    budget = 40
    with torch.no_grad():
        out = passes.embed_bucketed(enc, ids, budget)
    assert all(sum(c) <= budget or len(c) == 1 for c in calls) and len(calls) > 1
    assert [n for c in calls for n in c] == [len(x) for x in ids]  # in order, none left out
    with torch.no_grad():
        torch.testing.assert_close(out, forward(ids), atol=2e-6, rtol=0)
    assert passes.bucket_budget(TrainingConfig(), enc) == 8192
    assert passes.bucket_budget(TrainingConfig(bucket_tokens=99), enc) == 99


def test_attention_without_text_lengths_is_an_error():
    q = torch.zeros(1, 2, 3, 4)
    with pytest.raises(ValueError, match="text_lengths"):
        passes.unpadded_attention(None, q, q, q, None)


def test_encoding_unpadded_gives_the_encode_of_one_text_at_a_time(tiny_model_dir):
    enc = Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32", batch_size=2))
    batch = enc.encode(TEXTS, progress=False)
    single = np.stack([enc.encode([t], progress=False)[0] for t in TEXTS])
    np.testing.assert_allclose(batch, single, atol=2e-6)


def test_inference_passes_hold_a_token_budget_unpadded_and_texts_padded(tiny_model_dir,
                                                                        monkeypatch):
    """Unpadded encoding cuts the length-sorted texts into passes of at most ENCODE_TOKENS real
    tokens (a text longer than that alone), in order; padded encoding keeps batch_size texts;
    both give the embeddings of one text at a time."""
    from bmembed_lab import encoder as encoder_mod

    enc = Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32", batch_size=2))
    assert enc.unpads
    monkeypatch.setattr(encoder_mod, "ENCODE_TOKENS", 10)
    lengths, order = [12, 6, 5, 4, 4, 1], np.arange(6)
    assert [list(p) for p in enc.passes(lengths, order)] == [[0], [1], [2, 3], [4, 5]]
    single = np.stack([enc.encode([t], progress=False)[0] for t in TEXTS])
    np.testing.assert_allclose(enc.encode(TEXTS, progress=False), single, atol=2e-6)
    monkeypatch.setattr(Encoder, "unpads", property(lambda self: False))
    assert [list(p) for p in enc.passes(lengths, order)] == [[0, 1], [2, 3], [4, 5]]
    np.testing.assert_allclose(enc.encode(TEXTS, progress=False), single, atol=2e-6)
