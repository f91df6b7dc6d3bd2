"""Offline pseudo-queries over the corpus itself: no network, no model (paper Section 3.1's
synthetic queries, made without an LLM).

Deterministic by seed, each document drawing from its own random stream (adding a document
changes no other's queries):

* ``keyphrase``: pick passages of ``passage_sentences`` sentences; per passage, rank its words
  by tf x idf x ln(1 + tf in the whole document) (idf over the corpus' documents; stopwords,
  numbers and words under 3 letters excluded); each query samples 2-4 of the top words
  (weighted by score), keeps their order of appearance and puts them in a question template,
  with the document's title half the time.
* ``ict``: Inverse Cloze Task (Lee et al., 2019): a sentence of the passage with 30% of its
  words deleted is the query, the passage around it the evidence.

In: documents and the queries config. Out: events (the passages) and their queries.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter

import numpy as np

from ..chunking import sentence_spans
from ..config import QueriesConfig
from ..corpus import Document
from ..text import WORD, stopwords, words
from .types import Event, SyntheticQuery


def doc_rng(seed: int, doc_id: str) -> np.random.Generator:
    """A random stream of one document: the same for a doc whatever else is in the corpus."""
    return np.random.default_rng([seed, int(hashlib.sha256(doc_id.encode()).hexdigest()[:12], 16)])


TEMPLATES = ("What is known about {k}?", "What does the text say about {k}?",
             "How are {k} related?", "Explain {k}.")


def _join(terms: list[str]) -> str:
    return terms[0] if len(terms) == 1 else ", ".join(terms[:-1]) + " and " + terms[-1]


def document_idf(docs: list[Document]) -> dict[str, float]:
    """Smoothed idf of every word over the documents: ln((N + 1) / (df + 1)) + 1."""
    df = Counter()
    for d in docs:
        df.update(set(words(d.text)))
    n = len(docs)
    return {w: math.log((n + 1) / (c + 1)) + 1 for w, c in df.items()}


def _passages(doc: Document, size: int) -> list[tuple[int, int, list[tuple[int, int]]]]:
    """Consecutive windows of ``size`` sentences: (start, end, sentence spans)."""
    spans = [s for s in sentence_spans(doc.text) if len(words(doc.text[s[0]:s[1]])) >= 3]
    out = []
    for i in range(0, len(spans), size):
        win = spans[i:i + size]
        out.append((win[0][0], win[-1][1], win))
    return out


def offline_document_queries(doc: Document, idf: dict[str, float], cfg: QueriesConfig
                             ) -> tuple[list[Event], list[SyntheticQuery]]:
    """Pseudo-queries of one document (see the module docstring), deterministic by seed."""
    rng = doc_rng(cfg.seed, doc.doc_id)
    passages = _passages(doc, max(1, cfg.passage_sentences))
    if not passages:
        return [], []
    n_events = cfg.events_per_doc or math.ceil(
        sum(len(p[2]) for p in passages) / (4 * max(1, cfg.passage_sentences)))
    n_events = max(1, min(n_events, cfg.max_events_per_doc, len(passages)))
    chosen = sorted(rng.choice(len(passages), size=n_events, replace=False).tolist())
    stop = stopwords()
    doc_tf = Counter(words(doc.text))
    events, queries = [], []
    for e, pi in enumerate(chosen):
        start, end, spans = passages[pi]
        text = doc.text[start:end]
        ev = Event(f"{doc.doc_id}::e{e}", doc.doc_id, doc.text[spans[0][0]:spans[0][1]][:300],
                   doc.title, [text], "passage")
        events.append(ev)
        for j in range(cfg.queries_per_event):
            if cfg.method == "ict":
                q = _ict_query(doc, spans, rng)
            else:
                q = _keyphrase_query(text, doc.title, idf, doc_tf, stop, rng)
            if q:
                queries.append(SyntheticQuery(f"{ev.event_id}q{j}", q, doc.doc_id, ev.event_id,
                                              [text], f"offline-{cfg.method}"))
    return events, queries


def _keyphrase_query(text: str, title: str, idf: dict[str, float], doc_tf: Counter,
                     stop: frozenset, rng: np.random.Generator) -> str:
    surface: dict[str, tuple[int, str]] = {}
    tf = Counter()
    for m in WORD.finditer(text):
        w = m.group(0).lower()
        if len(w) < 3 or w in stop or w.isdigit() or "_" in w:
            continue
        tf[w] += 1
        surface.setdefault(w, (m.start(), m.group(0)))
    if not tf:
        return ""
    # tf in the passage x idf, damped for words the document uses once (rare but off-topic)
    score = {w: tf[w] * idf.get(w, 1.0) * math.log1p(doc_tf[w]) for w in tf}
    ranked = sorted(tf, key=lambda w: (-score[w], surface[w][0]))
    n = min(int(rng.integers(2, 5)), len(ranked))
    pool = ranked[: 2 * n]
    weight = np.array([score[w] for w in pool])
    picked = rng.choice(len(pool), size=n, replace=False, p=weight / weight.sum())
    terms = [surface[pool[i]][1] for i in sorted(picked, key=lambda i: surface[pool[i]][0])]
    templates = TEMPLATES if len(terms) > 1 else tuple(t for t in TEMPLATES if "related" not in t)
    k = _join(terms)
    if title and rng.random() < 0.5 and not set(words(title)) & {t.lower() for t in terms}:
        k = f"{k} in {title}"
    return templates[int(rng.integers(len(templates)))].format(k=k)


def _ict_query(doc: Document, spans: list[tuple[int, int]], rng: np.random.Generator,
               delete: float = 0.3) -> str:
    s, e = spans[int(rng.integers(len(spans)))]
    toks = doc.text[s:e].split()
    keep = rng.random(len(toks)) >= delete
    if keep.sum() < 2:
        keep[:2] = True
    return " ".join(t for t, k in zip(toks, keep) if k)


def offline_queries(docs: list[Document], cfg: QueriesConfig, progress=None
                    ) -> tuple[list[Event], list[SyntheticQuery]]:
    idf = document_idf(docs)
    events, queries = [], []
    for i, d in enumerate(docs):
        ev, qs = offline_document_queries(d, idf, cfg)
        events += ev
        queries += qs
        if progress:
            progress(i + 1, len(docs))
    return events, queries
