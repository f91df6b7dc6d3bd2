"""Synthetic queries over the private corpus (paper Section 3.1, Appendix A).

Three backends behind :func:`generate_queries`, all returning a :class:`QuerySet`:

* ``llm``: the paper's two stages through any OpenAI-compatible endpoint (:mod:`.llm`). Event
  extraction per document segment (event, topic, original context passages, fine-grained or
  general type), then one query-synthesis call per segment asking ``queries_per_event``
  questions for each of its events. Every reply is cached as it arrives; a reply that cannot be
  parsed is kept raw in the report and counted, never dropped silently.
* ``offline`` (default, no network): unsupervised pseudo-queries, deterministic by seed, each
  document drawing from its own random stream (so adding a document changes no other's queries):
  - ``keyphrase``: pick passages of ``passage_sentences`` sentences; per passage, rank its words
    by tf x idf x ln(1 + tf in the whole document) (idf over the corpus' documents; stopwords,
    numbers and words under 3 letters excluded); each query samples 2-4 of the top words (weighted by score), keeps their order of
    appearance and puts them in a question template, with the document's title half the time.
  - ``ict``: Inverse Cloze Task (Lee et al., 2019): a sentence of the passage with 30% of its
    words deleted is the query, the passage around it the evidence.
* ``file``: the user's own queries (JSONL ``{text, query_id?, doc_id?, evidence?}``).

Every query keeps its evidence (the passages it was made from): BMEmbed itself never uses it,
the contrastive baseline takes it as the positive. :func:`filter_queries` then drops empty,
too short/long and duplicate queries and those copying their evidence, and checks leakage
against the evaluation queries.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .chunking import sentence_spans
from .config import LLMConfig, QueriesConfig
from .corpus import Document, iter_jsonl
from .errors import InputError

_WORD = re.compile(r"\w+")


@dataclass
class Event:
    event_id: str
    doc_id: str
    event: str
    topic: str = ""
    context: list[str] = field(default_factory=list)  # the original passages ("evidence")
    type: str = ""  # fine-grained | general (llm), passage (offline)
    context_in_doc: bool = True  # every context passage found in the document


@dataclass
class SyntheticQuery:
    query_id: str
    text: str
    doc_id: str = ""
    event_id: str = ""
    evidence: list[str] = field(default_factory=list)
    backend: str = ""


@dataclass
class QuerySet:
    """Kept queries, the events they came from, and the report of everything left out."""

    queries: list[SyntheticQuery]
    events: list[Event] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)  # {query_id, text, reason, detail}
    leakage: list[dict] = field(default_factory=list)  # {query_id, text, eval_query_id, ...}
    unparsed: list[dict] = field(default_factory=list)  # {doc_id, stage, call_key, raw}
    counts: dict = field(default_factory=dict)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(q) for q in self.queries],
                            columns=["query_id", "text", "doc_id", "event_id", "evidence", "backend"])

    def to_json(self) -> dict:
        return {"queries": [asdict(q) for q in self.queries], "events": [asdict(e) for e in self.events],
                "dropped": self.dropped, "leakage": self.leakage, "unparsed": self.unparsed,
                "counts": self.counts}

    @classmethod
    def from_json(cls, d: dict) -> "QuerySet":
        return cls([SyntheticQuery(**q) for q in d["queries"]], [Event(**e) for e in d["events"]],
                   d["dropped"], d["leakage"], d["unparsed"], d["counts"])


# -- shared text helpers ---------------------------------------------------------------------
def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def normalize(text: str) -> str:
    return " ".join(words(text))


def _stopwords() -> frozenset:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return ENGLISH_STOP_WORDS


def doc_rng(seed: int, doc_id: str) -> np.random.Generator:
    """A random stream of one document: the same for a doc whatever else is in the corpus."""
    return np.random.default_rng([seed, int(hashlib.sha256(doc_id.encode()).hexdigest()[:12], 16)])


# -- offline backend ---------------------------------------------------------------------------
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
    stop = _stopwords()
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
    for m in _WORD.finditer(text):
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


# -- file backend --------------------------------------------------------------------------------
def load_user_queries(path: Path, errors: str = "strict") -> list[SyntheticQuery]:
    """JSONL of ``{text, query_id?, doc_id?, evidence?}`` (evidence: a string or a list)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("queries file not found", str(path), "set queries.file to a JSONL file")
    out = []
    for n, obj in iter_jsonl(path, errors):
        text = obj.get("text")
        if not isinstance(text, str):
            raise InputError(f"line {n} has no string field 'text'", str(path),
                             'write one {"text": "..."} object per line')
        ev = obj.get("evidence") or []
        out.append(SyntheticQuery(str(obj.get("query_id") or obj.get("_id") or f"user-{n}"), text,
                                  str(obj.get("doc_id") or ""), "", [ev] if isinstance(ev, str) else list(ev),
                                  "file"))
    if not out:
        raise InputError("the queries file is empty", str(path), "add one JSON object per line")
    return out


