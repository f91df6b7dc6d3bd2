"""The LLM prompts of query generation and the parsing of their replies (paper Appendix A).

The prompts follow the structure of the paper's two stages in our own words: event extraction
(event, topic, original-context passages, fine-grained or general type) per document segment,
then query synthesis asking ``queries_per_event`` questions per event. In: a document segment
and the configs. Out: :class:`~bmembed_lab.llm.Call` objects; the parsers turn a reply into
events / (event index, question) pairs, or None when nothing can be read. They read JSON
(fenced, bare or inside prose) and the paper's own ``[Event]: ... [Topic]: ...`` tag format.
"""

from __future__ import annotations

import re

from ..config import LLMConfig, QueriesConfig
from ..llm import Call, request_options
from ..text import as_list, get_field, parse_json_reply

EXTRACT_SYSTEM = ("You read documents and list the events they describe, for building search "
                  "questions. You answer with JSON only.")
EXTRACT_PROMPT = """List the events that the document below describes, each with its topic and the \
passages of the document that state it.

Rules:
1. Write names out in full: no "he", "she", "it" or "they" standing for a person, company or thing.
2. Give every event at least one passage copied word for word from the document. Never invent an \
event.
3. When several passages support an event, list each of them.
4. Leave a field empty when the document does not give it.
5. The type is "fine-grained" for a specific fact or detail, or "general" for a summary of several \
fine-grained events. List the fine-grained events first, then the general ones.
6. List at most {max_events} events.

Document:
<<<
{doc}
>>>

Answer with a JSON array, one object per event:
[{{"event": "...", "topic": "...", "original_context": ["passage", "..."], "type": \
"fine-grained"}}]"""

QUERY_SYSTEM = ("You write the questions that people would type into a search box over a "
                "document collection. You answer with JSON only.")
QUERY_PROMPT = """Below are a document and events taken from it. For each event, write {n} \
different questions that someone searching the collection might ask about it.

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


# the replies' JSON schemas, for llm.response_format = "json_schema" (a root object each, as
# the JSON modes require; parse_events and parse_questions read both forms)
_STR = {"type": "string"}
EVENTS_SCHEMA = {"type": "object", "required": ["events"], "properties": {"events": {
    "type": "array", "items": {"type": "object", "required": ["event", "original_context"],
                               "properties": {"event": _STR, "topic": _STR, "type": _STR,
                                              "original_context": {"type": "array",
                                                                   "items": _STR}}}}}}
QUESTIONS_SCHEMA = {"type": "object", "required": ["questions"], "properties": {"questions": {
    "type": "array", "items": {"type": "object", "required": ["event", "question"],
                               "properties": {"event": {"type": "integer"}, "question": _STR}}}}}


def extraction_call(segment: str, llm: LLMConfig, qcfg: QueriesConfig):
    return Call(llm.extract_model, EXTRACT_SYSTEM,
                EXTRACT_PROMPT.format(max_events=qcfg.max_events_per_doc, doc=segment),
                llm.temperature, llm.max_output_tokens,
                **request_options(llm, "events", EVENTS_SCHEMA))


def synthesis_call(segment: str, events: list, llm: LLMConfig, qcfg: QueriesConfig):
    listing = "\n".join(f"{i + 1}. {e.event}" + (f" (topic: {e.topic})" if e.topic else "")
                        for i, e in enumerate(events))
    return Call(llm.query_model, QUERY_SYSTEM,
                QUERY_PROMPT.format(n=qcfg.queries_per_event, doc=segment, events=listing),
                llm.temperature, llm.max_output_tokens,
                **request_options(llm, "questions", QUESTIONS_SCHEMA))


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
    data = parse_json_reply(text)
    if isinstance(data, dict):
        data = get_field(data, "events", "items", "result") or [data]
    items = data if isinstance(data, list) else _tagged_blocks(text or "")
    out = []
    for it in items:
        if isinstance(it, str):
            it = {"event": it}
        if not isinstance(it, dict):
            continue
        ev = get_field(it, "event", "event_description", "description", "name")
        if not ev:
            continue
        typ = str(get_field(it, "type", "event_type") or "").lower()
        typ = "general" if "general" in typ else "fine-grained" if typ else ""
        out.append(
            {
                "event": str(ev).strip(),
                "topic": str(get_field(it, "topic") or "").strip(),
                "context": as_list(
                    get_field(
                        it,
                        "original_context",
                        "original context",
                        "context",
                        "passages",
                        "evidence",
                    )
                ),
                "type": typ,
            }
        )
    return out or None


def parse_questions(text: str, n_events: int) -> list[tuple[int | None, str]] | None:
    """(event index or None, question) pairs, or None when nothing can be read."""
    data = parse_json_reply(text)
    if isinstance(data, dict):
        data = get_field(data, "questions", "queries", "items")
    out: list[tuple[int | None, str]] = []
    if isinstance(data, list):
        for it in data:
            if isinstance(it, str):
                out.append((None, it.strip()))
            elif isinstance(it, dict):
                q = get_field(it, "question", "query", "text")
                idx = get_field(it, "event", "event_number", "event_id", "id")
                try:
                    i = int(idx) - 1 if idx is not None else None
                except (TypeError, ValueError):
                    i = None
                i = i if i is not None and 0 <= i < n_events else None
                for qq in as_list(q) if isinstance(q, list) else [q]:
                    if qq:
                        out.append((i, str(qq).strip()))
    else:  # plain text: "[Question]: ..." tags or lines ending with '?'
        tagged = re.findall(r"\[\s*question\s*\]\s*:?\s*(.+)", text or "", re.I)
        lines = tagged or [re.sub(r"^\s*(?:\d+[.)]|[-*]|Q\d*:)\s*", "", line)
                           for line in (text or "").splitlines() if line.strip().endswith("?")]
        out = [(None, q.strip()) for q in lines if q.strip()]
    return out or None
