"""Dev split and model selection: disjoint and stable split, the best dev checkpoint is the one
exported, early stopping stops, a run that never beats the base model says so."""

from dataclasses import replace

import numpy as np
import pytest

from bmembed_lab import selection
from bmembed_lab.config import EncoderConfig, TrainingConfig
from bmembed_lab.encoder import Encoder
from bmembed_lab.evaluation import in_dev_split
from bmembed_lab.pipeline import Pipeline
from bmembed_lab.stages import train as train_stage
from bmembed_lab.training import prepare_model, train

from .conftest import tiny_config, tiny_config_file
from .test_training import tiny_lists


def test_dev_split_is_disjoint_stable_and_near_its_fraction():
    ids = [f"q{i}" for i in range(2000)]
    dev = {q for q in ids if in_dev_split(q, 0.2, 0)}
    assert 0.17 < len(dev) / len(ids) < 0.23
    more = ids + [f"new{i}" for i in range(500)]  # adding queries moves no old one
    assert {q for q in more if in_dev_split(q, 0.2, 0)} & set(ids) == dev
    assert {q for q in ids if in_dev_split(q, 0.2, 1)} != dev  # the seed matters
    assert not any(in_dev_split(q, 0.0, 0) for q in ids)


def test_pipeline_reports_on_test_only(tmp_path, beir_dir, tiny_model_dir):
    from bmembed_lab.pipeline import Pipeline

    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, eval__dev_fraction=0.5, eval__seed=3)
    pipe = Pipeline(cfg)
    test, dev = pipe.questions().ids, pipe.questions("dev").ids
    assert test and dev and not set(test) & set(dev)
    assert sorted(test + dev) == sorted(pipe.relevance()[0].grades)
    res = pipe.evaluate(["bm25", "base"])
    assert set(res["per_query"].query_id) == set(test)
    assert pipe.report()["dev queries (held out of the tables)"] == len(dev)


def _run(tiny_model_dir, run_dir, scores, patience=0, steps=8, every=2, snapshot=None):
    tcfg = TrainingConfig(steps=steps, warmup_steps=1, lr=1e-3, batch_size=2, checkpoint_every=0,
                          eval_every=every, patience=patience)
    enc = prepare_model(
        Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32"), trainable=True),
        tcfg,
    )
    calls = iter(scores)
    sel = selection.Selector(lambda e: next(calls), run_dir, every, patience, "MAP@10")
    snaps = {}

    def on_step(step, loss, lr):
        snaps[step] = {n: p.detach().clone() for n, p in enc.model.named_parameters()}
    res = train(enc, tiny_lists(), tcfg, run_dir, on_step=on_step, progress=False, selector=sel)
    final = {n: p.detach().clone() for n, p in enc.model.named_parameters()}
    return res, final, snaps


def test_the_best_dev_checkpoint_is_exported(tmp_path, tiny_model_dir):
    # dev score at steps 0, 2, 4, 6, 8: best at step 4, then it falls
    res, final, snaps = _run(tiny_model_dir, tmp_path / "run", [50.0, 60.0, 70.0, 65.0, 64.0])
    sel = res.selection
    assert sel["best_step"] == 4 and sel["best"] == 70.0 and sel["base"] == 50.0
    assert [c["step"] for c in sel["curve"]] == [0, 2, 4, 6, 8] and not sel["worse_than_base"]
    assert res.steps == 8  # trained to the end, exported step 4
    assert all(np.array_equal(final[n].numpy(), snaps[4][n].numpy()) for n in final)
    assert not all(np.array_equal(final[n].numpy(), snaps[8][n].numpy()) for n in final)


def test_early_stop_after_patience_evaluations_without_gain(tmp_path, tiny_model_dir):
    res, final, snaps = _run(tiny_model_dir, tmp_path / "run", [50.0, 60.0, 58.0, 59.0, 99.0],
                             patience=2)
    sel = res.selection
    assert sel["stopped_early_at"] == 6 and res.steps == 6 and len(res.losses) == 6
    assert sel["best_step"] == 2
    assert all(np.array_equal(final[n].numpy(), snaps[2][n].numpy()) for n in final)