# -- LLM backend: prompts (after the paper's Appendix A, in our own words) ----------------------
EXTRACT_SYSTEM = ("You read documents and list the events they describe, for building search "
                  "questions. You answer with JSON only.")
EXTRACT_PROMPT = """List the events that the document below describes, each with its topic and the passages of the document that state it.

Rules:
1. Write names out in full: no "he", "she", "it" or "they" standing for a person, company or thing.
2. Give every event at least one passage copied word for word from the document. Never invent an event.
3. When several passages support an event, list each of them.
4. Leave a field empty when the document does not give it.
5. The type is "fine-grained" for a specific fact or detail, or "general" for a summary of several fine-grained events. List the fine-grained events first, then the general ones.
6. List at most {max_events} events.

Document:
<<<
{doc}
>>>

Answer with a JSON array, one object per event:
[{{"event": "...", "topic": "...", "original_context": ["passage", "..."], "type": "fine-grained"}}]"""

QUERY_SYSTEM = ("You write the questions that people would type into a search box over a "
                "document collection. You answer with JSON only.")
QUERY_PROMPT = """Below are a document and events taken from it. For each event, write {n} different questions that someone searching the collection might ask about it.

Rules:
1. A question need not mention every detail of its event.
2. A question may use other facts from the document, but it must be about its event's topic.
3. Ask about each event separately, in your own words: do not copy sentences from the document.
4. Each question must make sense on its own, without the document at hand.

Document:
<<<
{doc}
>>>

Events:
{events}

Answer with JSON: {{"questions": [{{"event": <event number>, "question": "..."}}, ...]}}"""


def segments(doc: Document, max_chars: int) -> list[str]:
    """The document cut at sentence ends into pieces of at most ``max_chars`` (one extraction
    call each); a single longer sentence is cut at the limit."""
    out, cur_s, cur_e = [], None, None
    for s, e in sentence_spans(doc.text):
        while e - s > max_chars:
            if cur_s is not None:
                out.append(doc.text[cur_s:cur_e])
                cur_s = None
            out.append(doc.text[s:s + max_chars])
            s += max_chars
        if cur_s is not None and e - cur_s > max_chars:
            out.append(doc.text[cur_s:cur_e])
            cur_s = None
        if cur_s is None:
            cur_s = s
        cur_e = e
    if cur_s is not None:
        out.append(doc.text[cur_s:cur_e])
    return [t for t in out if t.strip()]


def extraction_call(segment: str, llm: LLMConfig, qcfg: QueriesConfig):
    from .llm import Call

    return Call(llm.extract_model, EXTRACT_SYSTEM,
                EXTRACT_PROMPT.format(max_events=qcfg.max_events_per_doc, doc=segment),
                llm.temperature, llm.max_output_tokens)


