"""Training on a tiny random model: the pipeline's bmembed system, export, SIGKILL + resume,
NaN stop."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from bmembed_lab import training as training_mod
from bmembed_lab.config import EncoderConfig, TrainingConfig
from bmembed_lab.encoder import Encoder
from bmembed_lab.pipeline import Pipeline
from bmembed_lab.training import ListData, TrainingDiverged, latest_checkpoint, prepare_model, train

from .conftest import tiny_config


def tiny_lists(n=12, m=4):
    rng = np.random.default_rng(0)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()
    q = [" ".join(rng.choice(words, 4)) for _ in range(n)]
    p = [[" ".join(rng.choice(words, 8)) for _ in range(m)] for _ in range(n)]
    return ListData(q, p, np.sort(rng.random((n, m)) * 20, axis=1)[:, ::-1].copy())


def trained_weights(model_dir, run_dir, steps=6, on_step=None, **kw):
    tcfg = TrainingConfig(
        steps=steps, warmup_steps=2, lr=1e-3, checkpoint_every=2, batch_size=2, **kw
    )
    enc = prepare_model(
        Encoder.load(EncoderConfig(model=str(model_dir), precision="fp32"), trainable=True), tcfg
    )
    res = train(enc, tiny_lists(), tcfg, run_dir, on_step=on_step, progress=False)
    return {n: p.detach().clone() for n, p in enc.model.named_parameters()}, res


def test_sigkill_then_resume_gives_the_same_weights(tmp_path, tiny_model_dir):
    ref, res = trained_weights(tiny_model_dir, tmp_path / "ref")
    assert len(res.losses) == 6
    from .conftest import REPO

    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(REPO)!r})
        from tests.test_training import tiny_lists
        from bmembed_lab.config import EncoderConfig, TrainingConfig
        from bmembed_lab.encoder import Encoder
        from bmembed_lab.training import prepare_model, train
        tcfg = TrainingConfig(steps=6, warmup_steps=2, lr=1e-3, checkpoint_every=2, batch_size=2)
        ecfg = EncoderConfig(model={str(tiny_model_dir)!r}, precision="fp32")
        enc = prepare_model(Encoder.load(ecfg, trainable=True), tcfg)
        def kill(step, loss, lr):
            if step == 5:
                os.kill(os.getpid(), signal.SIGKILL)
        train(enc, tiny_lists(), tcfg, {str(tmp_path / "killed")!r}, on_step=kill, progress=False)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == -9, proc.stderr  # killed by SIGKILL
    assert latest_checkpoint(tmp_path / "killed").name == "step-0000004"
    got, res2 = trained_weights(tiny_model_dir, tmp_path / "killed")
    assert res2.resumed_from == 4 and [x["step"] for x in res2.losses] == [1, 2, 3, 4, 5, 6]
    worst = max(float((got[n] - ref[n]).abs().max()) for n in ref)
    assert worst == 0.0, worst


def test_lora_resume_and_targets(tmp_path, tiny_model_dir):
    ref, res = trained_weights(tiny_model_dir, tmp_path / "a", lora=True)
    assert res.trainable_parameters < res.total_parameters / 5

    def stop(step, loss, lr):
        if step == 5:
            raise KeyboardInterrupt  # a Ctrl-C after the step-4 checkpoint
    with pytest.raises(KeyboardInterrupt):
        trained_weights(tiny_model_dir, tmp_path / "b", lora=True, on_step=stop)
    assert latest_checkpoint(tmp_path / "b").name == "step-0000004"
    got, res2 = trained_weights(tiny_model_dir, tmp_path / "b", lora=True)
    assert res2.resumed_from == 4
    assert max(float((got[n] - ref[n]).abs().max()) for n in ref) == 0.0
    enc = Encoder.load(EncoderConfig(model=str(tiny_model_dir)))
    assert training_mod.lora_targets(enc.model) == ["dense", "key", "query", "value"]


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, tiny_model_dir, monkeypatch):
    calls = {"n": 0}
    real = training_mod.step_loss

    def flaky(*a, **k):
        calls["n"] += 1
        out = real(*a, **k)
        return out * float("nan") if calls["n"] == 5 else out

    monkeypatch.setattr(training_mod, "step_loss", flaky)
    with pytest.raises(TrainingDiverged, match="became nan at step 4") as err:
        trained_weights(tiny_model_dir, tmp_path / "run")
    assert "step-0000004" in str(err.value) and "Fix:" in str(err.value)
    assert latest_checkpoint(tmp_path / "run").name == "step-0000004"


def test_pipeline_bmembed_system_and_export(tmp_path, beir_dir, tiny_model_dir, monkeypatch):
    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, sampling__m=3, training__steps=3,
                      training__warmup_steps=1, training__lr=1e-3, training__lora=True,
                      eval__systems=["bm25", "base", "rrf", "bmembed", "rrf+bmembed"])
    pipe = Pipeline(cfg)
    res = pipe.evaluate()
    assert list(res["summary"].index) == ["bm25", "base", "rrf", "bmembed", "rrf+bmembed"]
    assert {"bmembed - base", "bmembed - bm25", "rrf+bmembed - rrf"} <= set(
        res["comparisons"].comparison
    )
    tm, key = pipe.trained("bmembed")
    info = json.loads((tm.path / "train.json").read_text())
    assert info["steps"] == 3 and len(info["losses"]) == 3
    assert (tm.path / "adapter" / "adapter_config.json").is_file()
    card = (tm.path / "README.md").read_text()
    assert "lora_r | 16" in card and key in card
    # the base model as the config names it (here an absolute folder: its name), never a path
    # of this machine in a card meant to be shared
    assert info["base_model"] == tiny_model_dir.name and str(tiny_model_dir) not in card
    # the card is where the Hub, sentence-transformers and peft look for it, with metadata that
    # parses, no path of this machine, and the loss curve it promises
    import yaml

    for folder in (tm.merged, tm.path / "adapter"):
        assert (folder / "README.md").read_text() == card
    assert card.startswith("---\n") and str(tmp_path) not in card
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["library_name"] == "sentence-transformers"
    assert meta["pipeline_tag"] == "sentence-similarity" and "bmembed" in meta["tags"]
    assert "base_model" not in meta  # a local folder has no Hub id: never its path
    assert "![training loss per step](loss.svg)" in card
    svg = (tm.merged / "loss.svg").read_text()
    points = svg.split('points="')[1].split('"')[0].split()
    assert svg.startswith("<svg") and len(points) == len(info["losses"])  # one per step

    assert not (tmp_path / "cache" / "train_runs" / key).exists()  # checkpoints cleaned up
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel

    st = SentenceTransformer(str(tm.merged), device="cpu")
    ours = Encoder.load(EncoderConfig(model=str(tm.merged), precision="fp32"))
    texts = ["what hormone causes acromegaly", "gallstones form in the gallbladder"]
    a = st.encode(texts, normalize_embeddings=True)
    b = ours.encode(texts, progress=False)
    assert np.allclose(a, b, atol=1e-5)
    base = Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32")).encode(
        texts, progress=False
    )
    assert not np.allclose(base, b, atol=1e-4)  # training changed the model
    plain = AutoModel.from_pretrained(str(tm.merged))
    assert plain.config.hidden_size == 32
    assert np.array_equal(plain.embeddings.word_embeddings.weight.detach().numpy(),
                          ours.model.embeddings.word_embeddings.weight.detach().numpy())

    # cached: a second pipeline trains nothing
    def no_training(*a, **k):
        raise AssertionError("trained again although the export is cached")
    monkeypatch.setattr(training_mod, "train", no_training)
    t2, key2 = Pipeline(cfg).trained("bmembed")
    assert key2 == key and t2.path == tm.path and t2.info["losses"] == info["losses"]


def test_a_card_names_its_base_by_hub_id_and_inherits_its_license():
    from bmembed_lab.encoder import card_metadata, hub_id, resolve_model_path
    from bmembed_lab.export import model_card

    assert hub_id("all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
    assert hub_id("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
    assert hub_id("/models/mine") is None and hub_id("models/mine/v2") is None
    license_ = card_metadata(resolve_model_path("all-MiniLM-L6-v2"))["license"]
    import yaml

    card = model_card({"base_hub_id": hub_id("all-MiniLM-L6-v2"), "base_license": license_,
                       "method": "cl"})
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert meta["license"] == "apache-2.0" and {"bmembed", "cl"} <= set(meta["tags"])


def test_attention_dropout_is_set_on_every_attention_module(tiny_model_dir):
    import torch

    enc = prepare_model(
        Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32"), trainable=True),
        TrainingConfig(attention_dropout=0.0),
    )
    attn = [m.dropout.p for m in enc.model.modules() if type(m).__name__ == "BertSelfAttention"]
    assert attn == [0.0, 0.0]  # 2 layers; hidden dropout untouched:
    assert {m.p for m in enc.model.modules() if isinstance(m, torch.nn.Dropout)} == {0.0, 0.1}
    keep = prepare_model(
        Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32"), trainable=True),
        TrainingConfig(attention_dropout=-1),
    )
    assert [
        m.dropout.p for m in keep.model.modules() if type(m).__name__ == "BertSelfAttention"
    ] == [0.1, 0.1]


@pytest.mark.parametrize("damage", ["flip", "truncate", "manifest"])
def test_a_damaged_checkpoint_is_set_aside_and_the_previous_one_used(tmp_path, tiny_model_dir,
                                                                     caplog, damage):
    import logging

    from bmembed_lab.checkpoint import checkpoints

    from .conftest import flip_last_byte

    ref, _ = trained_weights(tiny_model_dir, tmp_path / "ref")

    def stop(step, loss, lr):
        if step == 5:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        trained_weights(tiny_model_dir, tmp_path / "run", on_step=stop)
    newest = latest_checkpoint(tmp_path / "run")
    assert newest.name == "step-0000004"
    w = newest / "weights.safetensors"
    if damage == "flip":
        flip_last_byte(w, 0x01)
    elif damage == "truncate":
        w.write_bytes(w.read_bytes()[:-100])
    else:
        (newest / "manifest.json").write_text("[1, 2]")
    with caplog.at_level(logging.WARNING):
        got, res = trained_weights(tiny_model_dir, tmp_path / "run")
    assert "is damaged" in caplog.text and res.resumed_from == 2
    assert (tmp_path / "run" / "checkpoints" / "corrupt-step-0000004").is_dir()
    assert max(float((got[n] - ref[n]).abs().max()) for n in ref) == 0.0
    assert [p.name for p in checkpoints(tmp_path / "run")][-1] == "step-0000004"  # rewritten


def test_stale_temporary_entry_of_a_killed_write_is_removed(tmp_path):
    from bmembed_lab.cache import StageCache

    cache = StageCache(tmp_path / "c")
    stale = tmp_path / "c" / "model" / ".abc123.999999999.tmpxyz"
    stale.mkdir(parents=True)
    (stale / "weights.safetensors").write_bytes(b"partial")
    cache.store("model", "def456", lambda d: (d / "x.json").write_text("{}"))
    assert not stale.exists() and (tmp_path / "c" / "model" / "def456").is_dir()


def test_training_starts_from_the_fp32_weights_even_in_bf16(tiny_model_dir):
    """bf16 precision: an inference encoder holds bf16 weights, but a trainable one keeps the
    exact fp32 weights (the optimizer's master copy) and only computes in bf16; an encoder
    whose weights were rounded is refused by prepare_model rather than trained from them."""
    import torch
    from safetensors.torch import load_file

    saved = load_file(str(tiny_model_dir / "model.safetensors"))
    cfg = EncoderConfig(model=str(tiny_model_dir), precision="bf16")
    enc = prepare_model(Encoder.load(cfg, trainable=True), TrainingConfig())
    state = enc.model.state_dict()
    common = [k for k in saved if k in state]
    assert len(common) == len(saved) > 10
    assert all(state[k].dtype == torch.float32 and torch.equal(state[k], saved[k].float())
               for k in common)
    assert enc.precision == "bf16"  # computes under autocast
    rounded = Encoder.load(cfg)
    assert next(rounded.model.parameters()).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="trainable=True"):
        prepare_model(rounded, TrainingConfig())


@pytest.mark.parametrize("method", ["bmembed", "mnrl"])
def test_a_packed_step_has_the_loss_and_gradient_of_its_micro_batches(tiny_model_dir, method):
    """All micro-batches of a step embedded together, length-bucketed into small forward
    passes, give the mean of the micro-batches' own losses (in-batch negatives stay within
    their micro-batch) and the same gradient."""
    import torch

    from bmembed_lab.training import PairData, batch_loss, embed_bucketed, step_loss

    rng = np.random.default_rng(1)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    lists = tiny_lists(n=6, m=3)
    for i, ps in enumerate(lists.passages):  # lengths that differ, so buckets and padding matter
        lists.passages[i] = [" ".join(rng.choice(words, 2 + 5 * j)) for j in range(len(ps))]
    pairs = PairData(
        lists.queries, [ps[0] for ps in lists.passages], [[ps[1]] for ps in lists.passages]
    )
    data, micro = (
        (lists, [[0, 1], [2, 3], [4, 5]])
        if method == "bmembed"
        else (pairs, [[0, 1, 2], [3, 4, 5]])
    )
    tcfg = TrainingConfig(batch_size=len(micro[0]), bucket_tokens=24)
    enc = prepare_model(
        Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32"), trainable=True),
        tcfg,
    )
    enc.model.eval()

    def grads():
        out = {n: p.grad.clone() for n, p in enc.model.named_parameters() if p.grad is not None}
        enc.model.zero_grad(set_to_none=True)
        return out

    packed = step_loss(enc, data, micro, tcfg)
    packed.backward()
    g_packed = grads()
    one_by_one = sum(
        batch_loss(enc, data, idx, TrainingConfig(batch_size=len(idx), bucket_tokens=10**6))
        for idx in micro
    ) / len(micro)
    one_by_one.backward()
    g_each = grads()
    assert float(packed) == pytest.approx(float(one_by_one), rel=1e-5)
    assert max(float((g_packed[n] - g_each[n]).abs().max()) for n in g_each) < 1e-5
    texts = [t for ps in lists.passages for t in ps]
    with torch.no_grad():
        assert torch.allclose(
            embed_bucketed(enc, enc.token_ids(texts), 24), enc.forward(texts), atol=1e-5
        )


def test_damaged_dev_selected_weights_are_refused_before_export(tiny_model_dir, tmp_path):
    """A damaged best/ checkpoint was loaded and exported with exit 0: best/ now carries a
    manifest, checked before its weights are used."""
    from bmembed_lab.checkpoint import load_best, save_best
    from bmembed_lab.errors import InputError

    from .conftest import flip_last_byte

    enc = prepare_model(Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32"),
                                     trainable=True), TrainingConfig())
    save_best(tmp_path, enc.model, 3, 0.5)
    assert load_best(tmp_path, enc.model) == 3
    flip_last_byte(tmp_path / "best" / "weights.safetensors", 1)
    with pytest.raises(InputError, match="weights.safetensors does not match its checksum"):
        load_best(tmp_path, enc.model)
