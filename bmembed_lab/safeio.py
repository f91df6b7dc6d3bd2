"""Safe file formats, written atomically: JSON, JSONL, npy (never pickled) and text through a
temporary file and a rename, so a crash never leaves a half-written file under its name.

In: paths and plain data. Out: the same data read back.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np


def atomic_write_text(path: Path, text: str) -> None:
    """Write through a uniquely named temp file and a rename (safe across threads/processes)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj: Any) -> None:
    atomic_write_text(Path(path), json.dumps(obj, indent=1, default=str))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def save_npy(path: Path, arr: np.ndarray) -> None:
    np.save(path, np.ascontiguousarray(arr), allow_pickle=False)


def load_npy(path: Path, mmap: bool = False) -> np.ndarray:
    """The array in ``path``; with ``mmap``, memory-mapped read-only (pages load on access)."""
    return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
