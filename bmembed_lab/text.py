"""Text helpers shared by every stage: the word tokenizer, English stopwords and reading JSON
out of an LLM's reply (fenced, bare, or embedded in prose).

In: strings. Out: lowercase word lists, word sets, parsed JSON values (or None).
"""

from __future__ import annotations

import functools
import json
import re

WORD = re.compile(r"\w+")
# Auxiliaries that open questions ("does", "can"): stopwords for keyword purposes, never keys.
QUESTION_WORDS = frozenset("does did doing done is are was were be can could should would "
                           "will shall may might must".split())


def words(text: str) -> list[str]:
    """Lowercase ``\\w+`` tokens of ``text`` (the BM25 tokenizer's rule, without stemming)."""
    return WORD.findall(text.lower())


@functools.lru_cache(maxsize=1)
def stopwords() -> frozenset:
    """scikit-learn's English stopword list (318 words)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


def content_words(text: str, stop: frozenset) -> set[str]:
    """The text's word set without ``stop`` words (all its words if nothing else is left)."""
    w = words(text)
    s = {x for x in w if x not in stop}
    return s or set(w)


# -- JSON in an LLM reply ---------------------------------------------------------------------
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)


def json_candidates(text: str):
    """JSON texts found in a reply, in the order tried: fenced blocks, the whole text, then
    the first value that starts at a ``[`` or ``{``."""
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


def parse_json_reply(text: str | None):
    """The first JSON value that :func:`json_candidates` finds in ``text``, or None."""
    for cand in json_candidates(text or ""):
        try:
            return json.loads(cand)
        except ValueError:
            continue
    return None


def get_field(d: dict, *names: str):
    """The first non-empty value of ``d`` under any of ``names``, compared on letters only and
    ignoring case (``original_context`` = ``Original Context``), or None."""
    low = {re.sub(r"[^a-z]", "", k.lower()): v for k, v in d.items()}
    for n in names:
        v = low.get(re.sub(r"[^a-z]", "", n))
        if v not in (None, ""):
            return v
    return None


def as_list(v) -> list[str]:
    """A value as a list of non-empty strings: a list as it is, a string split at numbered or
    bulleted lines, anything else as its one string."""
    if v is None:
        return []
    if isinstance(v, str):
        parts = re.split(r"\n\s*(?:\d+[.)]|[-*])\s+", "\n" + v)
        return [p.strip() for p in parts if p.strip()]
    if isinstance(v, list):
        return [str(x).strip() for x in v if str(x).strip()]
    return [str(v)]
