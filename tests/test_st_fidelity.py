"""sentence-transformers folders read as sentence-transformers reads them.

Each folder is saved by the installed sentence-transformers from a tiny random BERT, with one
module or option changed: every pooling mode in both config schemas, Dense, Normalize,
prompts, the similarity function, the old sub-folder layout. The workbench's embeddings are
compared at fp32 with ``SentenceTransformer(folder).encode_query`` / ``encode_document``
(cosine >= 0.9999; the raw vectors where they are not normalised). Unsupported modules are
refused by name. Training and export use the same stack (tests at the end).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from bmembed_lab.config import EncoderConfig
from bmembed_lab.encoder import Encoder
from bmembed_lab.errors import InputError

TEXTS = ["What causes kidney stones ?", "gallstones form in the gallbladder when bile hardens",
         "x", "Growth hormone and the pituitary gland " * 6,
         "insulin resistance and type 2 diabetes"]
MODES = ["cls", "max", "mean", "mean_sqrt_len_tokens", "weightedmean", "lasttoken"]


@pytest.fixture(scope="module")
def st_folder(tmp_path_factory, tiny_model_dir):
    """``make(name, pooling=..., dense=..., normalize=..., **st_kwargs)``: a folder saved by
    ``SentenceTransformer.save`` around the tiny BERT."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    root = tmp_path_factory.mktemp("st")

    def make(name, pooling="mean", dense=0, normalize=False, **kwargs):
        torch.manual_seed(1)
        modules = [Transformer(str(tiny_model_dir)), Pooling(32, pooling_mode=pooling)]
        dim = 32 * (len(pooling) if isinstance(pooling, tuple) else 1)
        for _ in range(dense):
            modules.append(Dense(dim, 16))
            dim = 16
        if normalize:
            modules.append(Normalize())
        out = root / name
        SentenceTransformer(modules=modules, device="cpu", **kwargs).save(str(out))
        return out
    return make


def ours(folder, **opts):
    return Encoder.load(EncoderConfig(model=str(folder), precision="fp32", **opts))


def theirs(folder):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu")


def cosines(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def assert_same(folder, enc=None, raw=False):
    """Queries and documents: the workbench's embeddings against sentence-transformers'."""
    enc, st = enc or ours(folder), theirs(folder)
    for is_query, ref in ((True, st.encode_query(TEXTS)), (False, st.encode_document(TEXTS))):
        got = enc.encode(TEXTS, is_query=is_query, progress=False)
        assert got.shape == ref.shape
        assert cosines(got, ref).min() >= 0.9999
        if raw:
            np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    return enc


@pytest.mark.parametrize("mode", MODES + [("cls", "mean"), ("max", "weightedmean")])
def test_every_pooling_mode_in_the_current_schema(st_folder, mode):
    folder = st_folder(f"pool-{'+'.join(mode) if isinstance(mode, tuple) else mode}", pooling=mode)
    assert json.loads((folder / "1_Pooling" / "config.json").read_text())["pooling_mode"]
    enc = assert_same(folder)
    assert enc.pooling == ("+".join(mode) if isinstance(mode, tuple) else mode)


@pytest.mark.parametrize("mode", ["cls", "max", "weightedmean", "lasttoken"])
def test_every_pooling_mode_in_the_old_schema(st_folder, tmp_path, mode):
    """Folders written before sentence-transformers 5 (``pooling_mode_*_tokens`` booleans)."""
    folder = tmp_path / "old"
    shutil.copytree(st_folder(f"pool-{mode}", pooling=mode), folder)
    key = {"cls": "pooling_mode_cls_token", "max": "pooling_mode_max_tokens",
           "weightedmean": "pooling_mode_weightedmean_tokens",
           "lasttoken": "pooling_mode_lasttoken"}[mode]
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": 32, "pooling_mode_mean_tokens": False, key: True}))
    assert ours(folder).pooling == mode
    assert_same(folder)


def test_dense_head_and_normalize(st_folder):
    folder = st_folder("dense", pooling="cls", dense=2, normalize=True)
    enc = assert_same(folder, raw=True)
    got = enc.encode(TEXTS, progress=False)
    assert got.shape == (len(TEXTS), 16) and enc.dim == 16
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)


def test_a_dot_model_without_normalize_keeps_its_raw_vectors(st_folder):
    """Normalising a dot model's vectors changes which chunks are nearest: they stay raw, so
    the inner product ranks as sentence-transformers' ``similarity`` does."""
    folder = st_folder("dot", pooling="mean", dense=1, similarity_fn_name="dot")
    enc = assert_same(folder, raw=True)
    got = enc.encode(TEXTS, progress=False)
    assert not np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-3)
    st = theirs(folder)
    q, d = st.encode_query(TEXTS), st.encode_document(TEXTS)
    want = np.argsort(-st.similarity(q, d).numpy(), axis=1)
    have = np.argsort(-(enc.encode(TEXTS, is_query=True, progress=False) @ got.T), axis=1)
    assert np.array_equal(want, have)


def test_query_and_document_prompts(st_folder):
    folder = st_folder("prompts", prompts={"query": "query: ", "document": "passage: "})
    enc = assert_same(folder)
    assert (enc.query_instruction, enc.document_prefix) == ("query: ", "passage: ")
    assert "document_prefix" in enc.identity
    # the reference protocol keeps the paper's code: its instruction on queries, none on passages
    ref = ours(folder, protocol="reference")
    assert ref.document_prefix == "" and ref.query_instruction.startswith("Instruct:")


@pytest.mark.parametrize("prompts, default", [({"query": "q: ", "passage": "p: "}, None),
                                              ({"query": "q: ", "classify": "c: "}, "classify")])
