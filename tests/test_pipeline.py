"""The main job end to end on a tiny config, the CLI, caching across runs, bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bmembed_lab import encoder as encoder_mod
from bmembed_lab.cli import main
from bmembed_lab.config import load_config
from bmembed_lab.errors import InputError
from bmembed_lab.pipeline import Pipeline
from bmembed_lab.safeio import read_json
from bmembed_lab.stages import chunk

from .conftest import make_pdf, tiny_config, tiny_config_file, write_jsonl


def test_pipeline_end_to_end_and_cached_rerun(tmp_path, beir_dir, tiny_model_dir, monkeypatch):
    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir)
    res = Pipeline(cfg).evaluate()
    s = res["summary"]
    assert list(s.index) == ["bm25", "base", "rrf"] and (s["queries"] == 3).all()
    pq = res["per_query"]
    assert set(pq.query_id) == {"q1", "q2", "q3"}  # q4 has no label: not evaluated
    # BM25 finds each tiny query's gold chunk first: exact lexical overlap
    assert s.loc["bm25", "Hit@1"] == 100.0
    assert {"rrf - bm25", "rrf - base", "base - bm25"} == set(res["comparisons"].comparison)
    calls = []
    orig = encoder_mod.Encoder.encode
    monkeypatch.setattr(
        encoder_mod.Encoder, "encode", lambda self, *a, **k: calls.append(1) or orig(self, *a, **k)
    )
    again = Pipeline(cfg).evaluate()
    assert calls == []  # every stage came from the cache
    assert again["summary"].equals(s)
    cfg2 = tiny_config(tmp_path, beir_dir, tiny_model_dir, chunking__chunk_tokens=12)
    Pipeline(cfg2).evaluate()
    assert len(calls) == 2  # chunking changed: chunks re-embedded; queries hit a new key too


def test_cli_run_json_and_cache_commands(tmp_path, beir_dir, tiny_model_dir, capsys):
    cfg_file = tiny_config_file(tmp_path, beir_dir, tiny_model_dir, eval__bootstrap=100,
                                eval__depth=100, eval__dev_fraction=0.2, sampling__m=3)
    out_json = tmp_path / "r.json"
    assert main(["run", "-c", str(cfg_file), "--json", str(out_json), "-q"]) == 0
    out = capsys.readouterr().out
    assert "Hit@1" in out and "rrf - bm25" in out and "stage times" in out
    assert (
        "training queries (offline)" in out
        and "training lists (fine-to-coarse, k=1000, m=3)" in out
    )
    data = json.loads(out_json.read_text())
    assert {r["system"] for r in data["summary"]} == {"bm25", "base", "rrf"}
    assert main(["cache", "ls", "-c", str(cfg_file)]) == 0
    listing = capsys.readouterr().out
    for stage in (
        "dataset",
        "chunks",
        "relevance",
        "bm25_run",
        "embeddings",
        "dense_run",
        "rrf_run",
        "queries",
        "train_ranking",
        "lists",
    ):
        assert stage in listing
    assert main(["chunk", "-c", str(cfg_file)]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"]["max"] <= 24
    assert main(["cache", "clear", "-c", str(cfg_file)]) == 0
    assert "removed" in capsys.readouterr().out


def test_folder_corpus_with_pdf_and_page_evidence(tmp_path, tiny_model_dir):
    folder = tmp_path / "docs"
    folder.mkdir()
    make_pdf(
        folder / "report.pdf",
        ["Revenue grew in the northern region.", "Capital expenditure was 1577 million."],
    )
    (folder / "notes.md").write_text("# Notes\nThe board met twice.")
    q = write_jsonl(tmp_path / "q.jsonl", [{"id": "c", "q": "capital expenditure"}])
    ev = write_jsonl(tmp_path / "ev.jsonl", [{"query_id": "c", "doc_id": "report.pdf", "page": 1}])
    cfg = tiny_config(
        tmp_path,
        folder,
        tiny_model_dir,
        corpus__format="folder",
        corpus__queries=str(q),
        corpus__query_id_field="id",
        corpus__query_text_field="q",
        corpus__evidence=str(ev),
        chunking__chunk_tokens=8,
    )
    pipe = Pipeline(cfg)
    rel, _ = pipe.relevance()
    chunks, _ = pipe.chunks()
    gold = [chunks[i] for i in rel.grades["c"]]
    assert gold and all(c.page_start == 1 and c.doc_id == "report.pdf" for c in gold)
    assert pipe.evaluate(["bm25"])["summary"].loc["bm25", "Hit@1"] == 100.0


def test_queries_without_relevant_chunk_are_counted(tmp_path, beir_dir, tiny_model_dir):
    write_jsonl(
        beir_dir / "evidence.jsonl",
        [
            {"query_id": "q1", "doc_id": "d1", "text": "not in the corpus"},
            {"query_id": "q2", "doc_id": "d2", "text": "Doctors use ultrasound"},
        ],
    )
    pipe = Pipeline(tiny_config(tmp_path, beir_dir, tiny_model_dir))
    rep = pipe.report()
    assert rep["labelled queries without a relevant chunk (excluded)"] == 1
    assert rep["evaluated queries"] == 2  # q2 by evidence, q3 by its doc qrel


def test_bad_input_exits_2_with_message_not_traceback(tmp_path, tiny_model_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "corpus.jsonl").write_text("")
    cfg = tiny_config_file(tmp_path, empty, tiny_model_dir)
    r = subprocess.run([sys.executable, "-m", "bmembed_lab.cli", "run", "-c", str(cfg)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "no documents" in r.stderr and "Fix:" in r.stderr
    cfg.write_text('[corpus]\npath = "x"\nchunk_size = 3\n')
    r = subprocess.run([sys.executable, "-m", "bmembed_lab.cli", "run", "-c", str(cfg)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "unknown option corpus.chunk_size" in r.stderr


def test_config_validation_and_help(capsys):
    with pytest.raises(InputError, match="should be of type int"):
        load_config(None, ["chunking.chunk_tokens=abc"])
    with pytest.raises(InputError, match="not one of"):
        load_config(None, ["bm25.variant=bm99"])
    cfg = load_config(None, ["bm25.k1=1.5", "eval.systems=[\"bm25\"]"])
    assert cfg.bm25.k1 == 1.5 and cfg.eval.systems == ["bm25"]
    d = load_config()
    assert (d.chunking.chunk_tokens, d.bm25.k1, d.bm25.b, d.eval.rrf_u) == (254, 1.2, 0.75, 40)
    assert chunk.length_warning(d) is None  # the defaults never trip their own warning
    assert main(["config", "--explain"]) == 0
    assert "rrf_u = 40" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--set" in capsys.readouterr().out


def test_chunk_longer_than_encoder_warns(tmp_path, beir_dir, tiny_model_dir, caplog):
    pipe = Pipeline(tiny_config(tmp_path, beir_dir, tiny_model_dir, chunking__chunk_tokens=1024))
    pipe.chunks()
    assert "the tail of longer chunks is never embedded" in caplog.text


def test_dataset_key_does_not_depend_on_how_the_path_is_spelled(
    tmp_path, beir_dir, tiny_model_dir, monkeypatch
):
    """A config reached as 'configs/../data' and one with an absolute path share the cache."""
    import shutil

    a = tiny_config(tmp_path, beir_dir, tiny_model_dir)
    monkeypatch.chdir(beir_dir.parent)
    b = tiny_config(tmp_path, Path(beir_dir.name) / ".." / beir_dir.name, tiny_model_dir)
    ka, kb = Pipeline(a).dataset()[1], Pipeline(b).dataset()[1]
    assert ka == kb
    moved = tmp_path / "elsewhere"  # the same files in another folder: the same key
    shutil.copytree(beir_dir, moved)
    assert Pipeline(tiny_config(tmp_path, moved, tiny_model_dir)).dataset()[1] == ka
    (moved / "queries.jsonl").write_text('{"_id": "q1", "text": "changed"}\n')  # content counts
    assert Pipeline(tiny_config(tmp_path, moved, tiny_model_dir)).dataset()[1] != ka


def test_new_evaluation_queries_reuse_the_corpus_side_and_the_trained_model(
        tmp_path, beir_dir, tiny_model_dir, monkeypatch):
    """Changing only the evaluation queries (another question added, one reworded) keeps the
    chunks, the corpus embeddings, the training lists and the trained model: only the new
    questions are encoded, nothing is retrained (paper Section 4's evaluation is a read-out)."""
    import shutil

    from bmembed_lab import training

    # leakage "flag" keeps every training query whatever the questions: with "drop" a question
    # that near-duplicates a training query changes the training data (and so the model)
    opts = {"sampling__m": 3, "training__steps": 2, "training__warmup_steps": 1,
            "queries__leakage": "flag"}
    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, **opts)
    first = Pipeline(cfg)
    first.evaluate(["bm25", "base", "bmembed"])
    other = tmp_path / "other_questions"
    shutil.copytree(beir_dir, other)
    write_jsonl(other / "queries.jsonl", [{"_id": "q1", "text": "which gland makes growth hormone"},
                                          {"_id": "q2", "text": "ultrasound finds gallstones"},
                                          {"_id": "q3", "text": "water and kidney stones"}])
    second = Pipeline(tiny_config(tmp_path, other, tiny_model_dir, **opts))
    assert second.dataset()[1] != first.dataset()[1]  # the labelled questions did change
    for stage in ("chunks", "training_lists", "trained"):
        assert getattr(second, stage)()[1] == getattr(first, stage)()[1], stage
    encoded = []
    orig = encoder_mod.Encoder.encode
    monkeypatch.setattr(
        encoder_mod.Encoder,
        "encode",
        lambda self, texts, *a, **k: encoded.append(len(texts)) or orig(self, texts, *a, **k),
    )
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("retrained"))
    res = second.evaluate(["bm25", "base", "bmembed"])
    assert encoded == [3, 3]  # the three new questions, under base and bmembed; no chunk
    assert set(res["per_query"].query_id) == {"q1", "q2", "q3"}


