"""Bad inputs and faults, table-driven: each gets exit code 2, a message naming the input and
the fix, and leaves every file outside the cache as it was."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from bmembed_lab.cache import MARKER, StageCache, cached, load_npy, save_npy
from bmembed_lab.cli import main


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
            for p in sorted(root.rglob("*")) if p.is_file() and ".bmembed_cache" not in p.parts}


def _project(tmp_path: Path, cache_dir: str = ".bmembed_cache") -> Path:
    """A config folder with a user's files beside it and a filled stage cache."""
    proj = tmp_path / "project"
    (proj / "my_documents").mkdir(parents=True)
    (proj / "my_documents" / "notes.txt").write_text("a user's document\n")
    (proj / "results.csv").write_text("run,score\n1,0.5\n")
    cfg = proj / "my.toml"
    cfg.write_text(f'[corpus]\nformat = "folder"\npath = "my_documents"\n[cache]\ndir = "{cache_dir}"\n')
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


def test_a_cache_from_before_the_marker_is_adopted_but_a_user_folder_is_not(tmp_path):
    old = tmp_path / "old_cache"
    (old / "chunks" / "abc").mkdir(parents=True)
    (old / "chunks" / "abc" / "manifest.json").write_text("{}")
    (old / "train_runs" / "k").mkdir(parents=True)
    StageCache(old).ensure_root()
    assert (old / MARKER).is_file()
    user = tmp_path / "user"
    (user / "photos").mkdir(parents=True)
    StageCache(user).ensure_root()
    assert not (user / MARKER).exists()
