"""What a cache key is made of: stable hashes of configs, files, texts and code.

``stable_hash`` (a JSON-serialisable config), ``files_fingerprint`` (input files, by content
and relative name), ``texts_key`` (a list of strings), ``code_version`` (the code of the
modules that compute a stage, not their comments or layout) and ``file_sha256`` (a manifest's
checksums). The cache (:mod:`bmembed_lab.cache`) combines them into stage keys.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any


def stable_hash(obj: Any, length: int = 16) -> str:
    """sha256 of a JSON-serialisable object with sorted keys; hex prefix of ``length``."""
    blob = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


_SOURCE_HASHES: dict[str, str] = {}
# sha256 of a module's files as stored (names and bytes) -> its code hash: parsing every module
# took most of a second of each notebook's open, reading them takes milliseconds. A cache keeps
# this table beside its entries (StageCache: CODE_HASHES), so a read-only open parses nothing.
KNOWN_CODE: dict[str, str] = {}


def _code_only(source: str) -> bytes:
    """The source as Python reads it: parsed, docstrings dropped, printed back by ``ast``. A
    comment, a docstring or a reflowed line therefore leaves every cache key where it was;
    only a change the interpreter can see moves one."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree).encode()


def code_version(*modules: ModuleType | str) -> str:
    """Hash of the code of the given modules: editing a stage's code invalidates its entries,
    editing its comments, docstrings or layout does not (:func:`_code_only`).
    Each module's hash is taken once per process, so a file edited while a run is under way
    does not change the keys of the code that is actually running.
    A package counts with every ``.py`` file in its folder. A module given by its dotted name is
    read without being imported (one that imports torch, for a key computed without it)."""
    h = hashlib.sha256()
    for m in modules:
        name = m if isinstance(m, str) else m.__name__
        if name not in _SOURCE_HASHES:
            if isinstance(m, str):
                spec = importlib.util.find_spec(m)
                files = [p for d in spec.submodule_search_locations or []
                         for p in sorted(Path(d).rglob("*.py"))] or [Path(spec.origin)]
            elif hasattr(m, "__path__"):  # a package: all of its modules
                files = [p for d in m.__path__ for p in sorted(Path(d).rglob("*.py"))]
            else:
                files = [Path(inspect.getsourcefile(m))]
            raw = hashlib.sha256(b"".join(p.name.encode() + b"\0" + p.read_bytes()
                                          for p in files)).hexdigest()
            if raw not in KNOWN_CODE:
                src = b"".join(p.name.encode() + _code_only(p.read_text(encoding="utf-8"))
                               for p in files)
                KNOWN_CODE[raw] = hashlib.sha256(src).hexdigest()
            _SOURCE_HASHES[name] = KNOWN_CODE[raw]
        h.update(_SOURCE_HASHES[name].encode())
    return h.hexdigest()[:12]


def files_fingerprint(paths: list[Path], root: Path | None = None) -> str:
    """Hash of the files' contents and their names relative to ``root`` (else their base
    names): the same data gives the same key however the config spells its path
    ("configs/../data" or an absolute one)."""
    h = hashlib.sha256()
    for p in sorted(paths):
        name = os.path.relpath(os.path.abspath(p), os.path.abspath(root)) if root else Path(p).name
        h.update(name.encode())
        with open(p, "rb") as f:
            while block := f.read(1 << 22):
                h.update(block)
    return h.hexdigest()[:16]


def texts_key(texts: list[str]) -> str:
    """Hash of a list of strings, order and boundaries included (an input key for stages
    whose input is text, such as query embeddings)."""
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode())
        h.update(b"\x00")
    return h.hexdigest()[:16]


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
