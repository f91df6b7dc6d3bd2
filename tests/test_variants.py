"""The recipe variants the paper did not try (issue 33, line 3): the anchored student and
BMEmbed + MNRL."""

import numpy as np
import pytest
import torch

from bmembed_lab.config import EncoderConfig, TrainingConfig
from bmembed_lab.encoder import Encoder
from bmembed_lab.errors import InputError
from bmembed_lab.losses import anchor_kl
from bmembed_lab.pipeline import Pipeline
from bmembed_lab.training import ListData, PairData, prepare_model, train

from .conftest import tiny_config
from .test_training import tiny_lists


def base_cosines(model_dir, data: ListData) -> np.ndarray:
    return cosines(Encoder.load(EncoderConfig(model=str(model_dir), precision="fp32")), data)


def cosines(enc, data: ListData) -> np.ndarray:
    """Each list's query against its passages, encoded as training encodes them."""
    enc.model.eval()
    q = enc.encode([enc.query_instruction + t for t in data.queries], progress=False)
    return np.array([enc.encode([enc.document_prefix + t for t in row], progress=False) @ q[i]
                     for i, row in enumerate(data.passages)], dtype=np.float32)


def train_lists(model_dir, run_dir, data, steps=8, **kw):
    tcfg = TrainingConfig(steps=steps, warmup_steps=1, lr=3e-3, checkpoint_every=0,
                          batch_size=2, **kw)
    enc = prepare_model(
        Encoder.load(EncoderConfig(model=str(model_dir), precision="fp32"), trainable=True), tcfg)
    train(enc, data, tcfg, run_dir, progress=False)
    return enc


def test_anchor_kl_is_zero_at_the_base_and_positive_elsewhere():
    base = torch.tensor([[0.9, 0.5, 0.1], [0.2, 0.3, 0.4]])
    assert float(anchor_kl(base, base)) == pytest.approx(0.0, abs=1e-7)
    moved = torch.tensor([[0.1, 0.5, 0.9], [0.4, 0.3, 0.2]])
    # by hand: KL(p || q) with p = softmax(base / 0.05), q = softmax(moved / 0.05)
    p, q = torch.softmax(base / 0.05, -1), torch.softmax(moved / 0.05, -1)
    assert float(anchor_kl(moved, base)) == pytest.approx(
        float((p * (p / q).log()).sum(-1).mean()), rel=1e-5)


def test_anchor_weight_zero_is_plain_bmembed_bit_for_bit(tmp_path, tiny_model_dir):
    plain = tiny_lists()
    sims = base_cosines(tiny_model_dir, plain)
    with_sims = ListData(plain.queries, plain.passages, plain.scores, sims)
    a = train_lists(tiny_model_dir, tmp_path / "a", plain)
    b = train_lists(tiny_model_dir, tmp_path / "b", with_sims, anchor=0.0)
    c = train_lists(tiny_model_dir, tmp_path / "c", with_sims, anchor=5.0)
    wa, wb, wc = (dict(e.model.named_parameters()) for e in (a, b, c))
    assert all(torch.equal(wa[n], wb[n]) for n in wa)
    assert any(not torch.equal(wa[n], wc[n]) for n in wa)
    # the anchored student ends nearer the base model's own distribution over the lists

    def kl_to_base(enc):
        return float(anchor_kl(torch.from_numpy(cosines(enc, plain)), torch.from_numpy(sims)))

    assert kl_to_base(c) < kl_to_base(a)


def test_anchor_needs_lists(tmp_path, tiny_model_dir):
    pairs = PairData(["a query"] * 4, ["a passage"] * 4)
    with pytest.raises(InputError, match="training.anchor"):
        train_lists(tiny_model_dir, tmp_path, pairs, anchor=0.5)


def test_the_pipeline_anchors_to_the_base_encoders_own_cosines(tmp_path, beir_dir,
                                                                tiny_model_dir):
    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, sampling__m=3, training__steps=2,
                      training__warmup_steps=1, training__anchor=0.5, encoder__precision="fp32")
    data, _ = Pipeline(cfg).training_inputs("bmembed")
    assert data.base_sims.shape == data.scores.shape
    assert np.allclose(data.base_sims, base_cosines(tiny_model_dir, data), atol=1e-5)
    # a changed weight is another model: its key differs, the lists' key does not
    pipe0 = Pipeline(tiny_config(tmp_path, beir_dir, tiny_model_dir, sampling__m=3,
                                 training__steps=2, training__warmup_steps=1,
                                 encoder__precision="fp32"))
    d0, k0 = pipe0.training_inputs("bmembed")
    assert d0.base_sims is None and k0 == Pipeline(cfg).training_inputs("bmembed")[1]