def test_a_run_worse_than_base_is_marked_in_the_export_and_the_evaluation(
        tmp_path, beir_dir, tiny_model_dir, monkeypatch):
    from bmembed_lab.pipeline import Pipeline

    scores = iter([80.0, 40.0, 45.0])  # base, step 2, step 3
    monkeypatch.setattr(selection, "dev_score", lambda enc, pool, texts, **kw: next(scores))
    monkeypatch.setattr(train_stage, "starts_as_base", lambda cfg: False)  # step 0 mocked too
    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, eval__dev_fraction=0.5, eval__seed=3,
                      sampling__m=3, training__steps=3, training__warmup_steps=1,
                      training__eval_every=2, training__patience=0)
    pipe = Pipeline(cfg)
    tm, tm_key = pipe.trained("bmembed")
    sel = tm.info["selection"]
    assert sel["worse_than_base"] and sel["best_step"] == 3 and sel["base"] == 80.0
    assert "WORSE THAN BASE" in tm.info["name"]
    assert "WORSE THAN BASE" in (tm.path / "README.md").read_text()
    res = pipe.evaluate(["bm25", "base", "bmembed"])
    assert len(res["notes"]) == 1 and "below the base model's 80.00" in res["notes"][0]
    # the cached model is found again with the same dev pool, by its key alone: a notebook
    # that lists or loads cached models never builds BM25's index for the pool's scores
    again = Pipeline(cfg)
    again.bm25_index = lambda: pytest.fail("the BM25 index was built to find a cached model")
    assert again.cached_models() == ["bmembed"] and again.trained("bmembed")[1] == tm_key
    assert again.dev_key() == pipe.dev_pool()[1] != ""
    assert Pipeline(replace(cfg, training=replace(cfg.training, dev_queries=0))).dev_key() == ""


def test_dev_pool_bounds_the_encoding(tmp_path, beir_dir, tiny_model_dir):
    from bmembed_lab.pipeline import Pipeline

    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, eval__dev_fraction=0.5, eval__seed=3,
                      training__dev_pool=2)
    pipe = Pipeline(cfg)
    pool, key, texts = pipe.dev_pool()
    rel = pipe.relevance()[0]
    assert len(pool) >= 1
    for q, c in zip(pool.query_ids, pool.candidates):  # top 2 of two runs + its relevant chunks
        relevant = {x for x, g in rel.grades[q].items() if g > 0}
        assert relevant <= set(c) and 1 <= len(c) <= 4 + len(relevant)
    enc = Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32"))
    seen = []
    real = enc.encode
    enc.encode = lambda t, **k: seen.append(len(t)) or real(t, **k)
    values = selection.dev_score(enc, pool, texts)
    assert values.shape == (len(pool),) and ((0 <= values) & (values <= 100)).all()
    assert seen == [len(pool.chunk_indices), len(pool)]
    assert len(pool.chunk_indices) < len(texts) or len(texts) <= 4


def test_held_out_keyword_queries_are_never_training_queries(tmp_path, beir_dir, tiny_model_dir):
    from bmembed_lab.pipeline import Pipeline
    from bmembed_lab.text import words

    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, eval__heldout_queries=50)
    pipe = Pipeline(cfg)
    held, _ = pipe.held_out()
    train = {" ".join(words(q.text)) for q in pipe.synthetic_queries()[0].queries}
    assert held["ids"] and not {" ".join(words(t)) for t in held["texts"]} & train
    chunks, _ = pipe.chunks()
    assert all(0 <= s < len(chunks) for s in held["sources"])
    res = pipe.evaluate(["bm25", "base"], "heldout")
    assert set(res["per_query"].query_id) == set(held["ids"])
    assert ("base", "bm25") in {tuple(c.split(" - ")) for c in res["comparisons"].comparison}


