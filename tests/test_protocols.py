"""The two protocols: where the query prefix goes (training and evaluation queries, never
passages), and that the protocol is part of every cache key that depends on it."""

import json

import numpy as np
import pytest

from bmembed_lab.config import EncoderConfig, TrainingConfig
from bmembed_lab.encoder import REFERENCE_INSTRUCTION, Encoder, query_prefix
from bmembed_lab.modelstack import read_stack
from bmembed_lab.training import ListData, PairData, batch_loss, prepare_model


def _recording(enc):
    seen = []
    real = enc.token_ids

    def token_ids(texts):
        seen.append(list(texts))
        return real(texts)
    enc.token_ids = token_ids
    return seen


@pytest.mark.parametrize("protocol, prefix", [("clean", ""), ("reference", REFERENCE_INSTRUCTION)])
def test_prefix_on_queries_only_in_training_and_evaluation(tiny_model_dir, protocol, prefix):
    enc = Encoder.load(
        EncoderConfig(model=str(tiny_model_dir), precision="fp32", protocol=protocol)
    )
    assert enc.query_instruction == prefix and enc.identity["protocol"] == protocol
    seen = _recording(enc)
    enc.encode(["what is bile"], is_query=True, progress=False)
    enc.encode(["Bile is made by the liver."], is_query=False, progress=False)
    assert seen == [[prefix + "what is bile"], ["Bile is made by the liver."]]

    tcfg = TrainingConfig(batch_size=1)
    enc = prepare_model(Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32",
                                                   protocol=protocol), trainable=True), tcfg)
    seen = _recording(enc)
    lists = ListData(
        ["gallstones pain"], [["p one", "p two", "p three"]], np.array([[3.0, 2.0, 1.0]])
    )
    batch_loss(enc, lists, [0], tcfg)
    pairs = PairData(["kidney stones"], ["A kidney stone is solid."])
    batch_loss(enc, pairs, [0], tcfg)
    assert seen == [[prefix + "gallstones pain", "p one", "p two", "p three"],
                    [prefix + "kidney stones", "A kidney stone is solid."]]


def test_clean_protocol_uses_the_models_own_query_prompt(tmp_path, tiny_model_dir):
    import shutil

    model = tmp_path / "instructed"
    shutil.copytree(tiny_model_dir, model)
    (model / "config_sentence_transformers.json").write_text(json.dumps(
        {"prompts": {"query": "query: ", "document": ""}}))
    stack, plain = read_stack(model), read_stack(tiny_model_dir)
    assert query_prefix(EncoderConfig(model=str(model)), stack) == "query: "
    assert query_prefix(EncoderConfig(model=str(model), query_instruction="Q: "), stack) == "Q: "
    reference = EncoderConfig(model=str(model), protocol="reference")
    assert query_prefix(reference, stack) == REFERENCE_INSTRUCTION
    assert query_prefix(EncoderConfig(model=str(tiny_model_dir)), plain) == ""


def test_protocol_enters_the_embedding_and_model_keys(tmp_path, beir_dir, tiny_model_dir):
    from bmembed_lab.pipeline import Pipeline
    from bmembed_lab.stages import train

    from .conftest import tiny_config

    keys = {}
    for protocol in ("clean", "reference"):
        cfg = tiny_config(
            tmp_path, beir_dir, tiny_model_dir, encoder__protocol=protocol, sampling__m=3
        )
        pipe = Pipeline(cfg)
        c_emb, c_key, q_emb, q_key = pipe.embeddings("base")
        keys[protocol] = (
            c_key,
            q_key,
            train.model_key(cfg, "bmembed", pipe.training_lists()[1])[3],
        )
    assert keys["clean"][1] != keys["reference"][1]  # query embeddings differ
    assert keys["clean"][2] != keys["reference"][2]  # so does the trained model