def test_contrastive_term_is_mnrl_on_the_lists_and_weight_zero_is_plain(tmp_path,
                                                                        tiny_model_dir):
    from bmembed_lab.batches import _micro_loss
    from bmembed_lab.losses import infonce_loss, listnet_loss

    data = tiny_lists(n=3, m=4)
    g = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(3, 8, generator=g), dim=-1)
    p = torch.nn.functional.normalize(torch.randn(12, 8, generator=g), dim=-1)
    idx = [0, 1, 2]
    plain = _micro_loss(data, idx, [q, p], TrainingConfig())
    mixed = _micro_loss(data, idx, [q, p], TrainingConfig(contrastive=0.5))
    items = p.view(3, 4, 8)
    # by hand: each query against every item of the batch, its own list's top item the label
    order = torch.cat([items[:, 0], items[:, 1:].reshape(-1, 8)])
    hand = torch.nn.functional.cross_entropy(20.0 * q @ order.T, torch.arange(3))
    sim = torch.einsum("bd,bmd->bm", q, items)
    scores = torch.as_tensor(data.scores, dtype=torch.float32)
    assert torch.allclose(plain, listnet_loss(sim, scores))
    assert torch.allclose(mixed, plain + 0.5 * hand)
    assert torch.allclose(hand, infonce_loss(q, items[:, 0], items[:, 1:]))
    a = train_lists(tiny_model_dir, tmp_path / "a", data, steps=3)
    b = train_lists(tiny_model_dir, tmp_path / "b", data, steps=3, contrastive=0.0)
    wa, wb = dict(a.model.named_parameters()), dict(b.model.named_parameters())
    assert all(torch.equal(wa[n], wb[n]) for n in wa)


def test_the_query_side_student_never_reencodes_the_corpus(tmp_path, beir_dir, tiny_model_dir,
                                                           monkeypatch):
    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, sampling__m=3, training__steps=3,
                      training__warmup_steps=1, training__lr=1e-3, training__query_side=True,
                      eval__dev_fraction=0.5, eval__seed=3, training__eval_every=2,
                      training__patience=0, encoder__precision="fp32")
    pipe = Pipeline(cfg)
    base_chunks = pipe.chunk_embeddings("base")[0].copy()
    pipe.dev_pool()
    texts = {c.text for c in pipe.chunks()[0]}
    encoded = []
    real = Encoder.encode

    def spy(self, batch, *a, **k):
        encoded.extend(batch)
        return real(self, batch, *a, **k)

    monkeypatch.setattr(Encoder, "encode", spy)
    tm, _ = pipe.trained("bmembed")
    assert tm.info["selection"]["curve"][-1]["step"] == 3  # dev-selected as the others
    res = pipe.evaluate(["base", "bmembed"])
    assert not any(t in texts or t.removeprefix(pipe.encoder().document_prefix) in texts
                   for t in encoded)  # no chunk encoded, in training, selection or evaluation
    assert pipe.chunk_embeddings("bmembed")[0].tobytes() == base_chunks.tobytes()
    q = pipe.questions().texts
    assert any(t.endswith(x) for t in encoded for x in q)  # the spy sees what is encoded
    assert not np.allclose(pipe.query_embeddings("bmembed", q)[0],
                           pipe.query_embeddings("base", q)[0], atol=1e-4)  # queries moved
    assert set(res["summary"].index) == {"base", "bmembed"}
    assert "query side only" in (tm.merged / "README.md").read_text()


def test_the_hybrid_teachers_targets_are_bm25s_where_the_rankers_agree():
    from bmembed_lab import teacher

    scores = np.array([[20.0, 15.0, 9.0, 4.0], [30.0, 10.0, 8.0, 1.0]])
    bm25_ranks = np.array([[0, 3, 40, 400], [0, 5, 50, 500]])
    agree = np.array([[1, 9, 90, 700], [2, 3, 60, 900]])  # the same order, other ranks
    assert np.array_equal(teacher.hybrid_scores(bm25_ranks, scores, agree), scores)
    # the base encoder puts list 0's third item first: both like it, so it now outranks the
    # second item (which only BM25 likes), and takes the second-highest score
    disagree = np.array([[2, 800, 1, 700], [2, 3, 60, 900]])
    out = teacher.hybrid_scores(bm25_ranks, scores, disagree)
    assert list(out[0]) == [20.0, 9.0, 15.0, 4.0] and np.array_equal(out[1], scores[1])
    assert sorted(out[0]) == sorted(scores[0])  # BM25's scale: the same values, reordered


def test_dense_ranks_count_the_chunks_scored_above():
    from bmembed_lab import teacher

    rng = np.random.default_rng(0)
    q, c = rng.normal(size=(5, 8)), rng.normal(size=(40, 8))
    items = rng.integers(0, 40, size=(5, 3))
    ranks = teacher.dense_ranks(q, c, items, block=2)
    for i in range(5):
        order = list(np.argsort(-(c @ q[i]), kind="stable"))
        assert [order.index(j) + 1 for j in items[i]] == list(ranks[i])


def test_the_pipeline_trains_on_the_hybrid_teachers_lists(tmp_path, beir_dir, tiny_model_dir):
    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, sampling__m=3, training__steps=2,
                      training__warmup_steps=1, training__teacher="hybrid")
    pipe = Pipeline(cfg)
    data, _ = pipe.training_inputs("bmembed")
    bm25 = pipe.training_lists()[0].scores
    assert data.scores.shape == bm25.shape
    assert np.allclose(np.sort(data.scores, 1), np.sort(bm25, 1))  # reordered, same values
    assert pipe.trained("bmembed")[0].info["hyperparameters"]["teacher"] == "hybrid"