def test_prompt_names_and_default_prompt_name_as_sentence_transformers_resolves_them(
        st_folder, prompts, default):
    name = "named-" + "-".join(sorted(prompts))
    assert_same(st_folder(name, prompts=prompts, default_prompt_name=default))


def test_the_old_layout_with_the_transformer_in_a_sub_folder(st_folder, tmp_path):
    folder = tmp_path / "old-layout"
    shutil.copytree(st_folder("dense", pooling="cls", dense=2, normalize=True), folder)
    sub = folder / "0_Transformer"
    sub.mkdir()
    for f in list(folder.iterdir()):
        if f.is_file() and f.name not in ("modules.json", "config_sentence_transformers.json"):
            f.rename(sub / f.name)
    modules = json.loads((folder / "modules.json").read_text())
    modules[0]["path"] = "0_Transformer"
    (folder / "modules.json").write_text(json.dumps(modules))
    assert_same(folder, raw=True)


@pytest.mark.parametrize("change, match", [
    (lambda m, f: m.insert(2, {"idx": 9, "name": "9", "path": "9_LayerNorm",
                               "type": "sentence_transformers.models.LayerNorm"}), "LayerNorm"),
    (lambda m, f: m.append({"idx": 9, "name": "9", "path": "x", "type": "my_package.Whitening"}),
     "my_package.Whitening"),
    (lambda m, f: (f / "1_Pooling" / "config.json").write_text(json.dumps(
        {"embedding_dimension": 32, "pooling_mode": "mean", "include_prompt": False})),
     "include_prompt"),
    (lambda m, f: (f / "config_sentence_transformers.json").write_text(json.dumps(
        {"similarity_fn_name": "manhattan"})), "manhattan"),
    (lambda m, f: (f / "config_sentence_transformers.json").write_text(json.dumps(
        {"similarity_fn_name": "euclidean"})), "euclidean"),
])
def test_a_module_or_option_we_cannot_honour_is_refused_by_name(st_folder, tmp_path, change, match):
    folder = tmp_path / "refused"
    shutil.copytree(st_folder("pool-mean", pooling="mean"), folder)
    modules = json.loads((folder / "modules.json").read_text())
    change(modules, folder)
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(InputError, match=match):
        ours(folder)


def test_euclidean_with_normalize_ranks_as_cosine_and_is_accepted(st_folder):
    assert_same(st_folder("euclid", normalize=True, similarity_fn_name="euclidean"))


def test_a_cls_dense_model_trains_and_its_export_is_what_was_evaluated(st_folder, tmp_path):
    """The check the issue names: a CLS + Dense folder saved by sentence-transformers is
    trained briefly; ``merged/`` loads in SentenceTransformer and encodes, queries and
    documents alike, what the workbench's trained encoder computed (prompts included)."""
    from bmembed_lab import export
    from bmembed_lab.config import TrainingConfig
    from bmembed_lab.training import ListData, prepare_model, train

    folder = st_folder("train", pooling="cls", dense=1, normalize=True,
                       prompts={"query": "query: ", "document": "passage: "})
    tcfg = TrainingConfig(method="bmembed", steps=3, batch_size=2, lr=1e-3, warmup_steps=0,
                          lora=False, eval_every=0)
    enc = prepare_model(Encoder.load(EncoderConfig(model=str(folder), precision="fp32"),
                                     trainable=True), tcfg)
    before = enc.encode(TEXTS, progress=False)
    data = ListData(queries=["kidney stones", "bile"],
                    passages=[TEXTS[:3], TEXTS[1:4]],
                    scores=np.array([[3.0, 2.0, 1.0], [2.5, 1.0, 0.5]], dtype=np.float32))
    train(enc, data, tcfg, tmp_path / "run", progress=False)
    enc.model.eval()
    evaluated_q = enc.encode(TEXTS, is_query=True, progress=False)
    evaluated_d = enc.encode(TEXTS, progress=False)
    assert not np.allclose(before, evaluated_d, atol=1e-4)  # training moved the model
    paths = export.export_model(enc, folder, tmp_path / "out", {"name": "t"})
    st = theirs(paths["merged"])
    assert cosines(st.encode_query(TEXTS), evaluated_q).min() >= 0.9999
    assert cosines(st.encode_document(TEXTS), evaluated_d).min() >= 0.9999
    assert st.encode_document(TEXTS).shape[1] == 16  # the Dense head shipped
    again = ours(paths["merged"])  # and the workbench reads its own export the same way
    np.testing.assert_allclose(again.encode(TEXTS, progress=False), evaluated_d, atol=1e-5)


def test_a_plain_transformers_folder_exports_as_mean_pooled_normalised(tiny_model_dir, tmp_path):
    from bmembed_lab import export

    enc = ours(tiny_model_dir, pooling="max")
    paths = export.export_model(enc, tiny_model_dir, tmp_path / "out", {"name": "t"})
    got = theirs(paths["merged"]).encode_document(TEXTS)
    np.testing.assert_allclose(got, enc.encode(TEXTS, progress=False), atol=1e-5)


@pytest.mark.slow
def test_real_minilm_matches_sentence_transformers_at_fp32_on_every_cpu():
    from bmembed_lab.encoder import resolve_model_path

    texts = ["Acromegaly is a hormonal disorder that results from too much growth hormone.",
             "What are the treatments for gallstones ?"] * 8 + ["kidney " * 200]
    path = resolve_model_path("all-MiniLM-L6-v2")
    enc = ours(path)
    st = theirs(path)
    for is_query, ref in ((True, st.encode_query(texts)), (False, st.encode_document(texts))):
        assert cosines(enc.encode(texts, is_query=is_query, progress=False), ref).min() >= 0.9999
