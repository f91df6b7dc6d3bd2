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

    @property
    def query_ids(self) -> list[str]:
        return list(self.grades)

    def to_json(self) -> dict:
        return {"grades": {q: {str(c): g for c, g in d.items()} for q, d in self.grades.items()},
                "facts": {q: {str(c): f for c, f in d.items()} for q, d in self.facts.items()},
                "n_facts": self.n_facts, "no_relevant": self.no_relevant,
                "unmatched_facts": self.unmatched_facts}

    @classmethod
    def from_json(cls, d: dict) -> "Relevance":
        return cls({q: {int(c): g for c, g in v.items()} for q, v in d["grades"].items()},
                   {q: {int(c): f for c, f in v.items()} for q, v in d["facts"].items()},
                   d["n_facts"], d["no_relevant"], d["unmatched_facts"])


class _TextIndex:
    """All normalised chunk texts in one string, for fast 'which chunks contain X' look-ups."""

    def __init__(self, chunks: list[Chunk], case_sensitive: bool):
        self.case_sensitive = case_sensitive
        parts, starts, pos = [], [], 0
        for c in chunks:
            t = normalize_evidence(c.text, case_sensitive)
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
                    case_sensitive: bool = True) -> Relevance:
    """Lift the dataset's labels onto chunks (see the module docstring). ``match`` = auto | text |
    page | doc forces how evidence items are matched; queries without evidence use doc qrels."""
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
    for q in ds.queries:
        items = ev_by_q.get(q.query_id)
        hits: list[set[int]] = []
        fact_grades: list[float] = []
        if items:
            for e in items:
                hits.append(_match_evidence(e, chunks, by_doc, index, match))
                fact_grades.append(e.grade)
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
    return Relevance(grades, facts, n_facts, no_rel, unmatched)


def _match_evidence(e: Evidence, chunks: list[Chunk], by_doc: dict[str, list[int]],
                    index: _TextIndex | None, match: str) -> set[int]:
    scope = set(by_doc.get(e.doc_id, [])) if e.doc_id is not None else None
    mode = match
    if mode == "auto":
        mode = "text" if e.text else ("page" if e.page is not None else "doc")
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