def test_an_export_is_scored_on_other_questions_without_training(
        tmp_path, beir_dir, tiny_model_dir, monkeypatch, capsys):
    """`evaluate --systems mine=FOLDER` scores an earlier export (or any local model folder)
    on another config's questions: nothing is trained, the export's own weights are used, and
    its tables and comparisons say `mine`."""
    from bmembed_lab import training

    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, sampling__m=3, training__steps=2,
                      training__warmup_steps=1, training__lr=1e-3)
    pipe = Pipeline(cfg)
    tm, _ = pipe.trained("bmembed")
    ours = pipe.evaluate(["bm25", "base", "bmembed"])["summary"]
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("trained"))
    other = Pipeline(tiny_config(tmp_path / "elsewhere", beir_dir, tiny_model_dir))
    res = other.evaluate(["bm25", "base", f"mine={tm.path}"])
    assert list(res["summary"].index) == ["bm25", "base", "mine"]
    assert res["summary"].loc["mine"].equals(ours.loc["bmembed"])  # the same weights, same scores
    assert {"mine - base", "mine - bm25"} <= set(res["comparisons"].comparison)
    config = tiny_config_file(
        tmp_path,
        beir_dir,
        tiny_model_dir,
        cache__dir=str(tmp_path / "cache3"),
        eval__bootstrap=100,
        eval__depth=100,
    )
    monkeypatch.chdir(tm.path.parent)
    assert main(["evaluate", "-c", str(config), "--systems", "base", f"mine={tm.path.name}",
                 "--set", "encoder.protocol=reference"]) == 0
    out = capsys.readouterr().out
    assert (
        "mine - base" in out
        and "trained under the clean protocol, scored here under reference" in out
    )
    for bad in ("bmembed=x", "mine=", "two words=x"):
        with pytest.raises(InputError, match="label=folder"):
            other.evaluate(["base", bad])
    with pytest.raises(InputError, match="scored by `evaluate`"):
        other.perturbation_study(["base", f"mine={tm.path}"])


