"""A model folder's content hash, the part of every encoder cache key that names the model.

In: a model folder. Out: a 16-hex-digit hash of its config, tokenizer and weight files,
remembered by each file's path, size, modification time, inode and change time (in the process
and in a small JSON file across processes), so opening cached results never re-reads the
weights. The change time (``st_ctime``) is set by the system on every write, rename or
``touch``, and no tool can set it back, so weights swapped in with their old size and
modification time (``cp -p``, ``rsync -t``) are hashed again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path


@functools.lru_cache(maxsize=32)
def _fingerprint(path: str, stamp: tuple) -> str:
    stamp_key = hashlib.sha256(repr(stamp).encode()).hexdigest()[:16]
    memo = _read_memo()
    if memo.get(path, {}).get("stamp") == stamp_key:
        return memo[path]["fingerprint"]
    h = hashlib.sha256()
    for f in sorted(Path(path).rglob("*")):
        if f.is_file() and f.suffix in {".json", ".safetensors", ".bin", ".txt", ".model"}:
            h.update(f.relative_to(path).as_posix().encode())
            with open(f, "rb") as fh:
                while block := fh.read(1 << 22):
                    h.update(block)
    fingerprint = h.hexdigest()[:16]
    _write_memo(memo, path, stamp_key, fingerprint)
    return fingerprint


def fingerprint_memo_path() -> Path:
    """Where model fingerprints are remembered between processes (``BMEMBED_FINGERPRINT_MEMO``,
    else ``$XDG_CACHE_HOME/bmembed-lab/model-fingerprints.json``, else under ``~/.cache``)."""
    if os.environ.get("BMEMBED_FINGERPRINT_MEMO"):
        return Path(os.environ["BMEMBED_FINGERPRINT_MEMO"])
    return (Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
            / "bmembed-lab" / "model-fingerprints.json")


def _read_memo() -> dict:
    try:
        memo = json.loads(fingerprint_memo_path().read_text())
        return memo if isinstance(memo, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_memo(memo: dict, path: str, stamp_key: str, fingerprint: str, keep: int = 256) -> None:
    """Add one fingerprint to ``memo`` (as just read) and write it back. Best effort: a folder
    that cannot be written only costs the hash next time."""
    from .safeio import atomic_write_text

    memo.pop(path, None)
    memo[path] = {"stamp": stamp_key, "fingerprint": fingerprint}
    try:
        target = fingerprint_memo_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, json.dumps(dict(list(memo.items())[-keep:]), indent=0))
    except OSError:
        pass


def model_fingerprint(path: str | Path) -> str:
    """Content hash of a model folder's config, tokenizer and weights. Hashing a model's
    weights takes a while, so the hash is remembered by the files' paths, sizes, modification
    and change times and inodes: in the process, and across processes in a small JSON file
    (:func:`fingerprint_memo_path`), so that a notebook opening from the cache does not
    re-read 90 MB of weights to compute its keys."""
    path = Path(path)
    stamp = tuple((f.relative_to(path).as_posix(), s.st_size, s.st_mtime_ns, s.st_ctime_ns,
                   s.st_ino) for f in sorted(path.rglob("*")) if f.is_file() and (s := f.stat()))
    return _fingerprint(str(path.resolve()), stamp)
