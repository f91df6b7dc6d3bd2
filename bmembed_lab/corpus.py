"""Corpus ingestion (pipeline step 1 input, paper Section 3): BEIR folders, JSONL files and
folders of .txt/.md/.pdf (:mod:`bmembed_lab.folders`), all into one representation with stable
ids and metadata.

Out: a :class:`Dataset` of :class:`Document` (id, text, title, source file, page offsets),
:class:`Query`, doc-level qrels ``{query_id: {doc_id: grade}}`` and :class:`Evidence` items
(gold text and/or gold page per query). Bad input raises :class:`InputError` naming the file,
line and fix; skippable problems (empty documents, unreadable PDFs in a folder) are skipped
and counted in ``Dataset.skipped``; labels naming unknown ids are checked by
:mod:`bmembed_lab.labelcheck`.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from .errors import InputError

log = logging.getLogger(__name__)


@dataclass
class Document:
    doc_id: str
    text: str
    title: str = ""
    source: str = ""  # the file it came from
    page_starts: list[int] | None = None  # char offset where each page starts (0-based pages)
    metadata: dict = field(default_factory=dict)

    def page_at(self, offset: int) -> int | None:
        """0-based page holding character ``offset`` (None for paginationless documents)."""
        if not self.page_starts:
            return None
        lo, hi = 0, len(self.page_starts) - 1
        while lo < hi:  # last page start <= offset
            mid = (lo + hi + 1) // 2
            if self.page_starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def page_span(self, page: int) -> tuple[int, int] | None:
        """[start, end) character span of 0-based ``page``, or None if out of range."""
        if not self.page_starts or not 0 <= page < len(self.page_starts):
            return None
        end = self.page_starts[page + 1] if page + 1 < len(self.page_starts) else len(self.text)
        return self.page_starts[page], end


@dataclass
class Query:
    query_id: str
    text: str
    metadata: dict = field(default_factory=dict)


@dataclass
class Evidence:
    """One gold fact for a query: a text that a relevant chunk must contain, and/or a page."""

    query_id: str
    text: str | None = None
    doc_id: str | None = None
    page: int | None = None  # 0-based
    grade: float = 1.0


@dataclass
class Dataset:
    name: str
    documents: list[Document]
    queries: list[Query] = field(default_factory=list)
    qrels: dict[str, dict[str, float]] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    empty_query_ids: list[str] = field(default_factory=list)  # skipped as empty, counted once
    empty_doc_ids: list[str] = field(default_factory=list)  # documents skipped for no text

    def to_records(self) -> dict:
        return {"name": self.name, "documents": [asdict(d) for d in self.documents],
                "queries": [asdict(q) for q in self.queries], "qrels": self.qrels,
                "evidence": [asdict(e) for e in self.evidence], "skipped": self.skipped,
                "empty_query_ids": self.empty_query_ids, "empty_doc_ids": self.empty_doc_ids}

    @classmethod
    def from_records(cls, r: dict) -> "Dataset":
        return cls(r["name"], [Document(**d) for d in r["documents"]],
                   [Query(**q) for q in r["queries"]], r["qrels"],
                   [Evidence(**e) for e in r["evidence"]], r.get("skipped", {}),
                   r.get("empty_query_ids", []), r.get("empty_doc_ids", []))


# -- low-level readers -------------------------------------------------------------------
def read_text_file(path: Path, errors: str = "strict") -> str:
    """Decode a file as UTF-8; invalid bytes raise an InputError with line and byte offset."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig", errors=errors)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InputError(
            f"invalid UTF-8 at byte {err.start} (line {line}): {data[err.start:err.start + 4]!r}",
            str(path),
            "re-encode the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`), or set "
            "corpus.encoding_errors = \"replace\" to substitute bad bytes",
        ) from None


def iter_jsonl(path: Path, errors: str = "strict", skip_bad_lines: bool = False,
               skipped: Counter | None = None) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for every non-blank line of a JSONL file."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", str(path), "check the path in the config")
    text = read_text_file(path, errors)
    # lines end at \n, \r\n or \r only: str.splitlines would also cut at U+2028, U+0085 and
    # others, which JSON allows raw inside a string
    for n, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
        except ValueError as err:
            if skip_bad_lines:
                if skipped is not None:
                    skipped[f"malformed lines in {path.name}"] += 1
                log.warning("%s:%d: skipped malformed line (%s)", path, n, err)
                continue
            raise InputError(f"line {n} is not a valid JSON object ({err})", f"{path}:{n}",
                             "fix or delete that line, or set corpus.skip_bad_lines = true "
                             "to skip malformed lines and count them") from None
        yield n, obj