def test_run_encodes_the_corpus_once_per_model(
    tmp_path, beir_dir, tiny_model_dir, monkeypatch, capsys
):
    """`run` (test questions, held-out queries, dev selection, two trained systems) encodes the
    whole corpus once per model: base and bmembed, nothing twice (bmembed's export encodes
    only the chunks its exported step's dev evaluation did not)."""
    cfg_path = tiny_config_file(
        tmp_path, beir_dir, tiny_model_dir, eval__dev_fraction=0.5, eval__seed=3,
        eval__bootstrap=100, eval__depth=100,
        eval__systems=["bm25", "base", "rrf", "bmembed", "rrf+bmembed"], sampling__m=3,
        training__steps=2, training__eval_every=1, training__warmup_steps=1)
    from bmembed_lab import selection

    n_chunks = len(Pipeline(load_config(cfg_path)).chunks()[0])
    corpus_encodings, in_dev = [], []
    real, real_dev = encoder_mod.Encoder.encode, selection.dev_score

    def spy(self, texts, is_query=False, *a, **k):
        if not is_query and not in_dev:
            corpus_encodings.append((Path(self.path), len(texts)))
        return real(self, texts, is_query, *a, **k)

    def dev(*a, **k):  # the dev pool's chunks (here: the whole tiny corpus), not a corpus run
        in_dev.append(1)
        try:
            return real_dev(*a, **k)
        finally:
            in_dev.pop()
    monkeypatch.setattr(encoder_mod.Encoder, "encode", spy)
    monkeypatch.setattr(selection, "dev_score", dev)
    assert main(["run", "-c", str(cfg_path), "-q"]) == 0
    (base, n_base), (export, n_export) = corpus_encodings
    reused = read_json(export.parent / selection.POOL_EMBEDDINGS[1])["indices"]
    assert base != export and n_base == n_chunks and n_export == n_chunks - len(reused)


