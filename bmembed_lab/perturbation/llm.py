"""The LLM steps of the lexical-sensitivity study (paper Appendix F, in our own words):
keywords per (question, gold passage), then one meaning-keeping replacement per keyword.

In: questions, their gold texts, an :class:`~bmembed_lab.llm.LLMClient` (replies cached call by
call) and a model name. Out: keywords per question, substitutions per question (or None) and
counts. A reply that cannot be parsed counts as no keyword / no substitute.
"""

from __future__ import annotations

import json

from ..config import LLMConfig
from ..errors import InputError
from ..llm import Call, request_options
from ..text import WORD, parse_json_reply
from .matching import occurrences


KEYWORD_SYSTEM = ("You help study how retrieval systems depend on exact wording. You read a "
                  "question and the passage that answers it, and you reply with JSON only.")
KEYWORD_USER = """Question: {query}

Passage: {passage}

List the keywords of the question: words or short phrases that appear in BOTH the question and the \
passage and carry the question's specific meaning (names, technical terms, entities, numbers). \
Leave out generic words (what, how, information, people) and words that appear only in one of the \
two. Copy each keyword exactly as written in the question. At most {n}.

Reply as: {{"keywords": ["...", "..."]}}"""
SUBSTITUTE_USER = """Question: {query}

Keywords: {keywords}

For each keyword give ONE replacement word or short phrase that keeps the question's meaning in \
this context (a synonym or a close paraphrase), with the same part of speech and grammatical form, \
and sharing no word with the keyword. If no such replacement exists, give null.

Reply as: {{"substitutions": {{"keyword": "replacement or null"}}}}"""


# the replies' JSON schemas, for llm.response_format = "json_schema"
KEYWORDS_SCHEMA = {"type": "object", "required": ["keywords"], "properties": {
    "keywords": {"type": "array", "items": {"type": "string"}}}}
SUBSTITUTIONS_SCHEMA = {"type": "object", "required": ["substitutions"], "properties": {
    "substitutions": {"type": "object", "additionalProperties": {"type": ["string", "null"]}}}}


def keyword_call(query: str, passage: str, model: str, max_keywords: int, max_chars: int = 6000,
                 llm: LLMConfig | None = None):
    options = request_options(llm, "keywords", KEYWORDS_SCHEMA) if llm else {}
    return Call(model, KEYWORD_SYSTEM, KEYWORD_USER.format(
        query=query, passage=passage[:max_chars], n=max_keywords), 0.0, 512, **options)


def substitute_call(query: str, keywords: list[str], model: str, llm: LLMConfig | None = None):
    options = request_options(llm, "substitutions", SUBSTITUTIONS_SCHEMA) if llm else {}
    return Call(model, KEYWORD_SYSTEM, SUBSTITUTE_USER.format(
        query=query, keywords=json.dumps(keywords)), 0.0, 512, **options)


def parse_keywords(reply: str | None, query: str, max_keywords: int) -> list[str] | None:
    """Keywords from an LLM reply, kept only if they occur in the query (whole words, any
    case); None if the reply holds no keyword list at all."""
    data = parse_json_reply(reply)
    if isinstance(data, dict):
        data = next((v for k, v in data.items() if "keyword" in k.lower()), None)
    if not isinstance(data, list):
        return None
    out = []
    for kw in data:
        if isinstance(kw, str) and kw.strip() and occurrences(query, [kw.strip()]):
            if kw.strip().lower() not in (k.lower() for k in out):
                out.append(kw.strip())
    return out[:max_keywords]


def parse_substitutions(reply: str | None, keywords: list[str]) -> dict[str, str] | None:
    """keyword -> replacement from an LLM reply; a replacement equal to its keyword, sharing a
    word with it, or empty is dropped. None if the reply holds no mapping at all."""
    data = parse_json_reply(reply)
    if isinstance(data, dict) and isinstance(data.get("substitutions"), dict):
        data = data["substitutions"]
    if not isinstance(data, dict):
        return None
    low = {k.lower(): k for k in keywords}
    out = {}
    for k, v in data.items():
        kw = low.get(str(k).strip().lower())
        if kw is None or not isinstance(v, str) or not v.strip():
            continue
        if set(WORD.findall(v.lower())) & set(WORD.findall(kw.lower())):
            continue
        out[kw] = v.strip()
    return out


def llm_keywords_and_substitutes(texts: list[str], gold: list[list[str]], client, model: str,
                                 max_keywords: int, substitute: bool, progress=None,
                                 keywords: list[list[str]] | None = None
                                 ) -> tuple[list[list[str]], list[dict[str, str]] | None, dict]:
    """The LLM steps: keywords per (query, gold text) unless ``keywords`` are given, then
    (``substitute``) one replacement per keyword. Replies are cached call by call by the
    client; a reply that cannot be parsed counts as no keyword / no substitute. Raises, after
    caching what came back, if calls still failed after the client's retries."""
    failed, unparsed = [], 0
    if keywords is None:
        calls = [keyword_call(t, "\n\n".join(g), model, max_keywords, llm=client.cfg)
                 for t, g in zip(texts, gold)]
        replies = client.complete_all(
            calls, progress, lambda i, text: parse_keywords(text, texts[i], max_keywords))
        failed = [r for r in replies if r.text is None]
        keywords = []
        for t, r in zip(texts, replies):
            k = parse_keywords(r.text, t, max_keywords) if r.text is not None else []
            unparsed += k is None
            keywords.append(k or [])
    kws = keywords
    subs = None
    if substitute and not failed:
        todo = [i for i, k in enumerate(kws) if k]
        s_calls = [substitute_call(texts[i], kws[i], model, client.cfg) for i in todo]
        s_replies = client.complete_all(
            s_calls, progress, lambda i, text: parse_substitutions(text, kws[todo[i]])
        ) if s_calls else []
        failed += [r for r in s_replies if r.text is None]
        subs = [{} for _ in texts]
        for i, r in zip(todo, s_replies):
            d = parse_substitutions(r.text, kws[i]) if r.text is not None else {}
            unparsed += d is None
            subs[i] = d or {}
    if failed:
        raise InputError(f"{len(failed)} LLM calls still failed after {client.cfg.max_retries} "
                         f"retries (first: {failed[0].error}); the replies received are cached",
                         f"llm endpoint {client.endpoint}",
                         "rerun to send only the missing calls, or use perturbation.keywords = "
                         "'offline' and perturbation.substitution = 'wordnet'")
    st = client.stats
    return (
        kws,
        subs,
        {
            "llm calls sent (incl. retries)": st.sent,
            "llm replies from cache": st.cached,
            "llm unparsed replies": unparsed,
        },
    )
