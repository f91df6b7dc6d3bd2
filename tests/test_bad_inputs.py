"""Bad inputs and faults, table-driven: each gets exit code 2, a message naming the input and
the fix, and leaves every file outside the cache as it was."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from bmembed_lab.cache import MARKER, StageCache, cached
from bmembed_lab.safeio import load_npy, save_npy
from bmembed_lab.cli import main
from .conftest import tiny_config_file


@pytest.fixture(autouse=True)
def _deletes_stay_in_tmp(tmp_path, monkeypatch):
    """However the code under test misbehaves, it can delete nothing outside this test's
    folder: rmtree is wrapped, and the home folder ('~') is a folder of the test's own."""
    real = shutil.rmtree
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))

    def guarded(path, *args, **kwargs):
        p = Path(path).resolve()
        if p == tmp_path or tmp_path not in p.parents:
            raise AssertionError(f"the code tried to delete {p}, outside the test's cache")
        return real(path, *args, **kwargs)
    monkeypatch.setattr(shutil, "rmtree", guarded)


def _snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (the cache excluded), by relative path."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and not {".bmembed_cache", "cache"} & set(p.relative_to(root).parts)}


def refused(args: list[str], root: Path) -> None:
    """``bmembed-lab ARGS`` exits 2 (a clear error, no traceback) and leaves every file under
    ``root`` outside the cache as it was: nothing produced is lost, nothing is changed."""
    before = _snapshot(root)
    assert main(args) == 2
    assert _snapshot(root) == before


def _project(tmp_path: Path, cache_dir: str = ".bmembed_cache") -> Path:
    """A config folder with a user's files beside it and a filled stage cache."""
    proj = tmp_path / "project"
    (proj / "my_documents").mkdir(parents=True)
    (proj / "my_documents" / "notes.txt").write_text("a user's document\n")
    (proj / "results.csv").write_text("run,score\n1,0.5\n")
    cfg = proj / "my.toml"
    cfg.write_text(
        f'[corpus]\nformat = "folder"\npath = "my_documents"\n[cache]\ndir = "{cache_dir}"\n'
    )
    cache = StageCache(proj / ".bmembed_cache")
    cached(cache, "embeddings", {"a": 1}, [], "v", lambda: __import__("numpy").arange(3),
           lambda v, d: save_npy(d / "x.npy", v), lambda d: load_npy(d / "x.npy"))
    return cfg


CLEAR_CASES = {
    # what the user typed                           -> words the error must contain
    "stage is a user folder": (["--stage", "{proj}/my_documents"], "not a stage name"),
    "stage is ..": (["--stage", ".."], "not a stage name"),
    "stage is .": (["--stage", "."], "not a stage name"),
    "stage unknown": (["--stage", "my_documents"], "has no stage"),
}


