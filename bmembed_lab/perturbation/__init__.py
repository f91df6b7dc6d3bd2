"""The lexical-sensitivity study (paper Section 6, Table 5, Appendix F): how much of a
retriever's success rests on the exact domain keywords a query shares with its gold passage,
and how much survives a paraphrase.

In: the evaluation queries, the texts of their gold chunks, the chunks' BM25 idf. Out: a
:class:`PerturbationSet`: per query its keywords, a *masked* query (every occurrence of every
keyword replaced by a mask token) and a *substituted* query (each keyword replaced by one
meaning-keeping word). The perturbed texts are computed once and shared by every system, so
all models see exactly the same queries.

Keywords: ``offline`` (words the query shares with its gold text, stopwords and very common
words excluded, ranked by BM25 idf, capped per query) or ``llm`` (the paper's Appendix F prompt
in our own words). Substitutes: ``wordnet`` (offline, WordNet 3.0, same part of speech;
keywords without a synonym, and names - acronyms and capitalised possessives, which a
dictionary synonym turns into another thing, "Graves' Disease" -> "Tombs' Disease" - are left
in place and counted) or ``llm`` (which reads the context).

Matching is case-insensitive on whole words; a multi-word keyword matches across any run of
spaces or punctuation ("blood sugar" matches "blood-sugar"); longer keywords win over the
shorter ones they contain. A replacement keeps the capitalisation of the first letter it
replaces.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import InputError
from ..text import QUESTION_WORDS, WORD, stopwords
from .llm import llm_keywords_and_substitutes
from .matching import mask_query, name_keywords, occurrences, replace_keywords
from .study import STUDY_METRICS, VARIANTS, rank_changes, reading, run_study, study_table, table5

__all__ = [
    "PerturbationSet",
    "PerturbedQuery",
    "STUDY_METRICS",
    "VARIANTS",
    "build_set",
    "keyword_statistics",
    "llm_keywords_and_substitutes",
    "mask_query",
    "name_keywords",
    "occurrences",
    "offline_keywords",
    "rank_changes",
    "reading",
    "replace_keywords",
    "run_study",
    "study_table",
    "table5",
    "wordnet_substitutions",
]


@dataclass
class PerturbedQuery:
    query_id: str
    text: str
    keywords: list[str]
    masked: str | None  # None: no keyword (left out of the masked set)
    substituted: str | None  # None: no keyword could be replaced
    substitutions: dict[str, str] = field(default_factory=dict)  # keyword -> replacement
    no_substitute: list[str] = field(default_factory=list)  # keywords left in place


@dataclass
class PerturbationSet:
    queries: list[PerturbedQuery]
    counts: dict

    def variant(self, name: str) -> tuple[list[str], list[str]]:
        """(query ids, texts) of one variant; queries it does not have are left out."""
        if name not in VARIANTS:
            raise InputError(
                f"unknown query variant {name!r}", "perturbation", f"use one of {VARIANTS}"
            )
        rows = [
            (q.query_id, q.text if name == "original" else getattr(q, name)) for q in self.queries
        ]
        rows = [(i, t) for i, t in rows if t is not None]
        return [i for i, _ in rows], [t for _, t in rows]

    def to_json(self) -> dict:
        return {"queries": [asdict(q) for q in self.queries], "counts": self.counts}

    @classmethod
    def from_json(cls, d: dict) -> "PerturbationSet":
        return cls([PerturbedQuery(**q) for q in d["queries"]], d["counts"])




# -- keywords ---------------------------------------------------------------------------------
def keyword_stopwords() -> frozenset:
    """English stopwords plus question auxiliaries: never a query's keyword."""
    return stopwords() | QUESTION_WORDS


def offline_keywords(
    query: str,
    gold_texts: list[str],
    idf: dict[str, float],
    max_keywords: int = 5,
    common: frozenset = frozenset(),
    min_chars: int = 2,
) -> list[str]:
    """Words (lowercase BM25 tokens) of ``query`` that also occur in any of ``gold_texts``,
    without stopwords, words in ``common`` or words shorter than ``min_chars``, ranked by
    ``idf`` (rarest first; ties in query order), at most ``max_keywords``."""
    stop = keyword_stopwords()
    gold = {w for t in gold_texts for w in WORD.findall(t.lower())}
    seen: dict[str, int] = {}
    for pos, w in enumerate(WORD.findall(query.lower())):
        if (
            w in gold
            and w not in stop
            and w not in common
            and len(w) >= min_chars
            and w not in seen
        ):
            seen[w] = pos
    ranked = sorted(seen, key=lambda w: (-idf.get(w, 0.0), seen[w]))
    return ranked[:max_keywords]


