"""Stage cache: hit, miss, corruption detected and recomputed, atomic writes, no pickle."""

import json
import logging
import os

import numpy as np
import pytest

from bmembed_lab.cache import ENCODE_SHARDS, StageCache, cached
from bmembed_lab.safeio import load_npy, save_npy

from .conftest import flip_last_byte


def _run(cache, calls, config=None, value=None):
    def compute():
        calls.append(1)
        return np.arange(5) if value is None else value
    return cached(cache, "stage", config or {"a": 1}, ["in"], "v1", compute,
                  lambda v, d: save_npy(d / "x.npy", v), lambda d: load_npy(d / "x.npy"))


def test_hit_and_miss(tmp_path):
    cache, calls = StageCache(tmp_path), []
    v1, k1 = _run(cache, calls)
    v2, k2 = _run(cache, calls)
    assert calls == [1] and k1 == k2 and (v1 == v2).all()
    assert cache.has("stage", k1) and not cache.has("stage", "0" * 16)
    _, k3 = _run(cache, calls, {"a": 2})
    assert calls == [1, 1] and k3 != k1
    assert StageCache.make_key("s", {"a": 1}, ["in"], "v2") != StageCache.make_key(
        "s", {"a": 1}, ["in"], "v1"
    )
    assert [r["stage"] for r in cache.entries()] == ["stage", "stage"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "manifest"])
def test_corruption_detected_reported_and_recomputed(tmp_path, caplog, damage):
    cache, calls = StageCache(tmp_path), []
    _, key = _run(cache, calls)
    entry = tmp_path / "stage" / key
    f = entry / "x.npy"
    if damage == "truncate":
        f.write_bytes(f.read_bytes()[:-8])
    elif damage == "flip":
        flip_last_byte(f)
    elif damage == "delete":
        f.unlink()
    else:
        (entry / "manifest.json").write_text("{not json")
    # `has` (listing, no checksums) sees a file missing or resized or a bad manifest, not a
    # flipped byte; reading (`lookup`) sees every kind
    assert cache.has("stage", key) == (damage == "flip")
    with caplog.at_level(logging.WARNING):
        v, _ = _run(cache, calls)
    assert calls == [1, 1] and (v == np.arange(5)).all()
    assert "corrupted" in caplog.text
    assert any(".corrupt-" in p.name for p in (tmp_path / "stage").iterdir())  # kept aside
    calls.clear()
    _run(cache, calls)
    assert calls == []  # the recomputed entry is valid


def test_failed_write_leaves_no_entry(tmp_path):
    cache = StageCache(tmp_path)

    def bad_save(v, d):
        (d / "partial.json").write_text("{")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        cached(cache, "s", {}, [], "v", lambda: 1, bad_save, lambda d: 1)
    assert not any(p.is_dir() and not p.name.startswith(".") for p in (tmp_path / "s").iterdir())
    assert list((tmp_path / "s").iterdir()) == []


def test_object_arrays_are_refused(tmp_path):
    save_npy(tmp_path / "ok.npy", np.arange(3))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        load_npy(tmp_path / "obj.npy")


def test_clear_and_disabled(tmp_path):
    cache, calls = StageCache(tmp_path), []
    _run(cache, calls)
    assert cache.clear() == 1 and cache.entries() == []
    off = StageCache(tmp_path, enabled=False)
    _run(off, calls)
    _run(off, calls)
    assert len(calls) == 3 and not (tmp_path / "stage").exists()


def test_code_version_is_fixed_per_process(tmp_path, monkeypatch):
    import importlib
    import sys

    from bmembed_lab.hashing import code_version

    mod_file = tmp_path / "stage_mod_for_test.py"
    mod_file.write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("stage_mod_for_test")
    v1 = code_version(mod)
    mod_file.write_text("X = 2  # edited while running\n")
    assert code_version(mod) == v1
    sys.modules.pop("stage_mod_for_test")


def test_code_version_of_a_module_named_by_string_reads_it_without_importing(
    tmp_path, monkeypatch
):
    import importlib
    import sys

    from bmembed_lab import hashing
    from bmembed_lab.hashing import code_version

    (tmp_path / "named_mod_for_test.py").write_text("raise RuntimeError('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    v1 = code_version("named_mod_for_test")
    assert "named_mod_for_test" not in sys.modules
    (tmp_path / "other_mod_for_test.py").write_text("raise RuntimeError('other')\n")
    assert code_version("other_mod_for_test") != v1  # the source is what is hashed
    pkg = tmp_path / "named_pkg_for_test"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "part.py").write_text("raise RuntimeError('imported')\n")
    v_pkg = code_version("named_pkg_for_test")  # a package named by string: all of its modules
    (pkg / "part.py").write_text("raise RuntimeError('edited')\n")
    hashing._SOURCE_HASHES.pop("named_pkg_for_test")
    assert code_version("named_pkg_for_test") != v_pkg and "named_pkg_for_test" not in sys.modules