def test_diagnose_computes_what_notebooks_05_and_06_open_from(
    tmp_path, beir_dir, tiny_model_dir, capsys
):
    cfg_path = tiny_config_file(tmp_path, beir_dir, tiny_model_dir, eval__bootstrap=10000,
                                eval__depth=100, eval__systems=["bm25", "base", "bmembed"],
                                sampling__m=3, training__steps=2, training__warmup_steps=1)
    assert main(["run", "-c", str(cfg_path), "-q"]) == 0
    capsys.readouterr()
    assert main(["diagnose", "-c", str(cfg_path), "--no-map"]) == 0
    out = capsys.readouterr().out
    assert (
        "bmembed against base, over 3 (question, gold chunk) pairs: raw alignment" in out
        and "On retrieval, bmembed - base: MAP@10" in out
    )
    cache = tmp_path / "cache"
    assert len(list((cache / "diagnostics").iterdir())) == 2  # base and bmembed, cached


def test_encode_command_fills_the_cache_that_run_then_reads(
    tmp_path, beir_dir, tiny_model_dir, capsys, monkeypatch
):
    """`encode` (one process) stores the corpus's base embeddings, shard by shard; evaluating
    afterwards reads them instead of encoding the corpus again."""
    cfg_path = tiny_config_file(tmp_path, beir_dir, tiny_model_dir, encoder__shard_texts=2,
                                eval__bootstrap=100, eval__depth=100)
    assert main(["encode", "-c", str(cfg_path), "-q"]) == 0
    out = capsys.readouterr().out
    n_chunks = len(Pipeline(load_config(cfg_path)).chunks()[0])
    assert f"base: {n_chunks:,} chunks x " in out and "1 process(es)" in out
    seen = []
    real = encoder_mod.Encoder.encode
    monkeypatch.setattr(encoder_mod.Encoder, "encode", lambda self, texts, is_query=False, *a, **k:
                        seen.append((len(texts), is_query)) or real(self, texts, is_query, *a, **k))
    assert main(["evaluate", "-c", str(cfg_path), "-q", "--systems", "bm25", "base"]) == 0
    assert seen and all(is_query for _, is_query in seen)  # only the questions were encoded