def synthesis_call(segment: str, events: list[Event], llm: LLMConfig, qcfg: QueriesConfig):
    from .llm import Call

    listing = "\n".join(f"{i + 1}. {e.event}" + (f" (topic: {e.topic})" if e.topic else "")
                        for i, e in enumerate(events))
    return Call(llm.query_model, QUERY_SYSTEM,
                QUERY_PROMPT.format(n=qcfg.queries_per_event, doc=segment, events=listing),
                llm.temperature, llm.max_output_tokens)


# -- LLM backend: tolerant parsing ---------------------------------------------------------------
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)


def _json_candidates(text: str):
    """JSON values found in a reply: fenced blocks, the whole text, then the first [ or {."""
    for m in _FENCE.finditer(text):
        yield m.group(1)
    yield text
    dec = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch in "[{":
            try:
                yield json.dumps(dec.raw_decode(text[i:])[0])
                return
            except ValueError:
                continue


def _loads(text: str):
    for cand in _json_candidates(text):
        try:
            return json.loads(cand)
        except ValueError:
            continue
    return None


def _get(d: dict, *names: str):
    low = {re.sub(r"[^a-z]", "", k.lower()): v for k, v in d.items()}
    for n in names:
        v = low.get(re.sub(r"[^a-z]", "", n))
        if v not in (None, ""):
            return v
    return None


def _as_list(v) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        parts = re.split(r"\n\s*(?:\d+[.)]|[-*])\s+", "\n" + v)
        return [p.strip() for p in parts if p.strip()]
    if isinstance(v, list):
        return [str(x).strip() for x in v if str(x).strip()]
    return [str(v)]


_TAG = re.compile(r"\[\s*(event|topic|original context|type|question)\s*\]\s*:?", re.I)


def _tagged_blocks(text: str) -> list[dict]:
    """The paper's own reply format: ``[Event]: ... [Topic]: ... [Original context]: 1. ...``."""
    blocks, cur = [], None
    parts = _TAG.split(text)
    for tag, value in zip(parts[1::2], parts[2::2]):
        tag = tag.lower()
        if tag == "event":
            cur = {"event": value.strip()}
            blocks.append(cur)
        elif cur is not None:
            cur.setdefault(tag, value.strip())
    return blocks


def parse_events(text: str) -> list[dict] | None:
    """Events as dicts {event, topic, context, type}, or None when nothing can be read."""
    data = _loads(text or "")
    if isinstance(data, dict):
        data = _get(data, "events", "items", "result") or [data]
    items = data if isinstance(data, list) else _tagged_blocks(text or "")
    out = []
    for it in items:
        if isinstance(it, str):
            it = {"event": it}
        if not isinstance(it, dict):
            continue
        ev = _get(it, "event", "event_description", "description", "name")
        if not ev:
            continue
        typ = str(_get(it, "type", "event_type") or "").lower()
        typ = "general" if "general" in typ else "fine-grained" if typ else ""
        out.append({"event": str(ev).strip(), "topic": str(_get(it, "topic") or "").strip(),
                    "context": _as_list(_get(it, "original_context", "original context", "context",
                                             "passages", "evidence")),
                    "type": typ})
    return out or None


def parse_questions(text: str, n_events: int) -> list[tuple[int | None, str]] | None:
    """(event index or None, question) pairs, or None when nothing can be read."""
    data = _loads(text or "")
    if isinstance(data, dict):
        data = _get(data, "questions", "queries", "items")
    out: list[tuple[int | None, str]] = []
    if isinstance(data, list):
        for it in data:
            if isinstance(it, str):
                out.append((None, it.strip()))
            elif isinstance(it, dict):
                q = _get(it, "question", "query", "text")
                idx = _get(it, "event", "event_number", "event_id", "id")
                try:
                    i = int(idx) - 1 if idx is not None else None
                except (TypeError, ValueError):
                    i = None
                i = i if i is not None and 0 <= i < n_events else None
                for qq in _as_list(q) if isinstance(q, list) else [q]:
                    if qq:
                        out.append((i, str(qq).strip()))
    else:  # plain text: "[Question]: ..." tags or lines ending with '?'
        tagged = re.findall(r"\[\s*question\s*\]\s*:?\s*(.+)", text or "", re.I)
        lines = tagged or [re.sub(r"^\s*(?:\d+[.)]|[-*]|Q\d*:)\s*", "", line)
                           for line in (text or "").splitlines() if line.strip().endswith("?")]
        out = [(None, q.strip()) for q in lines if q.strip()]
    return out or None