def wordnet_substitutions(text: str, keywords: list[str], wordnet, max_senses: int = 3
                          ) -> dict[str, str]:
    """keyword -> WordNet synonym (same part of speech, inflected like the keyword's first
    occurrence); keywords with no synonym, and names (:func:`name_keywords`), are absent.
    Multi-word keywords are looked up as WordNet collocations ("blood sugar" -> blood_sugar)."""
    out: dict[str, str] = {}
    names = set(name_keywords(text, keywords))
    for start, end, i in occurrences(text, keywords):
        kw = keywords[i]
        if kw in out or kw in names:
            continue
        previous = WORD.findall(text[:start])[-1:] or [""]
        found = wordnet.synonym(" ".join(WORD.findall(text[start:end])), max_senses, previous[0])
        if found is not None:
            out[kw] = found[0]
    return out


def similar_substitutes(substitutions: list[dict[str, str]], embed, floor: float
                        ) -> tuple[list[dict[str, str]], int, list[tuple[str, str, float]]]:
    """Drop the substitutes whose cosine to their keyword is below ``floor`` under ``embed``
    (texts -> L2-normalised rows): a synonym of another sense changes the question's meaning
    ("diagnose" -> "name"), which is not what the study measures. Out: the kept substitutions,
    the number dropped, and (keyword, substitute, cosine) of the dropped ones."""
    pairs = sorted({(k, v) for subs in substitutions for k, v in subs.items()})
    if floor <= -1 or not pairs:
        return substitutions, 0, []
    a = embed([k for k, _ in pairs])
    b = embed([v for _, v in pairs])
    cos = {pr: float(x) for pr, x in zip(pairs, (a * b).sum(1))}
    kept, dropped = [], []
    for subs in substitutions:
        keep = {k: v for k, v in subs.items() if cos[(k, v)] >= floor}
        dropped += [(k, v, cos[(k, v)]) for k, v in subs.items() if k not in keep]
        kept.append(keep)
    return kept, len(dropped), dropped


def keyword_statistics(chunk_texts: list[str], max_df: float) -> tuple[dict[str, float], frozenset]:
    """(BM25 idf ln((N - n + 0.5) / (n + 0.5)) of every lowercase word over the chunks, the
    words in more than ``max_df`` of the chunks: too common to be a query's keyword)."""
    df: Counter = Counter()
    for t in chunk_texts:
        df.update(set(WORD.findall(t.lower())))
    n = len(chunk_texts)
    idf = {w: float(np.log((n - c + 0.5) / (c + 0.5))) for w, c in df.items()}
    return idf, frozenset(w for w, c in df.items() if c > max_df * n)


# -- the set ----------------------------------------------------------------------------------
def build_set(
    query_ids: list[str],
    texts: list[str],
    keywords: list[list[str]],
    substitutions: list[dict[str, str]] | None,
    mask_token: str,
    counts: dict | None = None,
) -> PerturbationSet:
    """Masked and substituted variants of every query from its keywords and substitutions
    (None: no substitution backend), with the counts the study reports."""
    counts = dict(counts or {})
    counts.update({"queries": len(query_ids), "queries without a keyword (not masked)": 0,
                   "keywords": 0, "keyword occurrences masked": 0,
                   "keywords without a substitute (left in place)": 0,
                   "queries without any substitute (not substituted)": 0})
    out = []
    for i, (qid, text) in enumerate(zip(query_ids, texts)):
        kws = keywords[i]
        counts["keywords"] += len(kws)
        if not kws:
            counts["queries without a keyword (not masked)"] += 1
            out.append(PerturbedQuery(qid, text, [], None, None))
            continue
        masked, n = mask_query(text, kws, mask_token)
        counts["keyword occurrences masked"] += n
        subs = {}
        if substitutions is not None:
            subs = {k: v for k, v in substitutions[i].items() if k in kws}
        missing = [k for k in kws if k not in subs]
        substituted = None
        if subs:
            substituted, _ = replace_keywords(text, kws, [subs.get(k) for k in kws])
        elif substitutions is not None:
            counts["queries without any substitute (not substituted)"] += 1
        if substitutions is not None:
            counts["keywords without a substitute (left in place)"] += len(missing)
        out.append(PerturbedQuery(qid, text, list(kws), masked, substituted, subs,
                                  missing if substitutions is not None else []))
    counts["masked queries"] = sum(q.masked is not None for q in out)
    counts["substituted queries"] = sum(q.substituted is not None for q in out)
    return PerturbationSet(out, counts)
