"""Stage `dataset`: read the corpus, the evaluation queries and their labels (paper Section 4's
data; the formats are ours: BEIR folder, JSONL file, folder of .txt/.md/.pdf).

Key: the ``[corpus]`` options that change what is read (not the paths' spelling) and a
fingerprint of every file read (contents and names relative to the corpus). Saved as
``documents.jsonl`` + ``dataset.json``. Algorithm: :mod:`bmembed_lab.corpus`.

The stages computed from the documents alone (chunks, and through them BM25, the corpus
embeddings and every run's chunk side) take :func:`documents_key` instead: a hash of the
documents as read, so changing only the evaluation queries or their labels never re-chunks or
re-encodes the corpus.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from .. import corpus, folders, labelcheck, tables
from ..cache import DATASET, StageCache, cached
from ..hashing import code_version, files_fingerprint, texts_key
from ..safeio import read_json, read_jsonl, write_json, write_jsonl
from ..config import Config
from ..corpus import Dataset
from ..errors import InputError

STAGE = DATASET


def corpus_files(cfg: Config) -> list[Path]:
    """Every file the loader reads: the corpus file or folder's files, and the queries, qrels
    and evidence files the config names."""
    c = cfg.corpus
    root = cfg.resolve(c.path)
    if not root.exists():
        raise InputError(
            "corpus path not found",
            str(root),
            "set corpus.path (relative to the config file) to an existing file or folder",
        )
    if root.is_dir() and c.format == "folder":
        files = folders.folder_files(root)
    elif root.is_dir() and c.format == "datasets":  # state.json and its Arrow files
        files = sorted(p for p in root.rglob("*") if p.is_file())
    elif root.is_dir():  # BEIR: the files the loader opens
        files = [p for p in (root / "corpus.jsonl", root / "queries.jsonl", root / "qrels.tsv",
                             root / "evidence.jsonl") if p.is_file()]
        files += sorted((root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
    else:
        files = [root]
    named = []
    for option in ("queries", "qrels", "evidence"):
        if getattr(c, option):
            path = cfg.resolve(getattr(c, option))
            if not path.is_file():
                raise InputError(
                    f"{option} file not found",
                    f"corpus.{option} = {str(path)!r}",
                    f"set corpus.{option} (relative to the config file) to an existing "
                    "file, or leave it out"
                    + {
                        "queries": ' (JSONL, one {"_id": "q1", "text": "..."} per line)',
                        "qrels": " (TSV: query-id, corpus-id, score)",
                        "evidence": ' (JSONL, e.g. {"query_id": "q1", "doc_id": '
                        '"report.pdf", "text": "a gold sentence"})',
                    }[option],
                )
            named.append(path)
    return files + named


def _read(cfg: Config) -> Dataset:
    c = cfg.corpus
    path = cfg.resolve(c.path)
    if c.format == "beir":
        if not path.is_dir():
            raise InputError(
                "corpus.format = 'beir' needs a folder",
                str(path),
                "point corpus.path at a folder with corpus.jsonl, or set corpus.format",
            )
        ds = corpus.load_beir(path, c.split, c.encoding_errors, c.skip_bad_lines)
    else:
        skipped: Counter = Counter()
        empty: list[str] = []
        if c.format == "jsonl":
            docs = corpus.load_jsonl_documents(path, c.id_field, c.text_field, c.title_field,
                                               c.encoding_errors, c.skip_bad_lines, skipped, empty)
        elif c.format in tables.FORMATS:
            docs = corpus.documents_from_rows(tables.rows(path, c.format), path, c.id_field,
                                              c.text_field, c.title_field, skipped, empty, "row")
        else:
            docs = folders.load_folder_documents(path, c.encoding_errors, skipped,
                                                 c.folder_titles, empty)
        ds = Dataset(path.stem, docs, skipped=dict(skipped), empty_doc_ids=empty)
    if c.queries:
        skipped = Counter({k: v for k, v in ds.skipped.items() if k != "empty queries"})
        ds.empty_query_ids = []
        ds.queries = corpus.load_queries(cfg.resolve(c.queries), c.query_id_field,
                                         c.query_text_field, c.encoding_errors, c.skip_bad_lines,
                                         skipped, ds.empty_query_ids)
        ds.skipped = dict(skipped)
    if c.qrels:
        ds.qrels = corpus.load_qrels_tsv(cfg.resolve(c.qrels))
    if c.evidence:
        ds.evidence = corpus.load_evidence(cfg.resolve(c.evidence), c.encoding_errors)
    return labelcheck.check_dataset(ds, str(path))


def _save(ds: Dataset, d: Path) -> None:
    r = ds.to_records()
    write_jsonl(d / "documents.jsonl", r.pop("documents"))
    write_json(d / "dataset.json", r)


def _load(d: Path) -> Dataset:
    return Dataset.from_records({**read_json(d / "dataset.json"),
                                 "documents": read_jsonl(d / "documents.jsonl")})


def dataset(cfg: Config, cache: StageCache) -> tuple[Dataset, str]:
    """(the dataset, its key)."""
    c = cfg.corpus
    conf = {k: v for k, v in asdict(c).items()
            if k not in ("max_queries", "path", "queries", "qrels", "evidence")}
    conf["files"] = {k: bool(getattr(c, k)) for k in ("queries", "qrels", "evidence")}
    root = cfg.resolve(c.path)
    files = corpus_files(cfg)
    before = _stamps(files, root)
    fingerprint = _gone_is_named(root, files_fingerprint, files,
                                 root if root.is_dir() else root.parent)

    def compute() -> Dataset:  # what was read is what the key names, or nothing is cached
        ds = _gone_is_named(root, _read, cfg)
        if _stamps(files, root) != before:
            raise InputError("the corpus changed while it was read", str(root),
                             "let whatever writes it finish, then run again (nothing was cached)")
        return ds

    return cached(cache, STAGE, conf, [fingerprint],
                  code_version(corpus, folders, labelcheck, tables), compute, _save, _load)


def _stamps(files: list[Path], root: Path) -> list[tuple]:
    """Each file's size, modification and change time: any write while the corpus is read
    moves one. A file gone meanwhile is an error that names it."""
    return _gone_is_named(root, lambda: [(str(p), s.st_size, s.st_mtime_ns, s.st_ctime_ns)
                                         for p in files for s in [p.stat()]])


def _gone_is_named(root: Path, fn, *args):
    try:
        return fn(*args)
    except FileNotFoundError as err:
        raise InputError(f"{err.filename} disappeared while the corpus was read", str(root),
                         "let whatever moves it finish, then run again (nothing was cached)"
                         ) from None


def documents_key(ds: Dataset) -> str:
    """A key of the documents alone (ids, titles, texts, sources, pages, metadata), whatever
    queries, labels or evidence were read beside them."""
    return "documents-" + texts_key([json.dumps(asdict(d), sort_keys=True, ensure_ascii=False)
                                     for d in ds.documents])
