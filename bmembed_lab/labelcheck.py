"""The labels checked against the corpus they were read with (after every loader, before any
stage uses them): a corpus without documents is refused; qrels rows and evidence items that name
an unknown query, an unknown document or a document skipped for having no text are dropped,
counted and named once per kind, with an example and its likely cause.

In: a :class:`~.corpus.Dataset` as read. Out: the same dataset with only usable labels.
"""

from __future__ import annotations

import logging
from collections import Counter

from .corpus import Dataset
from .errors import InputError

log = logging.getLogger(__name__)


def check_dataset(ds: Dataset, where: str) -> Dataset:
    """Reject a corpus without documents; drop and count the qrels rows and evidence items that
    name an unknown query or document id (one warning per kind, naming ``where``). Documents
    and queries are returned as they are; which queries are evaluated is decided later, by
    which of them have a relevant chunk."""
    if not ds.documents:
        raise InputError("the corpus has no documents with text", where,
                         "point corpus.path at a non-empty corpus (and check corpus.format)")
    skipped = Counter(ds.skipped)
    doc_ids = {d.doc_id for d in ds.documents}
    q_ids = {q.query_id for q in ds.queries}
    empty = set(ds.empty_query_ids)
    empty_docs = set(ds.empty_doc_ids)
    qrels: dict[str, dict[str, float]] = {}
    for qid, rels in ds.qrels.items():
        if qid in empty:
            continue  # already reported as an empty query
        if qid not in q_ids:
            skipped["qrels rows with unknown query id"] += len(rels)
            continue
        known = {d: g for d, g in rels.items() if d in doc_ids}
        textless = sum(d in empty_docs for d in rels)
        skipped["qrels rows naming a document without text"] += textless
        skipped["qrels rows with unknown document id"] += len(rels) - len(known) - textless
        if known:
            qrels[qid] = known
    evidence = []
    unknown: dict[str, str] = {}  # kind -> first unknown id seen
    for e in ds.evidence:
        if e.query_id in empty:
            continue
        if e.query_id not in q_ids:
            skipped["evidence with unknown query id"] += 1
            unknown.setdefault("evidence with unknown query id", e.query_id)
        elif e.doc_id is not None and e.doc_id in empty_docs:
            skipped["evidence naming a document without text"] += 1
            unknown.setdefault("evidence naming a document without text", e.doc_id)
        elif e.doc_id is not None and e.doc_id not in doc_ids:
            skipped["evidence with unknown document id"] += 1
            unknown.setdefault("evidence with unknown document id", e.doc_id)
        else:
            evidence.append(e)
    for qid, rels in ds.qrels.items():
        if qid not in q_ids and qid not in empty:
            unknown.setdefault("qrels rows with unknown query id", qid)
        for d in rels:
            if qid in q_ids and d in empty_docs:
                unknown.setdefault("qrels rows naming a document without text", d)
            elif qid in q_ids and d not in doc_ids:
                unknown.setdefault("qrels rows with unknown document id", d)
    folder_like = ds.documents[0].source == ds.documents[0].doc_id  # ids are file paths
    valid = {
        "query": next(iter(sorted(q_ids)), None),
        "document": next(iter(sorted(doc_ids)), None),
    }
    for k, v in list(skipped.items()):
        if not v:
            del skipped[k]
    for k, v in skipped.items():
        if k not in ds.skipped or ds.skipped[k] != v:
            example = ""
            if k in unknown and "without text" in k:
                example = (f" (e.g. {unknown[k]!r}: the corpus has that document, but its text "
                           "is empty, so it was skipped)")
            elif k in unknown:
                kind = "query" if "query id" in k else "document"
                example = (f" (e.g. {unknown[k]!r}; the loader names {kind}s like "
                           f"{valid[kind]!r}" + (": a folder corpus names each document by its "
                                                 "path relative to the folder, extension included"
                                                 if kind == "document" and folder_like else "")
                           + ")")
            log.warning("%s: skipped %d %s%s", where, v, k, example)
    return Dataset(ds.name, ds.documents, ds.queries, qrels, evidence, dict(skipped),
                   ds.empty_query_ids, ds.empty_doc_ids)