@pytest.mark.parametrize("case", CLEAR_CASES)
def test_cache_clear_never_leaves_the_cache(tmp_path, capsys, case):
    cfg = _project(tmp_path)
    proj = cfg.parent
    before = _snapshot(proj)
    extra, words = CLEAR_CASES[case]
    args = ["cache", "clear", "-c", str(cfg)] + [a.format(proj=proj) for a in extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert words in err and "Fix:" in err
    assert _snapshot(proj) == before
    assert (proj / ".bmembed_cache" / "embeddings").is_dir()  # nothing was cleared either


@pytest.mark.parametrize("cache_dir", ["", " ", ".", "..", "my_documents", "/", "~"])
def test_root_like_cache_dir_is_a_config_error(tmp_path, capsys, cache_dir):
    cfg = _project(tmp_path, cache_dir)
    before = _snapshot(tmp_path)
    assert main(["cache", "clear", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "cache.dir" in err and "Fix:" in err
    assert _snapshot(tmp_path) == before


def test_clear_refuses_a_folder_the_workbench_did_not_create(tmp_path, capsys):
    cfg = _project(tmp_path, "elsewhere")
    user = cfg.parent / "elsewhere"
    (user / "thesis").mkdir(parents=True)
    (user / "thesis" / "chapter1.tex").write_text("\\chapter{One}\n")
    before = _snapshot(tmp_path)
    assert main(["cache", "clear", "-c", str(cfg)]) == 2
    assert MARKER in capsys.readouterr().err
    assert _snapshot(tmp_path) == before


def test_clear_by_stage_and_all_inside_a_marked_cache(tmp_path, capsys):
    cfg = _project(tmp_path)
    proj = cfg.parent
    before = _snapshot(proj)
    assert (proj / ".bmembed_cache" / MARKER).is_file()
    assert main(["cache", "clear", "--stage", "embeddings", "-c", str(cfg)]) == 0
    assert "removed 1 entries" in capsys.readouterr().out
    assert not (proj / ".bmembed_cache" / "embeddings").exists()
    assert main(["cache", "clear", "-c", str(cfg)]) == 0
    assert (proj / ".bmembed_cache" / MARKER).is_file()  # the root stays ours
    assert _snapshot(proj) == before


def test_a_folder_is_adopted_as_a_cache_only_when_empty_never_for_what_it_holds(tmp_path, capsys):
    """A user's folder shaped like a cache (stage-named folders of manifest.json files) was
    adopted and then emptied by `cache clear`: only an empty folder is adopted now, and the
    refusal says how to adopt a cache made before the marker existed, on purpose."""
    lookalike = tmp_path / "my_results"
    (lookalike / "chunks" / "abc").mkdir(parents=True)
    (lookalike / "chunks" / "abc" / "manifest.json").write_text("{}")
    (lookalike / "train_runs" / "k").mkdir(parents=True)
    StageCache(lookalike).ensure_root()
    assert not (lookalike / MARKER).exists()
    cfg = _write(tmp_path / "c.toml", f'[cache]\ndir = "{lookalike}"\n')
    refused(["cache", "clear", "-c", str(cfg)], tmp_path)
    assert f"creating {MARKER} in it" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    StageCache(empty).ensure_root()
    assert (empty / MARKER).is_file()


def test_folder_corpus_key_covers_exactly_what_is_read(tmp_path, tiny_model_dir):
    import os

    from bmembed_lab.pipeline import Pipeline

    from .conftest import tiny_config

    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.txt").write_text("Gallstones form in the gallbladder. Bile holds cholesterol.\n")
    (docs / "sub" / "b.md").write_text("# Kidney\nA kidney stone is a solid piece of material.\n")
    (docs / ".notes.txt").write_text("private scratch notes\n")
    (docs / ".hidden").mkdir()
    (docs / ".hidden" / "c.txt").write_text("also hidden\n")
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("a file outside the corpus\n")
    os.symlink(outside, docs / "link_out.txt")
    os.symlink(docs / "a.txt", docs / "link_in.txt")
    os.symlink(tmp_path / "missing.txt", docs / "dangling.txt")
    (docs / "image.png").write_bytes(b"\x89PNG")

    def load():
        cfg = tiny_config(tmp_path, docs, tiny_model_dir, corpus__format="folder")
        return Pipeline(cfg).dataset()
    ds, key = load()
    assert sorted(d.doc_id for d in ds.documents) == ["a.txt", "link_in.txt", "sub/b.md"]
    assert ds.skipped == {"hidden files (skipped)": 2, "dangling links (skipped)": 1,
                          "links leading outside the corpus folder (skipped)": 1,
                          "files of other types (skipped)": 1}
    (docs / ".notes.txt").write_text("changed notes: not read, so not in the key\n")
    assert load()[1] == key
    (docs / "sub" / "b.md").write_text("# Kidney\nChanged text.\n")
    ds2, key2 = load()
    assert key2 != key and "Changed text." in {d.doc_id: d.text for d in ds2.documents}["sub/b.md"]


@pytest.mark.parametrize("setting", [
    "sampling.first=0", "sampling.first=-1", "training.alpha=-1.0", "training.alpha=0",
    "training.tau=-0.05", "eval.depth=0", "eval.bootstrap=0", 'eval.ks=["a", 2]', "eval.ks=[0, 10]",
    "training.lr=-1e-5", "training.lora_r=0", "encoder.batch_size=0", "encoder.max_length=-1",
    "bm25.b=1.5", "queries.max_copy_ratio=2.0", "eval.dev_fraction=0.95", "training.patience=-1",
    # whole numbers no consumer can hold (numpy / torch / numba take 32 or 64 bits)
    "training.steps=100000000000000000000", "eval.depth=9223372036854775808",
    "sampling.k=3000000000", "eval.ks=[1, 99999999999]", "training.seed=-99999999999",
])
def test_out_of_range_values_stop_at_config_load(tmp_path, capsys, setting):
    """Each value used to train an inverted model or crash minutes later; now the config is
    refused before any work, naming the option and its range."""
    refused(["config", "--set", setting], tmp_path)
    err = capsys.readouterr().err
    assert (
        setting.split("=")[0] in err and "Fix:" in err and ("range" in err or "whole number" in err)
    )


def test_explain_shows_the_ranges(capsys):
    assert main(["config", "--explain"]) == 0
    out = capsys.readouterr().out
    assert "first = 3  (range [1, inf])" in out and "b = 0.75  (range [0.0, 1.0])" in out


RECORD_CASES = {
    # file, JSON line (or TSV row), words the error must contain
    "text is a list": ("corpus", '{"_id": "d9", "text": ["a", "b"]}', "field 'text' is list"),
    "text is true": ("corpus", '{"_id": "d9", "text": true}', "field 'text' is bool"),
    "text is a number": ("corpus", '{"_id": "d9", "text": 12345}', "field 'text' is int"),
    "id is an object": ("corpus", '{"_id": {"a": 1}, "text": "x"}', "field '_id' is dict"),
    "id is null": ("corpus", '{"_id": null, "text": "x"}', "field '_id' is NoneType"),
    "lone surrogate": ("corpus", '{"_id": "d9", "text": "bad \\ud800 text"}', "surrogate"),
    "grade is a word": (
        "evidence",
        '{"query_id": "q1", "text": "growth hormone", "grade": "high"}',
        'grade "high"',
    ),
    "page is a string": ("evidence", '{"query_id": "q1", "doc_id": "d1", "page": "3"}', 'page "3"'),
    "query id twice": (
        "queries",
        '{"_id": "q1", "text": "another text"}',
        "on line 1 and again on line 5",
    ),
    "qrels grade inf": ("qrels", "q2\td2\tinf", "not a finite number"),
    "qrels grade nan": ("qrels", "q2\td2\tnan", "not a finite number"),
}


@pytest.mark.parametrize("case", RECORD_CASES)
def test_records_of_the_wrong_type_are_errors_with_their_line(tmp_path, beir_dir, capsys, case):
    kind, line, words = RECORD_CASES[case]
    target = {"corpus": beir_dir / "corpus.jsonl", "evidence": beir_dir / "evidence.jsonl",
              "queries": beir_dir / "queries.jsonl", "qrels": beir_dir / "qrels" / "test.tsv"}[kind]
    with open(target, "a", encoding="utf-8") as f:
        f.write(line + "\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[corpus]\npath = "{beir_dir}"\n[cache]\ndir = "{tmp_path / "cache"}"\n')
    refused(["ingest", "-c", str(cfg)], tmp_path)
    err = capsys.readouterr().err
    assert words in err and target.name in err and "Fix:" in err
    assert not (tmp_path / "cache" / "dataset").exists() or not any(
        (tmp_path / "cache" / "dataset").iterdir()
    )


@pytest.mark.parametrize("where", ["under_a_file", "/proc/bmembed-test-cache"])
def test_an_unwritable_cache_stops_before_any_work(tmp_path, beir_dir, capsys, where):
    if where == "under_a_file":
        (tmp_path / "afile").write_text("not a folder")
        where = str(tmp_path / "afile" / "cache")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[corpus]\npath = "{beir_dir}"\n[cache]\ndir = "{where}"\n')
    refused(["ingest", "-c", str(cfg)], tmp_path)
    err = capsys.readouterr().err
    assert "cannot be written" in err and "cache.enabled = false" in err


@pytest.mark.parametrize("manifest", ["[]", '{"files": "x.npy"}', '{"files": {"x.npy": 3}}',
                                      '{"stage": "s"}'])
def test_a_manifest_without_a_valid_file_list_is_corrupt(tmp_path, manifest):
    import numpy as np

    cache, calls = StageCache(tmp_path / "c"), []

    def run():
        return cached(cache, "s", {}, [], "v", lambda: calls.append(1) or np.arange(3),
                      lambda v, d: save_npy(d / "x.npy", v), lambda d: load_npy(d / "x.npy"))
    _, key = run()
    (tmp_path / "c" / "s" / key / "manifest.json").write_text(manifest)
    run()
    assert len(calls) == 2  # recomputed, not served


def test_concurrent_lookups_of_a_corrupt_entry_never_crash(tmp_path):
    import multiprocessing as mp

    import numpy as np

    cache = StageCache(tmp_path / "c")
    _, key = cached(cache, "s", {}, [], "v", lambda: np.arange(3),
                    lambda v, d: save_npy(d / "x.npy", v), lambda d: load_npy(d / "x.npy"))
    for trial in range(3):
        entry = tmp_path / "c" / "s" / key
        if not entry.exists():
            cached(cache, "s", {}, [], "v", lambda: np.arange(3),
                   lambda v, d: save_npy(d / "x.npy", v), lambda d: load_npy(d / "x.npy"))
        (entry / "x.npy").write_bytes(b"garbage")
        ctx = mp.get_context("fork")
        procs = [
            ctx.Process(target=StageCache(tmp_path / "c").lookup, args=("s", key)) for _ in range(4)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        assert [p.exitcode for p in procs] == [0, 0, 0, 0], trial


@pytest.mark.parametrize("command", [["queries", "--out"], ["queries", "--report"],
                                     ["lists", "--out"], ["evaluate", "--per-query"],
                                     ["run", "--json"], ["perturb", "--out"]])
def test_outputs_into_a_missing_folder_stop_before_any_work(tmp_path, capsys, command):
    refused([command[0], command[1], str(tmp_path / "no" / "such" / "out.json")], tmp_path)
    err = capsys.readouterr().err
    assert "does not exist" in err and "Fix:" in err


@pytest.mark.parametrize("damage, words", [
    ("no weights", "has no weights"), ("no tokenizer", "has no tokenizer"),
    ("bad config", "config.json cannot be read"), ("truncated weights", "weights cannot be loaded"),
    ("bad tokenizer", "tokenizer cannot be loaded")])
def test_a_broken_model_folder_is_named(tmp_path, beir_dir, tiny_model_dir, capsys, damage, words):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    weights = model / "model.safetensors"
    if damage == "no weights":
        weights.unlink()
    elif damage == "no tokenizer":
        for f in ("tokenizer.json", "vocab.txt"):
            (model / f).unlink(missing_ok=True)
    elif damage == "bad config":
        (model / "config.json").write_text("{broken")
    elif damage == "truncated weights":
        weights.write_bytes(weights.read_bytes()[:1000])
    else:
        (model / "tokenizer.json").write_text("{not a tokenizer}")
        (model / "vocab.txt").unlink(missing_ok=True)
    cfg = tiny_config_file(tmp_path, beir_dir, model, eval__systems=["base"], eval__depth=100,
                           eval__dev_fraction=0.2)
    refused(["evaluate", "-c", str(cfg)], tmp_path)
    err = capsys.readouterr().err
    assert words in err and str(model) in err and "Fix:" in err


def test_cuda_without_a_gpu_is_refused_up_front(tmp_path, beir_dir, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[corpus]\npath = "{beir_dir}"\n[encoder]\ndevice = "cuda"\n'
                   f'[cache]\ndir = "{tmp_path / "cache"}"\n')
    refused(["ingest", "-c", str(cfg)], tmp_path)
    assert "no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "cache" / "dataset").exists()


def test_an_empty_query_is_reported_once(tmp_path, beir_dir, caplog):
    import logging

    from bmembed_lab.pipeline import Pipeline

    from .conftest import tiny_config

    lines = (beir_dir / "queries.jsonl").read_text().splitlines()
    lines[0] = '{"_id": "q1", "text": "   "}'  # q1 has a qrel and evidence
    (beir_dir / "queries.jsonl").write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING):
        ds, _ = Pipeline(tiny_config(tmp_path, beir_dir, "all-MiniLM-L6-v2")).dataset()
    assert ds.skipped == {"empty queries": 1} and ds.empty_query_ids == ["q1"]
    assert "unknown query id" not in caplog.text


EARLIER_CASES = {
    # classes that already ended in a clear error before this file existed: kept passing here
    "config file missing": (
        lambda d: ["ingest", "-c", str(d / "nope.toml")],
        "config file not found",
    ),
    "config not TOML": (
        lambda d: ["ingest", "-c", str(_write(d / "bad.toml", "[corpus\n"))],
        "not valid TOML",
    ),
    "unknown option": (
        lambda d: ["config", "--set", "corpus.colour=red"],
        "unknown option corpus.colour",
    ),
    "unknown section": (lambda d: ["config", "--set", "paint.colour=red"], "unknown section"),
    "wrong type": (
        lambda d: ["config", "--set", "chunking.chunk_tokens=abc"],
        "should be of type int",
    ),
    "bad choice": (lambda d: ["config", "--set", "corpus.format=xml"], "is not one of"),
    "corpus path missing": (
        lambda d: ["ingest", "-c", str(_write(d / "c.toml", '[corpus]\npath = "nowhere"\n'))],
        "corpus path not found",
    ),
    "malformed JSONL line": (
        lambda d: ["ingest", "-c", str(_corpus_with(d, "{not json\n"))],
        "not a valid JSON object",
    ),
    "invalid UTF-8": (
        lambda d: ["ingest", "-c", str(_corpus_with(d, b'{"_id": "x", "text": "caf\xe9"}\n'))],
        "invalid UTF-8",
    ),
}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _corpus_with(d: Path, line) -> Path:
    (d / "corpus").mkdir(exist_ok=True)
    f = d / "corpus" / "corpus.jsonl"
    f.write_bytes(
        b'{"_id": "a", "text": "fine"}\n' + (line if isinstance(line, bytes) else line.encode())
    )
    return _write(d / "c.toml", '[corpus]\nformat = "jsonl"\npath = "corpus/corpus.jsonl"\n')


@pytest.mark.parametrize("case", EARLIER_CASES)
def test_earlier_input_errors_stay_clear(tmp_path, capsys, case):
    make_args, words = EARLIER_CASES[case]
    refused(make_args(tmp_path), tmp_path)
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


OWN_CORPUS_CASES = {
    # a first run on one's own corpus: a named file that is not there, ids that do not match
    "queries file missing": (
        'queries = "nope.jsonl"\n',
        "corpus.queries",
        '{"_id": "q1", "text": "..."}',
    ),
    "evidence file missing": (
        'queries = "q.jsonl"\nevidence = "nope.jsonl"\n',
        "corpus.evidence",
        '"doc_id": "report.pdf"',
    ),
    "qrels file missing": (
        'queries = "q.jsonl"\nqrels = "nope.tsv"\n',
        "corpus.qrels",
        "query-id, corpus-id",
    ),
}


@pytest.mark.parametrize("case", OWN_CORPUS_CASES)
def test_own_corpus_files_that_are_missing_are_named_with_an_example(tmp_path, capsys, case):
    extra, option, example = OWN_CORPUS_CASES[case]
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Kidney stones form in the kidney.")
    (tmp_path / "q.jsonl").write_text('{"_id": "q1", "text": "kidney"}\n')
    cfg = _write(tmp_path / "c.toml", '[corpus]\nformat = "folder"\npath = "docs"\n' + extra)
    refused(["ingest", "-c", str(cfg)], tmp_path)
    err = capsys.readouterr().err
    assert option in err and example in err and "Traceback" not in err


def test_evidence_naming_an_unknown_document_shows_how_documents_are_named(tmp_path, caplog):
    import logging

    from bmembed_lab.config import load_config
    from bmembed_lab.pipeline import Pipeline

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Kidney stones form in the kidney. Drink water.")
    (tmp_path / "q.jsonl").write_text('{"_id": "q1", "text": "kidney"}\n')
    (tmp_path / "ev.jsonl").write_text(
        '{"query_id": "q1", "doc_id": "a", "text": "Drink water."}\n'
    )
    cfg = _write(
        tmp_path / "c.toml",
        '[corpus]\nformat = "folder"\npath = "docs"\nqueries = "q.jsonl"\n'
        'evidence = "ev.jsonl"\n[cache]\ndir = "cache"\n',
    )
    with caplog.at_level(logging.WARNING):
        ds, _ = Pipeline(load_config(cfg)).dataset()
    assert ds.skipped == {"evidence with unknown document id": 1}
    assert "(e.g. 'a'; the loader names documents like 'a.txt'" in caplog.text


# -- silent wrong results fixed at the root: non-finite numbers, cut-offs, repeats, BOM, U+2028 --
@pytest.mark.parametrize("option, value", [
    ("bm25.k1", "nan"), ("bm25.k1", "inf"), ("sampling.ratio", "inf"), ("training.tau", "inf"),
    ("eval.dev_fraction", "nan"), ("llm.temperature", "-inf"), ("training.lr", "nan")])
def test_every_float_option_refuses_nan_and_infinity_at_load(tmp_path, capsys, option, value):
    """NaN passed every range check (k1 = nan crashed evaluate with a segfault, ratio = inf
    hung lists, tau = inf exported a model that learned nothing, dev_fraction = nan dropped
    the dev split): every float option is refused at load, named, with its range."""
    refused(["config", "--set", f"{option}={value}"], tmp_path)
    err = capsys.readouterr().err
    assert f"{option} = {value}" in err and "not a finite number" in err and "Fix:" in err


def test_cutoffs_beyond_the_ranking_depth_are_refused(tmp_path, capsys):
    refused(["config", "--set", "eval.ks=[1, 10, 200]"], tmp_path)
    err = capsys.readouterr().err
    assert "[200] beyond eval.depth = 100" in err and "raise eval.depth to 200" in err


def test_a_config_with_a_byte_order_mark_is_read(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_bytes("\ufeff[chunking]\nchunk_tokens = 128\n".encode("utf-8"))
    assert main(["config", "-c", str(cfg)]) == 0
    assert '"chunk_tokens": 128' in capsys.readouterr().out


def test_jsonl_lines_end_at_newlines_only(tmp_path):
    """U+2028, U+2029 and U+0085 are allowed raw inside a JSON string; splitting on them
    rejected the line (or, with skip_bad_lines, dropped it silently)."""
    from bmembed_lab.corpus import iter_jsonl

    f = tmp_path / "c.jsonl"
    text = "one\u2028two\u0085three\u2029four"
    f.write_text(json.dumps({"_id": "a", "text": text}, ensure_ascii=False) + "\r\n"
                 + json.dumps({"_id": "b", "text": "x"}) + "\n", encoding="utf-8")
    assert [(n, o["text"]) for n, o in iter_jsonl(f)] == [(1, text), (2, "x")]


def test_a_repeated_system_is_evaluated_once_with_a_warning(tmp_path, beir_dir, tiny_model_dir,
                                                            caplog):
    from bmembed_lab.pipeline import Pipeline

    from .conftest import tiny_config

    res = Pipeline(tiny_config(tmp_path, beir_dir, tiny_model_dir)).evaluate(["bm25", "bm25"])
    assert list(res["summary"].index) == ["bm25"]
    assert len(res["per_query"]) == res["summary"].loc["bm25", "queries"]
    assert "'bm25' is listed 2 times: it is evaluated once" in caplog.text


def test_a_model_with_its_own_code_is_refused_without_a_prompt(tmp_path, tiny_model_dir):
    """A folder whose config maps to custom code made transformers ask 'run the custom code?
    [y/N]' on the terminal; it is refused before anything loads, naming why and the fix."""
    import json as json_

    from bmembed_lab.config import EncoderConfig
    from bmembed_lab.encoder import Encoder
    from bmembed_lab.errors import InputError

    model = tmp_path / "custom"
    shutil.copytree(tiny_model_dir, model)
    cfg = json_.loads((model / "config.json").read_text())
    cfg["auto_map"] = {"AutoModel": "modeling_custom.CustomModel"}
    (model / "config.json").write_text(json_.dumps(cfg))
    with pytest.raises(InputError, match="ships its own code .*never runs"):
        Encoder.load(EncoderConfig(model=str(model), precision="fp32"))


@pytest.mark.parametrize("command, target", [
    (["evaluate", "--per-query"], "config"), (["queries", "--out"], "corpus"),
    (["queries", "--report"], "queries file"), (["lists", "--out"], "a file in the corpus folder"),
    (["run", "--json"], "config")])
def test_no_output_flag_writes_over_the_runs_own_inputs(tmp_path, capsys, command, target):
    """--out, --report, --per-query and --json overwrote the corpus, the queries or the config
    with exit 0: refused before any work, naming the input; nothing changes on disk."""
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Kidney stones form in the kidney.\n")
    (tmp_path / "q.jsonl").write_text('{"_id": "q1", "text": "kidney"}\n')
    cfg = _write(tmp_path / "c.toml", '[corpus]\nformat = "folder"\npath = "docs"\n'
                 'queries = "q.jsonl"\n')
    out = {"config": cfg, "corpus": tmp_path / "docs", "queries file": tmp_path / "q.jsonl",
           "a file in the corpus folder": tmp_path / "docs" / "a.txt"}[target]
    refused([*command, str(out), "-c", str(cfg)], tmp_path)
    assert "would write over this run's own input" in capsys.readouterr().err


def test_init_never_writes_its_config_into_the_corpus(tmp_path, capsys):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Kidney stones form in the kidney.\n")
    refused(["init", str(tmp_path / "docs"), "--out", str(tmp_path / "docs" / "a.txt"), "--force"],
            tmp_path)
    assert "would write over the corpus" in capsys.readouterr().err


def test_a_cache_or_model_inside_a_folder_corpus_is_never_read_as_documents(tmp_path,
                                                                             tiny_model_dir):
    """With cache.dir inside a folder corpus (or an export copied there), its vocab.txt and
    model cards were read back as documents: such folders are skipped and counted."""
    from collections import Counter

    from bmembed_lab.folders import folder_files

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Kidney stones form in the kidney.\n")
    cache = StageCache(docs / "cache")
    cache.ensure_root()
    (docs / "cache" / "model" / "k").mkdir(parents=True)
    (docs / "cache" / "model" / "k" / "README.md").write_text("# a model card\n")
    shutil.copytree(tiny_model_dir, docs / "exported" / "merged")
    (docs / "exported" / "train.json").write_text("{}")
    (docs / "exported" / "README.md").write_text("# a model card\n")
    skipped = Counter()
    assert folder_files(docs, skipped) == [docs / "a.txt"]
    assert skipped["files of a stage cache, export or model folder (skipped)"] >= 4


@pytest.mark.parametrize("fault, words", [("edit", "the corpus changed while it was read"),
                                          ("delete", "disappeared while the corpus was read")])
def test_a_corpus_file_that_changes_or_goes_while_it_is_read_stops_the_run_uncached(
    tmp_path, beir_dir, capsys, monkeypatch, fault, words
):
    """The key is the files' content before the read: an edit or a deletion during the read
    is named, and no cache entry is written under the stale key."""
    from bmembed_lab import corpus

    real = corpus.load_beir

    def meddling(*args, **kwargs):
        if fault == "edit":
            with open(beir_dir / "corpus.jsonl", "a", encoding="utf-8") as f:
                f.write('{"_id": "late", "text": "written during the read"}\n')
            return real(*args, **kwargs)
        out = real(*args, **kwargs)
        (beir_dir / "evidence.jsonl").unlink()
        return out

    monkeypatch.setattr(corpus, "load_beir", meddling)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[corpus]\npath = "{beir_dir}"\n[cache]\ndir = "{tmp_path / "cache"}"\n')
    assert main(["ingest", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Fix:" in err and "Traceback" not in err
    stage = tmp_path / "cache" / "dataset"
    assert not stage.exists() or not any(p for p in stage.iterdir() if p.name != ".tmp")


def test_a_complete_cache_that_cannot_be_written_is_served_read_only(tmp_path, beir_dir, capsys,
                                                                    monkeypatch):
    """A finished cache on a read-only mount (shared with a class, say) answers what it holds;
    a stage it lacks stops with the cause and the fix, and nothing in it changes."""
    import errno

    from bmembed_lab import cache as cache_mod

    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[corpus]\npath = "{beir_dir}"\n[cache]\ndir = "{tmp_path / "cache"}"\n')
    assert main(["ingest", "-c", str(cfg)]) == 0
    before = _snapshot(tmp_path / "cache")

    def read_only_mount(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(cache_mod.tempfile, "mkstemp", read_only_mount)
    capsys.readouterr()
    assert main(["ingest", "-c", str(cfg)]) == 0  # served from the read-only cache
    assert main(["chunk", "-c", str(cfg)]) == 2  # not in it: named, with the fix
    err = capsys.readouterr().err
    assert "'chunks' must be computed" in err and "Read-only file system" in err
    assert "cache.enabled = false" in err and "Traceback" not in err
    assert _snapshot(tmp_path / "cache") == before


def _disk_full(*args, **kwargs):
    import errno

    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_during_an_output_keeps_the_old_file_and_no_temporary(
    tmp_path, beir_dir, tiny_model_dir, capsys, monkeypatch
):
    import pandas as pd

    cfg = tiny_config_file(tmp_path, beir_dir, tiny_model_dir, eval__systems=["bm25"])
    out = tmp_path / "per_query.csv"
    out.write_text("an earlier table\n")

    def half_then_full(self, path, *a, **k):
        Path(path).write_text("query_id,Hit@1\nq1,")  # what a full disk leaves: a torn file
        _disk_full()

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_full)
    assert main(["evaluate", "-c", str(cfg), "--per-query", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no space left on the disk" in err and "Fix:" in err and "Traceback" not in err
    assert out.read_text() == "an earlier table\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_full_disk_during_a_checkpoint_leaves_no_half_written_folder(
    tmp_path, beir_dir, tiny_model_dir, capsys, monkeypatch
):
    """The second checkpoint's weights are written, then the disk fills (its manifest): the
    run stops with the cause, and no half-written checkpoint folder stays behind."""
    from bmembed_lab import checkpoint

    cfg = tiny_config_file(tmp_path, beir_dir, tiny_model_dir, training__steps=6,
                           training__warmup_steps=1, training__checkpoint_every=2,
                           sampling__m=3)
    real = checkpoint._write_manifest
    calls = []

    def full_at_the_second_checkpoint(folder, files):
        calls.append(folder)
        if len(calls) >= 2:
            _disk_full()
        return real(folder, files)

    # patched where the checkpoint module looks it up, so no other importer keeps the fake
    monkeypatch.setattr(checkpoint, "_write_manifest", full_at_the_second_checkpoint)
    rc = main(["train", "-c", str(cfg)])
    err = capsys.readouterr().err
    assert rc == 2, (calls, err[-2000:])
    assert "no space left on the disk" in err and "Traceback" not in err
    leftovers = [p for p in (tmp_path / "cache").rglob("*")
                 if p.name.startswith((".tmp-", ".best-tmp"))]
    assert leftovers == [] and len(calls) >= 2
    assert any((p / "weights.safetensors").exists() is False for p in calls)  # removed, too