def _in_doc(passage: str, doc_norm: str) -> bool:
    return "".join(passage.split()) in doc_norm


def llm_queries(docs: list[Document], qcfg: QueriesConfig, client, progress=None
                ) -> tuple[list[Event], list[SyntheticQuery], list[dict], dict]:
    """Both LLM stages over every document segment. Returns events, queries, unparsed replies
    and counts; raises after caching every reply it got if some calls still failed."""
    max_chars = client.cfg.segment_tokens * 4
    segs = [(d, si, s) for d in docs for si, s in enumerate(segments(d, max_chars))]
    calls = [extraction_call(s, client.cfg, qcfg) for _, _, s in segs]
    replies = client.complete_all(calls, progress)
    events, unparsed, failed = [], [], []
    seg_events: list[list[Event]] = []
    for (d, si, _), call, rep in zip(segs, calls, replies):
        evs: list[Event] = []
        if rep.text is None:
            failed.append((d.doc_id, "extraction", rep.error))
        else:
            parsed = parse_events(rep.text)
            if parsed is None:
                unparsed.append({"doc_id": d.doc_id, "segment": si, "stage": "extraction",
                                 "call_key": call.key, "raw": rep.text})
            else:
                doc_norm = "".join(d.text.split())
                for i, p in enumerate(parsed[: qcfg.max_events_per_doc]):
                    evs.append(Event(f"{d.doc_id}::s{si}e{i}", d.doc_id, p["event"], p["topic"],
                                     p["context"], p["type"],
                                     all(_in_doc(c, doc_norm) for c in p["context"]) if p["context"] else False))
        seg_events.append(evs)
        events += evs
    todo = [(k, seg) for k, ((_, _, seg), evs) in enumerate(zip(segs, seg_events)) if evs]
    s_calls = [synthesis_call(seg, seg_events[k], client.cfg, qcfg) for k, seg in todo]
    s_replies = client.complete_all(s_calls, progress)
    queries: list[SyntheticQuery] = []
    for (k, _), call, rep in zip(todo, s_calls, s_replies):
        d, si, _ = segs[k]
        evs = seg_events[k]
        if rep.text is None:
            failed.append((d.doc_id, "synthesis", rep.error))
            continue
        parsed = parse_questions(rep.text, len(evs))
        if parsed is None:
            unparsed.append({"doc_id": d.doc_id, "segment": si, "stage": "synthesis",
                             "call_key": call.key, "raw": rep.text})
            continue
        for j, (i, q) in enumerate(parsed):
            ev = evs[i] if i is not None else None
            evidence = ev.context if ev else [c for e in evs for c in e.context]
            queries.append(SyntheticQuery(f"{d.doc_id}::s{si}q{j}", q, d.doc_id,
                                          ev.event_id if ev else f"{d.doc_id}::s{si}", evidence, "llm"))
    st = client.stats
    counts = {"segments": len(segs), "extraction calls": len(calls), "synthesis calls": len(s_calls),
              "calls sent (incl. retries)": st.sent, "replies from cache": st.cached,
              "retries": st.retries, "failed calls": len(failed), "unparsed replies": len(unparsed),
              "events": len(events),
              "events whose context is not verbatim in the document": sum(not e.context_in_doc for e in events),
              "prompt tokens": st.prompt_tokens, "completion tokens": st.completion_tokens}
    if failed:
        doc, stage, err = failed[0]
        raise InputError(f"{len(failed)} LLM calls still failed after {client.cfg.max_retries} retries "
                         f"(first: {stage} of {doc}: {err}); the {len(calls) + len(s_calls) - len(failed)} "
                         "replies received are cached", f"llm endpoint {client.endpoint}",
                         "rerun the same command to send only the missing calls, or raise "
                         "llm.max_retries / llm.timeout")
    return events, queries, unparsed, counts


