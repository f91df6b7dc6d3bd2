"""Encoder: pooling, normalisation, order, precision; the real bundled MiniLM."""

import json

import numpy as np
import pytest
import torch

from bmembed_lab.config import EncoderConfig
from bmembed_lab.encoder import Encoder, model_fingerprint, native_bf16, resolve_model_path
from bmembed_lab.errors import InputError

from .conftest import flip_last_byte

TEXTS = ["short", "a somewhat longer text about kidney stones and water",
         "growth hormone and the pituitary gland", "x " * 40]


def test_tiny_model_mean_pooling_matches_manual(tiny_model_dir):
    enc = Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32", batch_size=2))
    assert enc.pooling == "mean" and enc.max_length == 128
    emb = enc.encode(TEXTS, progress=False)
    assert emb.shape == (4, 32) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    # one text at a time (no padding) gives the same vectors: order restored, padding masked
    single = np.stack([enc.encode([t], progress=False)[0] for t in TEXTS])
    np.testing.assert_allclose(emb, single, atol=1e-5)
    with torch.no_grad():
        b = enc.tokenizer([TEXTS[1]], return_tensors="pt")
        h = enc.model(**b).last_hidden_state[0].mean(0)
    np.testing.assert_allclose(emb[1], (h / h.norm()).numpy(), atol=1e-5)


def test_last_token_pooling_left_and_right_padding(tiny_model_dir):
    enc = Encoder.load(EncoderConfig(model=str(tiny_model_dir), pooling="last", precision="fp32"))
    hidden = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2) + 1
    right = enc.pool(hidden, torch.tensor([[1, 1, 0], [1, 1, 1]]))
    left = enc.pool(hidden, torch.tensor([[0, 1, 1], [1, 1, 1]]))
    np.testing.assert_allclose(
        right[0].numpy(), torch.nn.functional.normalize(hidden[0, 1], dim=0).numpy()
    )
    np.testing.assert_allclose(
        left[0].numpy(), torch.nn.functional.normalize(hidden[0, 2], dim=0).numpy()
    )


def test_query_instruction_only_on_queries(tiny_model_dir):
    enc = Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32",
                                     query_instruction="Instruct: find\nQuery: "))
    plain = Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32"))
    assert np.allclose(
        enc.encode(TEXTS[:2], progress=False), plain.encode(TEXTS[:2], progress=False)
    )
    assert not np.allclose(enc.encode(TEXTS[:2], is_query=True, progress=False),
                           plain.encode(TEXTS[:2], is_query=True, progress=False))


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="nothing is downloaded"):
        resolve_model_path(str(tmp_path / "nope"))
    with pytest.raises(InputError):
        resolve_model_path("sentence-transformers/some-hub-model")


def test_fingerprint_tracks_weights(tiny_model_dir, tmp_path):
    import shutil
    copy = tmp_path / "m"
    shutil.copytree(tiny_model_dir, copy)
    assert model_fingerprint(copy) == model_fingerprint(tiny_model_dir)
    f = copy / "model.safetensors"
    flip_last_byte(f, 1)
    assert model_fingerprint(copy) != model_fingerprint(tiny_model_dir)


def test_weights_swapped_with_their_old_size_and_time_are_hashed_again(tiny_model_dir, tmp_path,
                                                                     monkeypatch):
    """cp -p / rsync -t keep a file's size and modification time: the memo must not answer."""
    import os
    import shutil

    from bmembed_lab import fingerprint as enc

    monkeypatch.setenv("BMEMBED_FINGERPRINT_MEMO", str(tmp_path / "fp.json"))
    copy = tmp_path / "m"
    shutil.copytree(tiny_model_dir, copy)
    before = model_fingerprint(copy)
    f = copy / "model.safetensors"
    st = f.stat()
    flip_last_byte(f, 1)  # other weights, the same size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old modification time
    assert f.stat().st_size == st.st_size and f.stat().st_mtime_ns == st.st_mtime_ns
    assert model_fingerprint(copy) != before  # in this process
    enc._fingerprint.cache_clear()
    assert model_fingerprint(copy) != before  # and in the next one (the memo file)


