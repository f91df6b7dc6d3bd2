"""Chunk-level relevance from doc qrels, gold evidence text or gold pages (paper Section 4).

In: a Dataset and its chunks. Out: :class:`Relevance` - per query, the graded relevant chunks
and which gold facts each one holds (the Multihop-RAG MAP counts facts, not chunks).

* doc qrels: every chunk of a relevant document is relevant with the document's grade; the
  document is the fact.
* evidence text (the Multihop-RAG rule): a chunk is relevant when the gold text, with all
  whitespace removed, is a substring of the chunk with the same normalisation (case-sensitive
  by default). A fact cut by a chunk boundary matches nothing: chunking decides what is findable.
* evidence page: a chunk is relevant when its page span covers the gold page of the document.

Queries whose facts match no chunk are counted and listed, never silently dropped.

Scoring level (``eval.level``): chunks, or documents ranked by their best chunk (BEIR's and
MTEB's rule when documents are split): :meth:`Relevance.judged` turns a ranked chunk list into
what is scored. ``auto`` scores documents when every label names a document (qrels, or evidence
matched by document) and some document was split into several chunks.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from .chunking import Chunk
from .corpus import Dataset, Evidence

_WS = re.compile(r"\s+")


def normalize_evidence(text: str, case_sensitive: bool = True) -> str:
    """The Multihop-RAG normalisation: all whitespace removed (and lowercased if not
    case-sensitive)."""
    t = _WS.sub("", text)
    return t if case_sensitive else t.lower()


@dataclass
class Relevance:
    grades: dict[str, dict[int, float]]  # query id -> chunk index -> grade
    facts: dict[str, dict[int, list[int]]]  # query id -> chunk index -> gold facts it holds
    n_facts: dict[str, int]  # query id -> number of gold facts
    no_relevant: list[str] = field(default_factory=list)  # labelled queries with no relevant chunk
    unmatched_facts: int = 0  # gold facts that no chunk holds
    doc_of: list[int] | None = None  # chunk -> its document's number: scored at document level
    _documents: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def query_ids(self) -> list[str]:
        return list(self.grades)

    @property
    def level(self) -> str:
        return "chunk" if self.doc_of is None else "document"

    @property
    def level_text(self) -> str:
        """How a results header names what is ranked and scored."""
        if self.doc_of is None:
            return "scored by chunk"
        return "scored by document: each document at its best chunk's rank (eval.level)"

    def judged(self, qid: str, ranked) -> tuple[list[int], dict, dict]:
        """(the ranked units, their grades, the gold facts each holds) that score the ranked
        chunk indices ``ranked`` for query ``qid``: the chunks themselves, or at document level
        each document once, at its best chunk's rank, with its best chunk's grade and the facts
        of all of its chunks."""
        if self.doc_of is None:
            return list(ranked), self.grades[qid], self.facts[qid]
        if qid not in self._documents:
            grades: dict[int, float] = {}
            facts: dict[int, list[int]] = {}
            for c, g in self.grades[qid].items():
                d = self.doc_of[c]
                grades[d] = max(grades.get(d, 0.0), g)
                facts[d] = sorted(set(facts.get(d, [])) | set(self.facts[qid].get(c, [])))
            self._documents[qid] = grades, facts
        return collapse(ranked, self.doc_of), *self._documents[qid]

    def to_json(self) -> dict:
        return {"grades": {q: {str(c): g for c, g in d.items()} for q, d in self.grades.items()},
                "facts": {q: {str(c): f for c, f in d.items()} for q, d in self.facts.items()},
                "n_facts": self.n_facts, "no_relevant": self.no_relevant,
                "unmatched_facts": self.unmatched_facts, "doc_of": self.doc_of}

    @classmethod
    def from_json(cls, d: dict) -> "Relevance":
        return cls({q: {int(c): g for c, g in v.items()} for q, v in d["grades"].items()},
                   {q: {int(c): f for c, f in v.items()} for q, v in d["facts"].items()},
                   d["n_facts"], d["no_relevant"], d["unmatched_facts"], d.get("doc_of"))


def collapse(ranked, doc_of: list[int]) -> list[int]:
    """Document numbers in the order of their first (best) chunk in ``ranked``."""
    seen: dict[int, None] = {}
    for c in ranked:
        if c >= 0:
            seen.setdefault(doc_of[c], None)
    return list(seen)


class _TextIndex:
    """All normalised chunk texts in one string, for fast 'which chunks contain X' look-ups."""

    def __init__(self, chunks: list[Chunk], case_sensitive: bool):
        self.case_sensitive = case_sensitive
        parts, starts, pos = [], [], 0
        for c in chunks:
            t = normalize_evidence(c.body, case_sensitive)  # gold facts are document text
            starts.append(pos)
            parts.append(t)
            pos += len(t) + 1
        self.blob = "\x00".join(parts)
        self.starts = np.array(starts)

    def find(self, text: str) -> set[int]:
        needle = normalize_evidence(text, self.case_sensitive)
        hits: set[int] = set()
        if not needle:
            return hits
        i = self.blob.find(needle)
        while i != -1:
            hits.add(int(np.searchsorted(self.starts, i, side="right") - 1))
            i = self.blob.find(needle, i + 1)
        return hits


def chunk_relevance(ds: Dataset, chunks: list[Chunk], match: str = "auto",
                    case_sensitive: bool = True, level: str = "auto") -> Relevance:
    """Lift the dataset's labels onto chunks (see the module docstring). ``match`` = auto | text |
    page | doc forces how evidence items are matched; queries without evidence use doc qrels.
    ``level`` = auto | chunk | document: the scoring level (module docstring)."""
    by_doc: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(chunks):
        by_doc[c.doc_id].append(i)
    needs_text = match in ("auto", "text") and any(e.text for e in ds.evidence)
    index = _TextIndex(chunks, case_sensitive) if needs_text else None
    ev_by_q: dict[str, list[Evidence]] = defaultdict(list)
    for e in ds.evidence:
        ev_by_q[e.query_id].append(e)

    grades: dict[str, dict[int, float]] = {}
    facts: dict[str, dict[int, list[int]]] = {}
    n_facts: dict[str, int] = {}
    no_rel, unmatched = [], 0
    doc_labels = True  # every label names a document (qrels, or evidence matched by document)
    for q in ds.queries:
        items = ev_by_q.get(q.query_id)
        hits: list[set[int]] = []
        fact_grades: list[float] = []
        if items:
            for e in items:
                hits.append(_match_evidence(e, chunks, by_doc, index, match))
                fact_grades.append(e.grade)
                doc_labels &= _mode(e, match) == "doc"
        elif q.query_id in ds.qrels:
            for doc_id, g in ds.qrels[q.query_id].items():
                if g > 0:
                    hits.append(set(by_doc.get(doc_id, [])))
                    fact_grades.append(g)
        else:
            continue  # unlabelled query: not an evaluation query
        g_q: dict[int, float] = {}
        f_q: dict[int, list[int]] = defaultdict(list)
        for fi, (h, g) in enumerate(zip(hits, fact_grades)):
            unmatched += not h
            for c in h:
                g_q[c] = max(g_q.get(c, 0.0), g)
                f_q[c].append(fi)
        if not g_q:
            no_rel.append(q.query_id)
            continue
        grades[q.query_id], facts[q.query_id], n_facts[q.query_id] = g_q, dict(f_q), len(hits)
    split = any(len(v) > 1 for v in by_doc.values())
    rel = Relevance(grades, facts, n_facts, no_rel, unmatched)
    if level == "document" or (level == "auto" and doc_labels and split and grades):
        number = {d: i for i, d in enumerate(by_doc)}
        rel.doc_of = [number[c.doc_id] for c in chunks]
    return rel


def _mode(e: Evidence, match: str) -> str:
    if match != "auto":
        return match
    return "text" if e.text else ("page" if e.page is not None else "doc")


def _match_evidence(e: Evidence, chunks: list[Chunk], by_doc: dict[str, list[int]],
                    index: _TextIndex | None, match: str) -> set[int]:
    scope = set(by_doc.get(e.doc_id, [])) if e.doc_id is not None else None
    mode = _mode(e, match)
    if mode == "text" and e.text and index is not None:
        found = index.find(e.text)
        return found & scope if scope is not None else found
    if mode == "page" and e.page is not None and scope is not None:
        return {i for i in scope
                if chunks[i].page_start is not None
                and chunks[i].page_start <= e.page <= chunks[i].page_end}
    if mode == "doc" and scope is not None:
        return scope
    return set()