FIELD_OPTIONS = ("corpus.id_field / corpus.text_field / corpus.title_field for documents, "
                 "corpus.query_id_field / corpus.query_text_field for queries")


def _field(obj: dict, name: str, path: Path, n: int, required: bool = True, kind: str = "text",
           option: str = FIELD_OPTIONS, unit: str = "line") -> str:
    """The string value of ``obj[name]``. An id may be a string or a whole number; a text
    must be a string (a list, number, boolean, object or null is an error naming the line),
    and a string that cannot be written as UTF-8 (a lone surrogate escape) is an error too."""
    if name not in obj:
        if not required:
            return ""
        raise InputError(f"{unit} {n} has no field '{name}' (fields: {sorted(obj)})", f"{path}:{n}",
                         f"name the right field in the config: {option}")
    v = obj[name]
    if v is None and not required:
        return ""
    ok = isinstance(v, str) or (kind == "id" and isinstance(v, int) and not isinstance(v, bool))
    if not ok:
        raise InputError(f"{unit} {n}: field '{name}' is {type(v).__name__} {json.dumps(v)[:60]}, "
                         f"expected {'a string or a whole number' if kind == 'id' else 'a string'}",
                         f"{path}:{n}", f"write '{name}' as a JSON string on that line")
    v = str(v)
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{unit} {n}: field '{name}' holds an unpaired surrogate escape (\\ud800-"
                         "\\udfff), which is not text", f"{path}:{n}",
                         "fix the escape (a surrogate pair, or the character itself)") from None
    return v


# -- corpus loaders ----------------------------------------------------------------------
def load_jsonl_documents(path: Path, id_field: str = "_id", text_field: str = "text",
                         title_field: str = "title", errors: str = "strict",
                         skip_bad_lines: bool = False, skipped: Counter | None = None,
                         empty_ids: list[str] | None = None) -> list[Document]:
    """Documents from a JSONL file with configurable id/text/title fields; the ids of those
    skipped for an empty text are appended to ``empty_ids``."""
    skipped = skipped if skipped is not None else Counter()
    return documents_from_rows(iter_jsonl(Path(path), errors, skip_bad_lines, skipped),
                               Path(path), id_field, text_field, title_field, skipped, empty_ids)


def documents_from_rows(rows, path: Path, id_field: str = "_id", text_field: str = "text",
                        title_field: str = "title", skipped: Counter | None = None,
                        empty_ids: list[str] | None = None, unit: str = "line"
                        ) -> list[Document]:
    """Documents from (number, object) rows: JSONL lines, or a table's rows
    (:mod:`bmembed_lab.tables`); every other field is kept as metadata."""
    docs, seen = [], set()
    skipped = skipped if skipped is not None else Counter()
    for n, obj in rows:
        doc_id = _field(obj, id_field, path, n, kind="id", unit=unit)
        if doc_id in seen:
            raise InputError(f"duplicate document id '{doc_id}' on {unit} {n}", f"{path}:{n}",
                             "give every document a unique id")
        seen.add(doc_id)
        text = _field(obj, text_field, path, n, unit=unit)
        if not text.strip():
            skipped["documents with empty text"] += 1
            if empty_ids is not None:
                empty_ids.append(doc_id)
            continue
        meta = {k: v for k, v in obj.items() if k not in (id_field, text_field, title_field)}
        title = _field(obj, title_field, path, n, False, unit=unit)
        docs.append(Document(doc_id, text, title, path.name, metadata=meta))
    return docs


# -- queries and relevance -----------------------------------------------------------------
def load_queries(path: Path, id_field: str = "_id", text_field: str = "text",
                 errors: str = "strict", skip_bad_lines: bool = False,
                 skipped: Counter | None = None, empty_ids: list | None = None) -> list[Query]:
    """Queries from a JSONL file; an empty text is skipped, counted once and its id appended to
    ``empty_ids`` (so its labels are not reported again as naming an unknown query)."""
    path = Path(path)
    out, skipped = [], (skipped if skipped is not None else Counter())
    where: dict[str, int] = {}
    opt = "corpus.query_id_field / corpus.query_text_field"
    for n, obj in iter_jsonl(path, errors, skip_bad_lines, skipped):
        qid = _field(obj, id_field, path, n, kind="id", option=opt)
        if qid in where:
            raise InputError(f"query id '{qid}' is on line {where[qid]} and again on line {n}",
                             f"{path}:{n}", "give every query a unique id (the later text would "
                             "silently replace the earlier one)")
        where[qid] = n
        text = _field(obj, text_field, path, n, option=opt)
        if not text.strip():
            skipped["empty queries"] += 1
            if empty_ids is not None:
                empty_ids.append(qid)
            continue
        meta = {k: v for k, v in obj.items() if k not in (id_field, text_field)}
        out.append(Query(qid, text, meta))
    return out