def test_a_cache_keeps_the_code_hashes_so_a_read_only_open_parses_nothing(tmp_path,
                                                                        monkeypatch):
    """A writing cache leaves the modules' code hashes (by their bytes) at its root; a read-only
    one reads them and then never parses a module, and gives the same keys; a module whose
    bytes changed is parsed again; a read-only cache writes nothing."""
    import importlib

    from bmembed_lab import hashing
    from bmembed_lab.cache import CODE_HASHES, StageCache

    (tmp_path / "memo_mod_for_test.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    monkeypatch.setattr(hashing, "KNOWN_CODE", {})
    monkeypatch.setattr(hashing, "_SOURCE_HASHES", {})
    cache = StageCache(tmp_path / "cache")
    version = hashing.code_version("memo_mod_for_test")
    cache.store("stage", "k", lambda d: (d / "v.json").write_text("1"))
    assert json.loads((tmp_path / "cache" / CODE_HASHES).read_text()) == hashing.KNOWN_CODE

    monkeypatch.setattr(hashing, "KNOWN_CODE", {})  # a new process
    monkeypatch.setattr(hashing, "_SOURCE_HASHES", {})
    parsed = []
    real = hashing._code_only
    monkeypatch.setattr(hashing, "_code_only", lambda src: parsed.append(src) or real(src))
    before = (tmp_path / "cache" / CODE_HASHES).read_bytes()
    ro = StageCache(tmp_path / "cache", read_only=True)
    assert hashing.code_version("memo_mod_for_test") == version and parsed == []
    (tmp_path / "memo_mod_for_test.py").write_text("X = 2\n")
    hashing._SOURCE_HASHES.clear()
    assert hashing.code_version("memo_mod_for_test") != version and len(parsed) == 1
    assert ro.lookup("stage", "k") is not None
    assert (tmp_path / "cache" / CODE_HASHES).read_bytes() == before


def test_code_version_follows_code_not_comments_docstrings_or_layout():
    """Reflowing a long line, rewording a docstring or a comment keeps every cache key; a change
    the interpreter sees (a constant, a default) moves it."""
    from bmembed_lab.hashing import _code_only

    base = _code_only('"""Doc."""\ndef f(x, y=2):\n    """Add."""\n    return x + y\n')
    same = _code_only('"""Other words."""\n# a comment\ndef f(\n    x,\n    y=2,\n):\n'
                      '    """Add them."""\n    return (x\n            + y)  # reflowed\n')
    changed = _code_only('"""Doc."""\ndef f(x, y=3):\n    """Add."""\n    return x + y\n')
    assert same == base and changed != base


def test_a_killed_corpus_encoding_resumes_from_its_last_shard(
    tmp_path, tiny_model_dir, monkeypatch
):
    """Long encodings are written shard by shard with a checksum: killed after two shards, a
    rerun encodes only the rest; a damaged shard is encoded again; the result equals one
    unsharded encoding, and the shards go once the whole is stored."""
    import numpy as np

    from bmembed_lab.cache import StageCache
    from bmembed_lab.config import EncoderConfig
    from bmembed_lab.encoder import Encoder
    from bmembed_lab.stages import runs

    enc = Encoder.load(EncoderConfig(model=str(tiny_model_dir), precision="fp32", batch_size=2))
    texts = [f"passage number {i} about {'kidney stones ' * (i % 4)}" for i in range(11)]
    whole = enc.encode(texts, progress=False)
    cache = StageCache(tmp_path / "cache")
    seen = []
    real = Encoder.encode

    def dies_on_third(self, part, *a, **k):
        if len(seen) == 2:
            raise KeyboardInterrupt
        seen.append(len(part))
        return real(self, part, *a, **k)
    monkeypatch.setattr(Encoder, "encode", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        runs.embeddings(cache, enc, texts, False, "k", shard=3)
    shard_dir = next((tmp_path / "cache" / ENCODE_SHARDS).iterdir())
    assert sorted(p.name for p in shard_dir.glob("*.npy")) == [
        "shard-000000.npy",
        "shard-000001.npy",
    ]
    (shard_dir / "shard-000001.npy").write_bytes((shard_dir / "shard-000000.npy").read_bytes())
    seen.clear()
    monkeypatch.setattr(Encoder, "encode", lambda self, part, *a, **k: seen.append(len(part)) or
                        real(self, part, *a, **k))
    got, _ = runs.embeddings(cache, enc, texts, False, "k", shard=3)
    assert seen == [3, 3, 2]  # shard 1 (damaged) and the two never written
    np.testing.assert_allclose(got, whole, atol=1e-5)
    assert not shard_dir.exists()


def test_float16_storage_is_memory_mapped_and_ranks_like_float32(
    tmp_path, beir_dir, tiny_model_dir
):
    """encoder.storage = float16: the corpus embeddings are stored as float16, read back
    memory-mapped (the same values right after encoding as from the cache later), keyed
    apart from float32, and the dense ranking agrees with float32's."""
    from bmembed_lab.pipeline import Pipeline

    from .conftest import tiny_config

    runs_ = {}
    for storage in ("float32", "float16"):
        cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, encoder__storage=storage,
                          encoder__precision="fp32")
        fresh, key = Pipeline(cfg).chunk_embeddings("base")
        again, key2 = Pipeline(cfg).chunk_embeddings("base")
        assert key == key2 and isinstance(again, np.memmap) and again.dtype == np.dtype(storage)
        np.testing.assert_array_equal(np.asarray(fresh), np.asarray(again))
        runs_[storage] = (key, Pipeline(cfg).run("base")[0])
    assert runs_["float32"][0] != runs_["float16"][0]
    a, b = runs_["float32"][1], runs_["float16"][1]
    assert (a.indices[:, :3] == b.indices[:, :3]).mean() > 0.9
    np.testing.assert_allclose(a.scores, b.scores, atol=2e-3)


def test_a_read_only_pipeline_never_computes_or_writes(tmp_path, beir_dir, tiny_model_dir):
    """The notebooks' view: on an empty cache every stage says NotComputed and the cache folder
    is never created; once a computing pipeline filled it, the same reads return the stored
    results and leave every file as it was."""
    import os

    from bmembed_lab.errors import NotComputed
    from bmembed_lab.pipeline import Pipeline

    from .conftest import tiny_config

    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, sampling__m=3, training__steps=2,
                      training__warmup_steps=1, eval__systems=["bm25", "base", "bmembed"])
    ro = Pipeline(cfg, read_only=True)
    for read in (lambda p: p.chunks(), lambda p: p.evaluate(), lambda p: p.trained("bmembed"),
                 lambda p: p.chunk_embeddings("base")):
        with pytest.raises(NotComputed, match="not in the cache yet"):
            read(ro)
    assert not (tmp_path / "cache").exists()
    want = Pipeline(cfg).evaluate()["summary"]

    def snapshot():
        return {
            p: (p.stat().st_mtime_ns, p.stat().st_size) for p in (tmp_path / "cache").rglob("*")
        }

    before = snapshot()
    got = Pipeline(cfg, read_only=True).evaluate()["summary"]
    assert got.equals(want) and snapshot() == before
    assert os.listdir(tmp_path / "cache")  # (the computing pipeline did write)