def dry_run(docs: list[Document], qcfg: QueriesConfig, llm: LLMConfig) -> dict:
    """What the LLM backend would send: calls and an estimate of tokens. Nothing is sent. The
    synthesis prompts are estimated as segment + max_events_per_doc short event lines."""
    from .llm import estimate

    max_chars = llm.segment_tokens * 4
    segs = [s for d in docs for s in segments(d, max_chars)]
    ex = [extraction_call(s, llm, qcfg) for s in segs]
    fake = [Event("", "", "x" * 120, "y" * 20)] * qcfg.max_events_per_doc
    syn = [synthesis_call(s, fake, llm, qcfg) for s in segs]
    e1, e2 = estimate(ex, llm.max_output_tokens), estimate(syn, llm.max_output_tokens)
    return {"documents": len(docs), "segments": len(segs),
            "extraction calls": e1["calls"], "synthesis calls (at most)": e2["calls"],
            "approx prompt tokens": e1["approx_prompt_tokens"] + e2["approx_prompt_tokens"],
            "max completion tokens": e1["max_completion_tokens"] + e2["max_completion_tokens"],
            "models": [llm.extract_model, llm.query_model],
            "note": "prompt tokens estimated at 4 characters a token; completion is the upper bound "
                    "max_output_tokens per call"}


# -- filters and leakage ---------------------------------------------------------------------------
def longest_shared_run(query: list[str], source: list[str]) -> int:
    """Length of the longest run of consecutive words that the query shares with the source."""
    if not query or not source:
        return 0

    def has(n: int) -> bool:
        grams = {tuple(source[i:i + n]) for i in range(len(source) - n + 1)}
        return any(tuple(query[i:i + n]) in grams for i in range(len(query) - n + 1))

    lo, hi = 0, min(len(query), len(source))
    while lo < hi:  # "shares a run of n" is monotone in n
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if has(mid) else (lo, mid - 1)
    return lo


def jaccard_matrix(a: list[set], b: list[set]) -> sp.csr_matrix:
    """Sparse |A ∩ B| / |A ∪ B| of word sets (only pairs sharing a word are stored)."""
    vocab: dict[str, int] = {}

    def mat(sets):
        rows, cols = [], []
        for i, s in enumerate(sets):
            for w in s:
                rows.append(i)
                cols.append(vocab.setdefault(w, len(vocab)))
        return rows, cols

    ra, ca = mat(a)
    rb, cb = mat(b)
    v = max(len(vocab), 1)
    A = sp.csr_matrix((np.ones(len(ra)), (ra, ca)), shape=(len(a), v))
    B = sp.csr_matrix((np.ones(len(rb)), (rb, cb)), shape=(len(b), v))
    inter = (A @ B.T).tocoo()
    na, nb = np.array([len(s) for s in a]), np.array([len(s) for s in b])
    union = na[inter.row] + nb[inter.col] - inter.data
    return sp.csr_matrix((inter.data / union, (inter.row, inter.col)), shape=(len(a), len(b)))


def content_words(text: str, stop: frozenset) -> set[str]:
    w = words(text)
    s = {x for x in w if x not in stop}
    return s or set(w)