def test_fingerprint_remembered_across_processes(tiny_model_dir, tmp_path, monkeypatch):
    """A new process reads a model's fingerprint from the memo file instead of hashing its
    weights again, and hashes again as soon as a file of the folder changes."""
    import shutil

    from bmembed_lab import fingerprint as enc

    monkeypatch.setenv("BMEMBED_FINGERPRINT_MEMO", str(tmp_path / "memo" / "fp.json"))
    copy = tmp_path / "m"
    shutil.copytree(tiny_model_dir, copy)
    real = model_fingerprint(copy)
    memo = json.loads((tmp_path / "memo" / "fp.json").read_text())
    assert memo[str(copy.resolve())]["fingerprint"] == real
    memo[str(copy.resolve())]["fingerprint"] = "from-the-memo"  # what only the memo can answer
    (tmp_path / "memo" / "fp.json").write_text(json.dumps(memo))
    enc._fingerprint.cache_clear()  # as in a new process
    assert model_fingerprint(copy) == "from-the-memo"
    flip_last_byte(copy / "config.json", 0)  # rewritten: a new modification time
    enc._fingerprint.cache_clear()
    assert model_fingerprint(copy) == real
    monkeypatch.setenv("BMEMBED_FINGERPRINT_MEMO", str(tmp_path / "not-a-dir" / "x" / "fp.json"))
    (tmp_path / "not-a-dir").write_text("a file where a folder would go")
    enc._fingerprint.cache_clear()
    assert model_fingerprint(tiny_model_dir) == model_fingerprint(
        copy
    )  # unwritable memo: still works


@pytest.mark.slow
@pytest.mark.skipif(not native_bf16(), reason="no native bf16 on this CPU")
def test_real_minilm_bf16_close_to_fp32_and_sentence_transformers():
    texts = ["Acromegaly is a hormonal disorder that results from too much growth hormone.",
             "What are the treatments for gallstones ?"] * 8 + ["kidney " * 200]
    fp32 = Encoder.load(EncoderConfig(precision="fp32")).encode(texts, progress=False)
    bf16 = Encoder.load(EncoderConfig(precision="bf16")).encode(texts, progress=False)
    assert (fp32 * bf16).sum(1).min() >= 0.998
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(resolve_model_path("all-MiniLM-L6-v2")), device="cpu")
    ref = st.encode(texts, normalize_embeddings=True)
    assert (fp32 * ref).sum(1).min() >= 0.9999


@pytest.mark.parametrize(
    "opts",
    [
        {},
        {"precision": "bf16"},
        {"protocol": "reference"},
        {"pooling": "cls", "max_length": 64},
        {"query_instruction": "q: "},
    ],
)
def test_the_identity_needs_no_model_and_equals_the_loaded_one(tiny_model_dir, opts):
    """Cache keys come from the config and the folder's JSON files: the lazy encoder's identity
    equals the loaded encoder's, and nothing is loaded until something is encoded."""
    from bmembed_lab.encoder import LazyEncoder, identity_of

    cfg = EncoderConfig(model=str(tiny_model_dir), **opts)
    lazy = LazyEncoder(cfg)
    assert lazy._loaded is None and lazy.identity == identity_of(cfg)
    assert (lazy.pooling, lazy.query_instruction) == (
        Encoder.load(cfg).pooling,
        Encoder.load(cfg).query_instruction,
    )
    assert lazy.identity == Encoder.load(cfg).identity
    emb = lazy.encode(["a kidney stone"], progress=False)
    assert lazy._loaded is not None and emb.shape[0] == 1


def test_opening_cached_results_does_not_import_torch(tmp_path, beir_dir, tiny_model_dir):
    """A fresh process that evaluates from a filled cache imports no torch (the cost of every
    notebook's opening): keys come from JSON files, runs from the cache."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from bmembed_lab.pipeline import Pipeline

    from .conftest import tiny_config

    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir)
    Pipeline(cfg).evaluate(["bm25", "base", "rrf"])
    (tmp_path / "c.json").write_text(json.dumps(cfg.to_dict()))
    code = ("import sys, json\nfrom bmembed_lab.config import load_config\n"
            "from bmembed_lab.pipeline import Pipeline\n"
            "d = json.load(open(sys.argv[1]))\n"
            "sets = [f'{s}.{k}={json.dumps(v)}' for s, sec in d.items() for k, v in sec.items()]\n"
            "Pipeline(load_config(None, sets)).evaluate(['bm25', 'base', 'rrf'])\n"
            "print(json.dumps('torch' in sys.modules))")
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "c.json")],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.stdout.strip().splitlines()[-1] == "false", out.stderr[-2000:]


def test_a_hub_id_resolves_from_the_local_hugging_face_cache_without_the_network(
        tiny_model_dir, tmp_path, monkeypatch):
    """``<org>/<name>`` is read from the local Hugging Face cache's snapshot (the layout
    huggingface_hub writes: refs/main names the snapshot); one that is not cached fails with
    how to fetch it."""
    import shutil

    from huggingface_hub import constants

    repo = tmp_path / "hub" / "models--acme--tiny-bert"
    snapshot = repo / "snapshots" / "0123abcd"
    shutil.copytree(tiny_model_dir, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_model_path("acme/tiny-bert") == snapshot
    enc = Encoder.load(EncoderConfig(model="acme/tiny-bert", precision="fp32"))
    plain = Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32"))
    assert np.array_equal(enc.encode(TEXTS, progress=False), plain.encode(TEXTS, progress=False))
    with pytest.raises(InputError, match="hf download acme/not-cached"):
        resolve_model_path("acme/not-cached")