def test_without_labels_held_out_synthetic_queries_select_and_say_what_they_measure(
        tmp_path, tiny_model_dir, capsys):
    """A corpus with no labelled questions still trains, selects its exported step on a dev
    part of the held-out synthetic queries (disjoint from the part reported), and every output
    says that this measures agreement with the teacher, not quality."""
    from bmembed_lab.check import format_report, run_check
    from bmembed_lab.cli import main

    from .conftest import DOCS, write_jsonl

    corpus = write_jsonl(tmp_path / "docs.jsonl", DOCS)
    opts = {"corpus__format": "jsonl", "eval__dev_fraction": 0.5, "sampling__m": 3,
            "training__steps": 4, "training__eval_every": 2, "training__warmup_steps": 1,
            "eval__systems": ["bm25", "base", "bmembed"]}
    pipe = Pipeline(tiny_config(tmp_path, corpus, tiny_model_dir, **opts))
    assert not pipe.labelled()
    dev, report = pipe.questions("heldout_dev"), pipe.questions("heldout")
    assert dev.ids and report.ids and not set(dev.ids) & set(report.ids)
    assert sorted(dev.ids + report.ids) == sorted(pipe.held_out()[0]["ids"])
    assert not dev.labelled and dev.label.startswith("held-out synthetic")
    pool, _, _ = pipe.dev_pool()
    assert not pool.labelled and pool.query_ids == dev.ids[:len(pool)]
    sel = pipe.trained("bmembed")[0].info["selection"]
    assert sel["on"].startswith(
        "held-out synthetic queries (agreement with the teacher, not quality), each ranking the "
        "same ")
    assert [p["step"] for p in sel["curve"]] == [0, 2, 4]
    r = run_check(pipe)
    assert r["verdict"] == "unclear" and r["questions"]["split"] == "held-out synthetic"
    assert "not whether real questions improve" in format_report(r)
    config = tiny_config_file(tmp_path, corpus, tiny_model_dir, corpus__format="jsonl",
                              eval__dev_fraction=0.5, eval__bootstrap=100, eval__depth=100,
                              eval__systems=["bm25", "base", "bmembed"], sampling__m=3,
                              training__steps=4, training__eval_every=2, training__warmup_steps=1)
    assert main(["run", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "No labelled questions" in out and "bmembed - base" in out
    assert "Held-out keyword-style queries" in out and "test questions" not in out


def test_a_gain_within_noise_is_called_not_clearly_better(tmp_path, beir_dir, tiny_model_dir,
                                                          monkeypatch):
    """Per-query dev scores give the best step's gain over the base model a paired interval:
    a higher mean that the interval cannot tell from zero is named in the run's notes and in
    the export's name; a gain on every query is not."""
    q = 40  # per-query scores of 40 dev queries at steps 0, 2, 3
    noisy = [np.r_[np.full(20, 100.0), np.zeros(20)],  # base: 50
             np.tile([100.0, 0.0], 20),  # 50
             np.r_[np.full(21, 100.0), np.zeros(19)]]  # 52.5: one query more found
    clear = [np.full(q, 20.0), np.full(q, 60.0), np.full(q, 70.0)]
    for name, scores, note in (("noisy", noisy, True), ("clear", clear, False)):
        it = iter(scores)
        monkeypatch.setattr(selection, "dev_score", lambda enc, pool, texts, it=it, **kw: next(it))
        monkeypatch.setattr(train_stage, "starts_as_base", lambda cfg: False)
        cfg = tiny_config(tmp_path / name, beir_dir, tiny_model_dir, eval__dev_fraction=0.5,
                          eval__seed=3, sampling__m=3, training__steps=3, training__warmup_steps=1,
                          training__eval_every=2, training__patience=0)
        pipe = Pipeline(cfg)
        tm, _ = pipe.trained("bmembed")
        sel = tm.info["selection"]
        g = sel["gain over base"]
        assert sel["best_step"] == 3 and g["queries"] == q
        assert np.isclose(g["diff"], scores[2].mean() - scores[0].mean())
        assert sel["clearly_better_than_base"] is (not note)
        notes = pipe.evaluate(["bm25", "base", "bmembed"])["notes"]
        assert ("NOT CLEARLY BETTER" in tm.info["name"]) is note
        assert bool(notes) is note
        if note:
            assert (
                "not clearly above the base model's 50.00" in notes[0]
                and "on 40 queries" in notes[0]
            )


def test_the_shared_pool_ranks_like_the_whole_corpus_when_it_covers_it():
    """Shared ranking: every query ranks the union of all candidates; when that union is the
    whole corpus, the dev score is the full-corpus score (own pools can only be kinder)."""
    from bmembed_lab.relevance import Relevance

    rng = np.random.default_rng(0)
    c = rng.normal(size=(12, 8))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    q = c[[0, 5]] + 0.3 * rng.normal(size=(2, 8))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    grades = {"a": {7: 1.0}, "b": {9: 1.0}}
    rel = Relevance(grades, {k: {c_: [0] for c_ in v} for k, v in grades.items()}, {"a": 1, "b": 1})

    class R:  # a run over both queries: a's candidates 0-5, b's 6-11 (together: the corpus)
        query_ids = ["a", "b"]

        @staticmethod
        def ranked(i):
            return list(range(6)) if i == 0 else list(range(6, 12))
    pool = selection.build_pool(["a", "b"], ["qa", "qb"], [R()], rel, 6, 10, 0, "MAP@10")
    assert pool.chunk_indices == list(range(12))
    from bmembed_lab.metrics import query_metrics

    full = [
        100
        * query_metrics(
            list(np.argsort(-(c @ q[i]), kind="stable")), grades[k], rel.facts[k], 1, (1, 4, 10)
        )["MAP@10"]
        for i, k in enumerate("ab")
    ]
    assert np.allclose(selection.pool_values(c, q, pool, shared=True), full)
    own = selection.pool_values(c, q, pool, shared=False)
    assert own[0] == 0.0  # a's gold chunk is not among its own candidates
    assert own[1] >= full[1]  # b's is, among fewer competitors


def test_a_dev_evaluation_is_shown_apart_and_not_counted_as_step_time(tmp_path, capsys):
    """The step-0 evaluation made the training bar read '165 s/it, ETA 9:07:20' and later ones
    froze it without a word: each evaluation now prints a line when it starts and ends, and
    its seconds are taken out of the bar's clock."""
    import time

    from tqdm import tqdm

    from bmembed_lab import selection

    def slow_score(enc):
        time.sleep(0.3)
        return 42.0

    sel = selection.Selector(slow_score, tmp_path, every=1, patience=0, metric="MAP@10")
    bar = tqdm(total=10, desc="training")
    start = bar.start_t
    assert sel.evaluate_apart(bar, None, None, 0) is False
    assert bar.start_t - start >= 0.3  # the evaluation's seconds are not the steps'
    bar.close()
    out = capsys.readouterr()
    text = out.out + out.err
    assert "dev evaluation at step 0: scoring the dev questions" in text
    assert "dev evaluation at step 0: MAP@10 42.00 (0 s)" in text
    quiet = tqdm(total=10, disable=True)
    assert sel.evaluate_apart(quiet, None, None, 0) is False  # a disabled bar: no clock to move


def test_the_dev_pool_holds_each_questions_relevant_chunks(tmp_path, beir_dir, tiny_model_dir):
    """training.dev_relevant: a question whose answer neither BM25 nor the base model ranks in
    its top dev_pool still has it to rank, so a step that lifts it is seen; dev_pool = 0 keeps
    the relevant chunks alone; with neither, the config is refused at load."""
    from bmembed_lab.config import load_config
    from bmembed_lab.errors import InputError

    pools = {}
    for depth, relevant in ((1, False), (1, True), (0, True)):
        cfg = tiny_config(tmp_path / f"{depth}{relevant}", beir_dir, tiny_model_dir,
                          eval__dev_fraction=0.5, eval__seed=3, training__dev_pool=depth,
                          training__dev_relevant=relevant)
        pipe = Pipeline(cfg)
        pools[depth, relevant] = pipe.dev_pool()[0]
    rel = pipe.relevance()[0]
    answers = [{c for c, g in rel.grades[q].items() if g > 0} for q in pools[0, True].query_ids]
    assert [set(c) for c in pools[0, True].candidates] == answers
    assert all(set(a) | b == set(c) for a, b, c in zip(
        pools[1, False].candidates, answers, pools[1, True].candidates))
    # a question whose answer (chunk 3) no run ranks first: only dev_relevant gives it a pool
    # in which training can lift it (and its score is then no longer zero at every step)
    from bmembed_lab.relevance import Relevance
    from bmembed_lab.retrieval import Run

    runs = [Run(s, ["q"], np.array([[i, 3]]), np.array([[2.0, 1.0]])) for s, i in
            (("bm25", 0), ("base", 1))]
    rel = Relevance({"q": {3: 1.0}}, {"q": {3: [0]}}, {"q": 1})
    without, with_ = (selection.build_pool(["q"], ["what?"], runs, rel, 1, 10, 0, "MAP@10",
                                           relevant=r) for r in (False, True))
    assert without.candidates == [[0, 1]] and with_.candidates == [[0, 1, 3]]
    # scored by document: one chunk per relevant document, the one the runs rank best
    by_doc = Relevance({"q": {2: 1.0, 3: 1.0}}, {"q": {2: [0], 3: [0]}}, {"q": 1},
                       doc_of=[0, 1, 2, 2])
    assert selection.relevant_chunks(by_doc, "q", [[0, 3, 2], [2, 1]]) == [2]  # rank 0 < 1
    assert selection.relevant_chunks(by_doc, "q", [[0], [1]]) == [2]  # unranked: its first
    emb = np.eye(4)[[0, 1, 3]]
    query = np.eye(4)[[3]]  # a model that now ranks the answer first
    assert selection.pool_scores(emb[:2], query, without) == 0.0
    assert selection.pool_scores(emb, query, with_) == 100.0
    path = tiny_config_file(tmp_path, beir_dir, tiny_model_dir, training__dev_pool=0,
                            training__dev_relevant=False)
    with pytest.raises(InputError, match="nothing to rank"):
        load_config(path)


def test_a_zero_width_dev_gain_reads_no_question_differs():
    from bmembed_lab.stages.train import worse_than_base_line

    sel = {"metric": "MAP@10", "best": 97.96, "best_step": 20, "base": 97.96,
           "on": "dev questions", "worse_than_base": False,
           "gain over base": {"diff": 0.0, "low": 0.0, "high": 0.0, "queries": 49}}
    line = worse_than_base_line("m", sel)
    assert "no question differs" in line and "+0.00 [+0.00" not in line


def test_step_0_is_read_from_the_base_encoders_embeddings(tmp_path, beir_dir, tiny_model_dir):
    """In fp32 the model a run starts from embeds as the base encoder did, so its step-0 dev
    scores are read from the base encoder's cached embeddings (one evaluation of five saved on
    the demo): they equal what encoding the pool with the prepared model gives, full or LoRA,
    and the selector then encodes nothing at step 0. Under bf16 (other weights) or a shorter
    training input limit, step 0 is encoded like every other step."""
    from dataclasses import replace

    from bmembed_lab import training

    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, eval__dev_fraction=0.5, eval__seed=3,
                      encoder__precision="fp32")
    pool, _, texts = Pipeline(cfg).dev_pool()
    assert pool.start is not None and len(pool.start) == len(pool)
    for lora in (False, True):
        enc = training.prepare_model(Encoder.load(cfg.encoder, trainable=True),
                                     replace(cfg.training, lora=lora))
        encoded = selection.dev_score(enc, pool, texts, progress=False)
        np.testing.assert_allclose(pool.start, encoded, rtol=0, atol=1e-9)

    def encodes(enc):
        raise AssertionError("step 0 was encoded")
    sel = selection.Selector(encodes, tmp_path / "run", 1, 0, "MAP@10", start=pool.start)
    assert sel.evaluate(None, None, 0) is False and sel.base == pytest.approx(np.mean(pool.start))
    for sets in ({"encoder__precision": "bf16"}, {"training__max_length": 8}):
        other = tiny_config(tmp_path / "other", beir_dir, tiny_model_dir, **sets)
        assert not train_stage.starts_as_base(other)
        assert Pipeline(replace(other, eval=cfg.eval)).dev_pool()[0].start is None


def test_the_exported_steps_pool_embeddings_are_reused_when_the_export_encodes_the_corpus(
        tmp_path, beir_dir, tiny_model_dir, monkeypatch):
    """The dev evaluation of the exported step has already encoded the pool's chunks with the
    exported weights: encoding the corpus with the export encodes only the other chunks, and
    the embeddings equal a whole fresh encoding. Under LoRA (the merge rounds the weights)
    nothing is reused."""
    from bmembed_lab import encoder as encoder_mod

    sets = dict(eval__dev_fraction=0.5, eval__seed=3, encoder__precision="fp32", sampling__m=3,
                training__steps=3, training__warmup_steps=1, training__eval_every=2,
                training__patience=0, training__lr=1e-3)
    for lora in (False, True):
        cfg = tiny_config(tmp_path / str(lora), beir_dir, tiny_model_dir, training__lora=lora,
                          **sets)
        pipe = Pipeline(cfg)
        pool, _, texts = pipe.dev_pool()
        tm, _ = pipe.trained("bmembed")
        saved = (tm.path / selection.POOL_EMBEDDINGS[0]).is_file()
        assert saved is (not lora)
        encoded = []
        real = encoder_mod.Encoder.encode
        monkeypatch.setattr(encoder_mod.Encoder, "encode",
                            lambda self, t, encoded=encoded, real=real, **k:
                            encoded.append(len(t)) or real(self, t, **k))
        emb, _ = pipe.chunk_embeddings("bmembed")
        monkeypatch.undo()
        fresh = Encoder.load(EncoderConfig(model=str(tm.merged), precision="fp32")).encode(
            texts, progress=False)
        np.testing.assert_allclose(emb, fresh, rtol=0, atol=1e-6)
        assert encoded == [len(texts) - len(pool.chunk_indices) if saved else len(texts)]


def test_the_card_shows_base_bm25_and_the_export_on_the_dev_split(tmp_path, beir_dir,
                                                                  tiny_model_dir):
    from bmembed_lab.bm25 import tokenize_cfg
    from bmembed_lab.pipeline import Pipeline

    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, eval__dev_fraction=0.5, eval__seed=3,
                      sampling__m=3, training__steps=2, training__warmup_steps=1,
                      training__eval_every=2, training__patience=0)
    pipe = Pipeline(cfg)
    pool = pipe.dev_pool()[0]
    # BM25 ranks the same candidates as the encoders, by its own scores
    s = pipe.bm25_index().scores(tokenize_cfg(pool.query_texts, cfg.bm25))
    best = [pool.chunk_indices[int(np.argmax(s[i, pool.chunk_indices]))]
            for i in range(len(pool))]
    hit1 = selection.ranked_values(lambda i, rows: s[i, pool.chunk_indices][rows],
                                   replace(pool, metric="Hit@1"))
    assert list(hit1) == [100.0 * (pool.grades[i].get(b, 0) > 0) for i, b in enumerate(best)]
    assert pool.bm25 is not None and len(pool.bm25) == len(pool)
    tm, _ = pipe.trained("bmembed", progress=False)
    sel = tm.info["selection"]
    assert sel["bm25"] == pytest.approx(float(np.mean(pool.bm25)))
    g = sel["gain over bm25"]
    assert g["low"] <= g["diff"] <= g["high"]
    assert g["diff"] == pytest.approx(sel["best"] - sel["bm25"])
    card = (tm.merged / "README.md").read_text()
    assert "| base model (step 0) |" in card and "| BM25 |" in card
    assert f"| this export (step {sel['best_step']}) |" in card