def filter_queries(queries: list[SyntheticQuery], eval_queries: list[tuple[str, str]],
                   cfg: QueriesConfig) -> tuple[list[SyntheticQuery], list[dict], list[dict]]:
    """Apply the filters in order (empty, length, duplicate, copies evidence) and the leakage
    check against the evaluation queries ((id, text) pairs). Returns kept, dropped, leakage."""
    kept, dropped, seen = [], [], set()
    for q in queries:
        w = words(q.text)
        reason, detail = None, ""
        if not w:
            reason = "empty"
        elif len(w) < cfg.min_words:
            reason, detail = "too short", f"{len(w)} words < queries.min_words = {cfg.min_words}"
        elif len(w) > cfg.max_words:
            reason, detail = "too long", f"{len(w)} words > queries.max_words = {cfg.max_words}"
        elif cfg.drop_duplicates and " ".join(w) in seen:
            reason = "duplicate"
        elif cfg.max_copy_ratio < 1 and q.evidence:
            run = max(longest_shared_run(w, words(e)) for e in q.evidence)
            if run / len(w) > cfg.max_copy_ratio:
                reason, detail = "copies its evidence", f"{run} of {len(w)} words in one run"
        if reason:
            dropped.append({"query_id": q.query_id, "text": q.text, "reason": reason, "detail": detail})
            continue
        seen.add(" ".join(w))
        kept.append(q)
    leakage: list[dict] = []
    if eval_queries and kept:
        stop = _stopwords()
        sim = jaccard_matrix([content_words(q.text, stop) for q in kept],
                             [content_words(t, stop) for _, t in eval_queries])
        best = np.asarray(sim.argmax(axis=1)).ravel()
        best_val = np.asarray(sim.max(axis=1).todense()).ravel()
        leaky = set()
        for i in np.flatnonzero(best_val >= cfg.leakage_threshold):
            qid, qt = eval_queries[best[i]]
            leakage.append({"query_id": kept[i].query_id, "text": kept[i].text, "eval_query_id": qid,
                            "eval_text": qt, "jaccard": round(float(best_val[i]), 4),
                            "action": cfg.leakage})
            leaky.add(i)
        if cfg.leakage == "drop" and leaky:
            for i in sorted(leaky):
                dropped.append({"query_id": kept[i].query_id, "text": kept[i].text,
                                "reason": "leaks an evaluation query",
                                "detail": f"Jaccard {best_val[i]:.2f} >= {cfg.leakage_threshold}"})
            kept = [q for i, q in enumerate(kept) if i not in leaky]
    return kept, dropped, leakage


def generate_queries(docs: list[Document], qcfg: QueriesConfig, llm_client=None,
                     eval_queries: list[tuple[str, str]] | None = None, progress=None) -> QuerySet:
    """Queries from the configured backend, filtered and checked for leakage."""
    if not docs and qcfg.backend != "file":
        raise InputError("no documents to generate queries from", "corpus",
                         "check the corpus path and format")
    events: list[Event] = []
    unparsed: list[dict] = []
    counts: dict = {"backend": qcfg.backend}
    if qcfg.backend == "offline":
        if qcfg.queries_per_event < 1:
            raise InputError(f"queries.queries_per_event = {qcfg.queries_per_event}", "config",
                             "use 1 or more")
        events, raw = offline_queries(docs, qcfg, progress)
        counts["method"] = qcfg.method
    elif qcfg.backend == "llm":
        if llm_client is None:
            raise InputError("the llm backend needs an LLM client", "queries.backend",
                             "configure [llm] or use queries.backend = 'offline'")
        events, raw, unparsed, c = llm_queries(docs, qcfg, llm_client, progress)
        counts.update(c)
    elif qcfg.backend == "file":
        if not qcfg.file:
            raise InputError("queries.backend = 'file' needs queries.file", "config",
                             "set queries.file to a JSONL file of {text, ...}")
        raw = load_user_queries(Path(qcfg.file))
    else:
        raise InputError(f"queries.backend = {qcfg.backend!r}", "config", "use offline, llm or file")
    kept, dropped, leakage = filter_queries(raw, eval_queries or [], qcfg)
    counts.update({"documents": len(docs), "events": len(events), "generated": len(raw),
                   **{f"dropped: {r}": n for r, n in Counter(d["reason"] for d in dropped).items()},
                   "leakage flagged": len(leakage), "kept": len(kept)})
    if not kept:
        raise InputError(f"no query left after filtering ({counts})", "queries",
                         "loosen queries.min_words / max_copy_ratio / leakage, or check the backend")
    return QuerySet(kept, events, dropped, leakage, unparsed, counts)