def test_a_checksum_limit_skips_only_large_files_and_only_when_asked(tmp_path):
    """A read-only notebook needs an exported model's path and train.json, not its weights:
    ``checksum_limit`` checks large files by size only; every other read verifies them all."""
    cache = StageCache(tmp_path)

    def write(d):
        (d / "weights.bin").write_bytes(bytes(4096))
        (d / "train.json").write_text('{"steps": 3}')

    entry = cache.store("model", "k", write)
    flip_last_byte(entry.path / "weights.bin")  # same size, other bytes
    assert cache.lookup("model", "k", checksum_limit=1024) is not None
    assert cache.has("model", "k")
    assert cache.lookup("model", "k") is None  # the full check finds it (and sets it aside)
    entry = cache.store("model", "k", write)
    flip_last_byte(entry.path / "train.json")  # a small file is always verified
    assert cache.lookup("model", "k", checksum_limit=1024) is None


def test_write_jsonl_is_atomic_and_leaves_nothing_behind_on_failure(tmp_path):
    """Rows stream through a uniquely named temporary file: a writer that fails mid-way leaves
    the old file as it was and no temporary file (the old fixed '.name.tmp' stayed behind)."""
    from bmembed_lab.safeio import read_jsonl, write_jsonl

    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [{"a": 1}])

    def rows():
        yield {"a": 2}
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        write_jsonl(path, rows())
    assert read_jsonl(path) == [{"a": 1}]
    assert [f.name for f in tmp_path.iterdir()] == ["rows.jsonl"]


def test_checksums_taken_once_per_file_and_a_change_seen(tmp_path, monkeypatch):
    # a notebook reading one stage from many pipelines (08) hashes its files once; a file
    # changed afterwards (same size, in place) is still caught
    import bmembed_lab.cache as cache_mod

    cache, calls = StageCache(tmp_path, read_only=False), []
    _, key = _run(cache, calls)
    f = tmp_path / "stage" / key / "x.npy"
    os.utime(f, (f.stat().st_atime - 60, f.stat().st_mtime - 60))  # written a minute ago
    hashed = []
    real = cache_mod.file_sha256
    monkeypatch.setattr(cache_mod, "file_sha256", lambda p: hashed.append(p) or real(p))
    assert cache.lookup("stage", key) is not None and len(hashed) == 1
    assert cache.lookup("stage", key) is not None and len(hashed) == 1  # not hashed again
    flip_last_byte(f)
    assert cache.lookup("stage", key) is None and len(hashed) == 2
    _, key = _run(cache, calls)  # recomputed now: its files are hashed at every read for a while
    before = len(hashed)
    cache.lookup("stage", key), cache.lookup("stage", key)
    assert len(hashed) == before + 2