def load_qrels_tsv(path: Path) -> dict[str, dict[str, float]]:
    """BEIR qrels: ``query-id<TAB>corpus-id<TAB>score`` with an optional header row."""
    path = Path(path)
    qrels: dict[str, dict[str, float]] = {}
    text = read_text_file(path)
    for n, row in enumerate(csv.reader(text.splitlines(), delimiter="\t"), 1):
        if not row or not "".join(row).strip():
            continue
        if n == 1 and row[0].strip().lower() in ("query-id", "query_id", "qid"):
            continue
        if len(row) < 2:
            raise InputError(
                f"line {n} has {len(row)} column(s), expected query-id, corpus-id[, score]",
                f"{path}:{n}",
                "use tab-separated columns",
            )
        try:
            grade = float(row[2]) if len(row) > 2 and row[2].strip() else 1.0
            if not math.isfinite(grade):
                raise ValueError
        except ValueError:
            raise InputError(
                f"line {n}: score '{row[2]}' is not a number, or not a finite number",
                f"{path}:{n}",
                "the third column must be a numeric relevance grade",
            ) from None
        qrels.setdefault(row[0].strip(), {})[row[1].strip()] = grade
    return qrels


def load_evidence(path: Path, errors: str = "strict") -> list[Evidence]:
    """Evidence JSONL: ``{"query_id", "text"?, "doc_id"?, "page"? (0-based), "grade"?}``."""
    path = Path(path)
    out = []
    for n, obj in iter_jsonl(path, errors):
        if "query_id" not in obj or not (obj.get("text") or obj.get("page") is not None
                                         or obj.get("doc_id")):
            raise InputError(f"line {n} needs query_id and at least one of text, page, doc_id",
                             f"{path}:{n}", "see README, 'Relevance labels'")
        qid = _field(obj, "query_id", path, n, kind="id")
        text = _field(obj, "text", path, n, required=False) or None
        doc = _field(obj, "doc_id", path, n, required=False, kind="id") or None
        page, grade = obj.get("page"), obj.get("grade", 1.0)
        if page is not None and (isinstance(page, bool) or not isinstance(page, int) or page < 0):
            raise InputError(
                f"line {n}: page {json.dumps(page)} is not a page number",
                f"{path}:{n}",
                'write the 0-based page as a whole number, e.g. "page": 3',
            )
        if (
            isinstance(grade, bool)
            or not isinstance(grade, (int, float))
            or not math.isfinite(grade)
        ):
            raise InputError(
                f"line {n}: grade {json.dumps(grade)} is not a finite number",
                f"{path}:{n}",
                'write the relevance grade as a number, e.g. "grade": 2',
            )
        out.append(Evidence(qid, text, doc, page, float(grade)))
    return out


def load_beir(folder: Path, split: str = "test", errors: str = "strict",
              skip_bad_lines: bool = False) -> Dataset:
    """A BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv (or qrels.tsv) and the
    optional evidence.jsonl extension used by the demo corpus."""
    folder = Path(folder)
    skipped: Counter = Counter()
    empty_docs: list[str] = []
    docs = load_jsonl_documents(folder / "corpus.jsonl", errors=errors,
                                skip_bad_lines=skip_bad_lines, skipped=skipped,
                                empty_ids=empty_docs)
    queries, qrels, evidence, empty = [], {}, [], []
    if (folder / "queries.jsonl").is_file():
        queries = load_queries(folder / "queries.jsonl", errors=errors,
                               skip_bad_lines=skip_bad_lines, skipped=skipped, empty_ids=empty)
    qrel_files = sorted((folder / "qrels").glob("*.tsv")) if (folder / "qrels").is_dir() else []
    if (folder / "qrels.tsv").is_file():
        qrel_files = [folder / "qrels.tsv"]
    if qrel_files:
        chosen = [p for p in qrel_files if p.stem == split] or (
            qrel_files if len(qrel_files) == 1 else []
        )
        if not chosen:
            raise InputError(f"no qrels for split '{split}' (found {[p.name for p in qrel_files]})",
                             str(folder / "qrels"), "set corpus.split to one of those names")
        qrels = load_qrels_tsv(chosen[0])
    if (folder / "evidence.jsonl").is_file():
        evidence = load_evidence(folder / "evidence.jsonl", errors)
    return Dataset(folder.name, docs, queries, qrels, evidence, dict(skipped), empty, empty_docs)


def progress(items, desc):
    """A tqdm bar over ``items`` (hidden for fewer than 20)."""
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False, disable=len(items) < 20)
