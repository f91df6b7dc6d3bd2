"""Safe file formats, written atomically: JSON, JSONL, npy (never pickled) and text through a
temporary file and a rename, so a crash never leaves a half-written file under its name.

In: paths and plain data. Out: the same data read back.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np


def atomic_write_lines(path: Path, lines: Iterable[str]) -> None:
    """Write ``lines`` (each ending as it should) through a uniquely named temp file in the
    same folder and a rename: safe across threads and processes, and a failure leaves no
    temporary file and the old file, if any, as it was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines(lines)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically (:func:`atomic_write_lines`)."""
    atomic_write_lines(path, [text])


@contextlib.contextmanager
def atomic_output(path: Path):
    """A temporary path beside ``path`` for a writer that takes a path (parquet, CSV): it
    becomes ``path`` when the block ends, and on any failure (a full disk) it is removed and
    ``path`` keeps what it held."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def overwrites(out: Path, source: Path) -> bool:
    """Whether writing ``out`` would replace ``source`` or a file under it (a folder corpus)."""
    out, source = out.expanduser().resolve(), source.expanduser().resolve()
    return out == source or (source.is_dir() and source in out.parents)


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(Path(path), json.dumps(obj, indent=1, default=str))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    """One JSON object per line, written atomically (rows are streamed, never all in memory)."""
    atomic_write_lines(path, (json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def save_npy(path: Path, arr: np.ndarray) -> None:
    np.save(path, np.ascontiguousarray(arr), allow_pickle=False)


def load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """The array in ``path``; with ``mmap``, memory-mapped read-only (pages load on access)."""
    return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
