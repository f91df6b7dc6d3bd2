"""On-disk stage cache: every stage result keyed by hash(stage, config, input keys, code version).

Layout: ``<root>/<stage>/<key>/`` holding the stage's files plus ``manifest.json`` (sha256 and
size of every file, the config and input keys that produced it). An entry is written into a
temporary sibling folder and renamed into place, so a crash never leaves a half-written entry
under a valid key. On read every file is checked against the manifest; a truncated or
corrupted entry is reported, moved aside and recomputed. Formats are JSON/JSONL, npy and
parquet/safetensors written by the stages themselves - never pickle (``np.load`` is always
called with ``allow_pickle=False``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar


from .errors import InputError, NotComputed
from . import hashing
from .hashing import file_sha256, stable_hash
from .safeio import atomic_write_text

log = logging.getLogger(__name__)
T = TypeVar("T")
MANIFEST = "manifest.json"
# Written at the cache root when the workbench creates it (or adopts an empty folder, never
# one for what it holds): nothing is ever deleted from a folder without it.
MARKER = ".bmembed-cache"
MARKER_TEXT = ("This folder is a bmembed-lab stage cache. `bmembed-lab cache clear` deletes\n"
               "only folders that hold this file. Delete it by hand if you no longer need it.\n")

# -- the cache's layout: every folder name the cache holds is spelled here, and only here ----
# stage folders (<root>/<stage>/<key>/), in the order the method computes them
DATASET, CHUNKS, RELEVANCE = "dataset", "chunks", "relevance"
QUERIES, HELDOUT = "queries", "heldout_queries"
RANKING, LISTS = "train_ranking", "lists"
NEGATIVES, MODEL, AUTO = "negatives", "model", "auto"
EMBEDDINGS, BM25_RUN, DENSE_RUN, RRF_RUN = "embeddings", "bm25_run", "dense_run", "rrf_run"
EVALUATION, CHECK = "evaluation", "check"
PERTURBATIONS, STUDY = "perturbations", "perturbation_study"
DIAGNOSTICS, EMBEDDING_MAP = "diagnostics", "embedding_map"
STAGE_FOLDERS = (DATASET, CHUNKS, RELEVANCE, QUERIES, HELDOUT, RANKING, LISTS, NEGATIVES, MODEL,
                 AUTO, EMBEDDINGS, BM25_RUN, DENSE_RUN, RRF_RUN, EVALUATION, CHECK, PERTURBATIONS,
                 STUDY, DIAGNOSTICS, EMBEDDING_MAP)
# sub-stores: folders that are not stage entries (keyed by run, not by stage key)
LLM_CALLS = "llm_calls"  # one file per LLM reply, so an interrupted generation resumes
TRAIN_RUNS = "train_runs"  # checkpoints of unfinished training runs
ENCODE_SHARDS = "encode_shards"  # finished shards of unfinished encodings
TRACKING = "tracking"  # experiment trackers' logs, one folder per training run (report_to)
SUB_STORES = (LLM_CALLS, TRAIN_RUNS, ENCODE_SHARDS, TRACKING)
# files at the root: the code hashes of the modules by their contents (hashing.KNOWN_CODE)
CODE_HASHES = "code_hashes.json"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# files this process has checksummed, by (path, size, mtime, inode): a notebook that reads one
# stage from several pipelines (08: twelve variants) hashes its files once, not once per read.
# Entries are written by a new file renamed into place (a new inode), so a rewrite is seen; a
# file changed in the last seconds is hashed again (a clock tick can hide a change: racy git).
_VERIFIED: dict[tuple, str] = {}
_SETTLED_NS = 2_000_000_000


class CacheCorruption(RuntimeError):
    """A cache entry failed its integrity check."""


@dataclass(frozen=True)
class Entry:
    stage: str
    key: str
    path: Path
    manifest: dict


class StageCache:
    """A folder of stage results. ``enabled=False`` computes everything and stores nothing;
    ``read_only=True`` only reads: a missing stage raises :class:`~.errors.NotComputed` instead
    of being computed, and nothing is ever written (the notebooks open this way)."""

    def __init__(self, root: str | os.PathLike, enabled: bool = True, read_only: bool = False):
        self.root = Path(root)
        self.enabled = enabled
        self.read_only = read_only
        self.unwritable = ""  # why a cache served read-only cannot be written (check_writable)
        self._code_hashes = self._read_code_hashes()

    # -- the code hashes kept beside the entries ----------------------------------------
    def _read_code_hashes(self) -> int:
        """Add the root's :data:`CODE_HASHES` to ``hashing.KNOWN_CODE``; how many it held. An
        unreadable file counts as none (it only saves parsing)."""
        try:
            known = json.loads((self.root / CODE_HASHES).read_text())
        except (OSError, ValueError):
            return 0
        if isinstance(known, dict):
            hashing.KNOWN_CODE.update({k: v for k, v in known.items()
                                       if isinstance(k, str) and isinstance(v, str)})
        return len(known) if isinstance(known, dict) else 0

    def _write_code_hashes(self) -> None:
        if len(hashing.KNOWN_CODE) != self._code_hashes and self.root.is_dir():
            atomic_write_text(self.root / CODE_HASHES, json.dumps(hashing.KNOWN_CODE, indent=0))
            self._code_hashes = len(hashing.KNOWN_CODE)

    # -- the root and its marker -------------------------------------------------------
    @property
    def marked(self) -> bool:
        """True when the root holds the marker: the workbench created (or adopted) it."""
        return (self.root / MARKER).is_file()

    def ensure_root(self) -> None:
        """Create the root with its marker; an existing folder is marked only when it is
        empty, never because of what it holds (a user's folder of manifest.json files looked
        like a cache and was then emptied by ``cache clear``)."""
        if not self.root.exists():
            self.root.mkdir(parents=True, exist_ok=True)
        if not self.marked and not any(self.root.iterdir()):
            atomic_write_text(self.root / MARKER, MARKER_TEXT)

    def check_writable(self) -> None:
        """Fail before any work when the cache cannot be written (a finished stage would
        otherwise be lost at the write), saying how to fix it. A marked cache that holds
        entries but cannot be written (a finished cache shared read-only) is served read-only
        instead: what it holds loads, and a stage it lacks stops with :meth:`refusal`."""
        if not self.enabled:
            return
        try:
            self.ensure_root()
            fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=self.root)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            self.unwritable = err.strerror or str(err)
            if self.marked and self.stage_names():
                log.warning("the cache folder %s cannot be written (%s): serving what it holds "
                            "read-only", self.root, self.unwritable)
                self.read_only = True
                return
            raise self.refusal() from None

    def refusal(self, stage: str = "") -> InputError:
        """The error for work that must be stored in a cache that cannot be written."""
        what = f"'{stage}' must be computed, but the" if stage else "the"
        return InputError(f"{what} cache folder {self.root} cannot be written ({self.unwritable})",
                          "cache.dir", "point cache.dir at a writable folder, or set "
                          "cache.enabled = false to compute without storing anything")

    def sub_store(self, name: str) -> Path:
        """The folder of a sub-store (``llm_calls``: one file per LLM reply; ``train_runs``:
        resumable checkpoints per training run; ``encode_shards``: finished shards of
        unfinished corpus encodings), created inside the marked root."""
        if name not in SUB_STORES:
            raise ValueError(f"unknown sub-store {name!r}; known: {SUB_STORES}")
        if self.read_only:
            raise self.refusal(name) if self.unwritable else NotComputed(name)
        self.ensure_root()
        return self.root / name

    # -- keys ---------------------------------------------------------------------------
    @staticmethod
    def make_key(stage: str, config: Any, inputs: Iterable[str], version: str) -> str:
        return stable_hash(
            {"stage": stage, "config": config, "inputs": list(inputs), "code": version}
        )

    # -- read ---------------------------------------------------------------------------
    def lookup(self, stage: str, key: str, checksum_limit: int | None = None) -> Entry | None:
        """The verified entry for (stage, key), or None when absent or corrupted (moved aside).
        ``checksum_limit``: files larger than this many bytes are checked for presence and size
        only (for a read-only caller that never reads them, such as a notebook that needs an
        exported model's path and train.json but not its weights); None checks every file."""
        path = self.root / stage / key
        if not self.enabled or not path.is_dir():
            return None
        try:
            manifest = self._verify(path, checksum_limit)
        except CacheCorruption as err:
            if self.read_only:  # never moves anything: the next computing run sets it aside
                log.warning("cache entry %s/%s is corrupted (%s)", stage, key, err)
                return None
            bad = path.with_name(f"{key}.corrupt-{int(time.time())}-{os.getpid()}")
            try:
                os.replace(path, bad)
                log.warning("cache entry %s/%s is corrupted (%s); recomputing (old entry kept at "
                            "%s)", stage, key, err, bad)
            except FileNotFoundError:  # another process set it aside first
                pass
            except OSError as move_err:  # a read-only cache: leave it, recompute in memory
                log.warning("cache entry %s/%s is corrupted (%s) and cannot be set aside (%s); "
                            "recomputing", stage, key, err, move_err)
            return None
        if not self.read_only:  # a run that found its stages cached leaves their code hashes
            self._write_code_hashes()
        return Entry(stage, key, path, manifest)

    def has(self, stage: str, key: str) -> bool:
        """Whether (stage, key) is in the cache: its manifest and every file it lists, at the
        listed size. Cheap (no checksums), for listing what exists; reading an entry goes
        through :meth:`lookup`, which verifies the checksums (a model's 90 MB of weights are
        hashed when the model is loaded, not when a notebook lists the cached models)."""
        path = self.root / stage / key
        if not self.enabled or not path.is_dir():
            return False
        try:
            self._verify(path, checksum_limit=-1)
        except CacheCorruption:
            return False
        return True

    @staticmethod
    def _verify(path: Path, checksum_limit: int | None = None) -> dict:
        mf = path / MANIFEST
        try:
            manifest = json.loads(mf.read_text())
        except (OSError, ValueError) as err:
            raise CacheCorruption(f"unreadable manifest: {err}") from None
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(files, dict) or not all(
            isinstance(m, dict)
            and isinstance(m.get("size"), int)
            and isinstance(m.get("sha256"), str)
            for m in files.values()
        ):
            raise CacheCorruption("the manifest has no valid file list")
        for name, meta in files.items():
            f = path / name
            if not f.is_file():
                raise CacheCorruption(f"missing file {name}")
            if f.stat().st_size != meta["size"]:
                raise CacheCorruption(
                    f"{name} has {f.stat().st_size} bytes, expected {meta['size']}"
                )
            if checksum_limit is not None and meta["size"] > checksum_limit:
                continue
            st = f.stat()
            seen = (str(f), st.st_size, st.st_mtime_ns, st.st_ino)
            if _VERIFIED.get(seen) != meta["sha256"]:
                if file_sha256(f) != meta["sha256"]:
                    raise CacheCorruption(f"{name} checksum mismatch")
                if time.time_ns() - st.st_mtime_ns > _SETTLED_NS:
                    _VERIFIED[seen] = meta["sha256"]
        return manifest

    # -- write --------------------------------------------------------------------------
    def store(
        self, stage: str, key: str, write: Callable[[Path], None], info: dict | None = None
    ) -> Entry:
        """Run ``write(tmpdir)``, checksum what it wrote and atomically publish it as the entry."""
        if self.read_only:
            raise NotComputed(stage)
        self.ensure_root()
        final = self.root / stage / key
        final.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(final.parent)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.{os.getpid()}.", dir=final.parent))
        try:
            write(tmp)
            files = {  # every file, sub-folders included (exported models have some)
                p.relative_to(tmp).as_posix(): {"sha256": file_sha256(p), "size": p.stat().st_size}
                for p in sorted(tmp.rglob("*")) if p.is_file()
            }
            manifest = {"stage": stage, "key": key, "created": time.time(), "files": files,
                        **(info or {})}
            atomic_write_text(tmp / MANIFEST, json.dumps(manifest, indent=1, default=str))
            if final.exists():  # a concurrent writer won; keep theirs
                shutil.rmtree(tmp)
            else:
                os.replace(tmp, final)
            self._write_code_hashes()
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return Entry(stage, key, final, manifest)

    # -- listing ------------------------------------------------------------------------
    def entries(self) -> list[dict]:
        """One row per stage entry (stage, key, bytes, created, corrupt); sub-stores excluded."""
        rows = []
        if not self.root.is_dir():
            return rows
        for stage_dir in sorted(p for p in self.root.iterdir()
                                if p.is_dir() and p.name not in SUB_STORES):
            for e in sorted(stage_dir.iterdir()):
                if not e.is_dir() or e.name.startswith("."):
                    continue
                size = sum(f.stat().st_size for f in e.rglob("*") if f.is_file())
                try:
                    created = json.loads((e / MANIFEST).read_text()).get("created")
                except (OSError, ValueError):
                    created = None
                rows.append({"stage": stage_dir.name, "key": e.name, "bytes": size,
                             "created": created, "corrupt": ".corrupt-" in e.name})
        return rows

    def sub_store_usage(self) -> dict[str, tuple[int, int]]:
        """Sub-store name -> (files, bytes), for the sub-stores present."""
        out = {}
        for name in SUB_STORES:
            d = self.root / name
            if d.is_dir():
                files = [f for f in d.rglob("*") if f.is_file()]
                out[name] = (len(files), sum(f.stat().st_size for f in files))
        return out

    def stage_names(self) -> list[str]:
        """Names of the stage folders (and sub-stores) present under the root."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir()
                      if p.is_dir() and not p.is_symlink() and _NAME.fullmatch(p.name))

    def clear(self, stage: str | None = None, missing_ok: bool = True) -> int:
        """Delete every entry (or one stage's); returns the number of entries removed.

        Only folders inside a marked cache root are ever removed, and ``stage`` must be the
        plain name of a folder present there: a path, ``..`` or an unknown name is an
        :class:`InputError` (an absent but well-formed name returns 0 when ``missing_ok``)."""
        if stage is not None and (not _NAME.fullmatch(stage) or stage in (".", "..")):
            raise InputError(f"{stage!r} is not a stage name", "--stage",
                             "name one stage folder of the cache: " + _names_hint(self))
        if not self.root.is_dir():
            return 0
        if not self.marked:
            raise InputError(f"{self.root} is not a bmembed-lab cache (it has no {MARKER} file), "
                             "so nothing in it is deleted", "cache.dir",
                             "point cache.dir at the cache folder the workbench created "
                             "(default .bmembed_cache beside the config); a cache made before "
                             f"the marker existed is adopted by creating {MARKER} in it")
        names = self.stage_names()
        if stage is not None and stage not in names:
            if missing_ok:
                return 0
            raise InputError(f"the cache has no stage {stage!r}", "--stage",
                             "name one of: " + _names_hint(self))
        targets = [stage] if stage else names
        n = sum(1 for r in self.entries() if r["stage"] in targets)
        for name in targets:
            shutil.rmtree(self.root / name)
        return n


def _remove_stale_temporaries(folder: Path) -> None:
    """Remove entry folders being written (``.<key>.<pid>.*``) whose writer process is gone:
    what a kill during a write (an export, say) leaves behind."""
    for p in folder.glob(".*.*.*"):
        parts = p.name.split(".")
        if p.is_dir() and len(parts) >= 4 and parts[2].isdigit() and not _alive(int(parts[2])):
            shutil.rmtree(p, ignore_errors=True)
            log.info("removed %s, left by an interrupted write", p)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _names_hint(cache: StageCache) -> str:
    return ", ".join(cache.stage_names()) or "(the cache is empty)"


def cached(cache: StageCache, stage: str, config: Any, inputs: Iterable[str], version: str,
           compute: Callable[[], T], save: Callable[[T, Path], None],
           load: Callable[[Path], T]) -> tuple[T, str]:
    """Return (value, key): loaded from the cache when a verified entry exists, else computed
    and stored. ``load`` failing on a verified entry counts as corruption and recomputes."""
    key = StageCache.make_key(stage, config, inputs, version)
    entry = cache.lookup(stage, key)
    if entry is not None:
        try:
            return load(entry.path), key
        except Exception as err:  # noqa: BLE001 - any decode failure means recompute
            log.warning("cache entry %s/%s could not be read (%s); recomputing", stage, key, err)
            if not cache.read_only:
                shutil.rmtree(entry.path, ignore_errors=True)
    if cache.read_only and cache.enabled:
        raise cache.refusal(stage) if cache.unwritable else NotComputed(stage)
    value = compute()
    if cache.enabled:
        cache.store(
            stage, key, lambda d: save(value, d), {"config": config, "inputs": list(inputs)}
        )
    return value, key
