"""The LLM backend of query generation (paper Section 3.1, Appendix A): event extraction per
document segment, then query synthesis per segment, through any OpenAI-compatible endpoint.

In: documents, the queries config and an :class:`~bmembed_lab.llm.LLMClient` (which caches
every reply as it arrives, so an interrupted run resumes). Out: events, queries, the replies
that could not be parsed (kept raw) and counts. :func:`dry_run` says what would be sent.
"""

from __future__ import annotations

from ..chunking import sentence_spans
from ..config import LLMConfig, QueriesConfig
from ..corpus import Document
from ..errors import InputError
from ..llm import failure_fix
from .prompts import extraction_call, parse_events, parse_questions, synthesis_call
from .types import Event, SyntheticQuery


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



def _in_doc(passage: str, doc_norm: str) -> bool:
    return "".join(passage.split()) in doc_norm


def llm_queries(docs: list[Document], qcfg: QueriesConfig, client, progress=None
                ) -> tuple[list[Event], list[SyntheticQuery], list[dict], dict]:
    """Both LLM stages over every document segment. Returns events, queries, unparsed replies
    and counts; raises after caching every reply it got if some calls still failed."""
    max_chars = client.cfg.segment_tokens * 4
    segs = [(d, si, s) for d in docs for si, s in enumerate(segments(d, max_chars))]
    calls = [extraction_call(s, client.cfg, qcfg) for _, _, s in segs]
    replies = client.complete_all(calls, progress, lambda i, text: parse_events(text))
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
                    evs.append(
                        Event(
                            f"{d.doc_id}::s{si}e{i}",
                            d.doc_id,
                            p["event"],
                            p["topic"],
                            p["context"],
                            p["type"],
                            all(_in_doc(c, doc_norm) for c in p["context"])
                            if p["context"]
                            else False,
                        )
                    )
        seg_events.append(evs)
        events += evs
    todo = [(k, seg) for k, ((_, _, seg), evs) in enumerate(zip(segs, seg_events)) if evs]
    s_calls = [synthesis_call(seg, seg_events[k], client.cfg, qcfg) for k, seg in todo]
    s_replies = client.complete_all(
        s_calls, progress, lambda i, text: parse_questions(text, len(seg_events[todo[i][0]])))
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
            queries.append(
                SyntheticQuery(
                    f"{d.doc_id}::s{si}q{j}",
                    q,
                    d.doc_id,
                    ev.event_id if ev else f"{d.doc_id}::s{si}",
                    evidence,
                    "llm",
                )
            )
    st = client.stats
    counts = {
        "segments": len(segs),
        "extraction calls": len(calls),
        "synthesis calls": len(s_calls),
        "calls sent (incl. retries)": st.sent,
        "replies from cache": st.cached,
        "retries": st.retries,
        "failed calls": len(failed),
        "unparsed replies": len(unparsed),
        "events": len(events),
        "events whose context is not verbatim in the document": sum(
            not e.context_in_doc for e in events
        ),
        "prompt tokens": st.prompt_tokens,
        "completion tokens": st.completion_tokens,
    }
    if unparsed and not events:
        raise InputError(
            f"none of the {len(calls)} event-extraction replies is the JSON the prompt asks for "
            f"(first: {unparsed[0]['raw'][:80]!r})",
            f"llm endpoint {client.endpoint} (model {calls[0].model})",
            "set llm.response_format = \"json_object\" (or \"json_schema\") if the server "
            "supports it, or use a model that follows the prompt; no unreadable reply was "
            "cached, so a rerun asks again",
        )
    if failed:
        doc, stage, err = failed[0]
        raise InputError(
            f"{len(failed)} LLM calls still failed after {client.cfg.max_retries} retries "
            f"(first: {stage} of {doc}: {err}); the {len(calls) + len(s_calls) - len(failed)} "
            "replies received are cached",
            f"llm endpoint {client.endpoint}",
            failure_fix(err, client.cfg),
        )
    return events, queries, unparsed, counts


def dry_run(docs: list[Document], qcfg: QueriesConfig, llm: LLMConfig) -> dict:
    """What the LLM backend would send: calls and an estimate of tokens. Nothing is sent. The
    synthesis prompts are estimated as segment + max_events_per_doc short event lines."""
    from ..llm import estimate

    max_chars = llm.segment_tokens * 4
    segs = [s for d in docs for s in segments(d, max_chars)]
    ex = [extraction_call(s, llm, qcfg) for s in segs]
    fake = [Event("", "", "x" * 120, "y" * 20)] * qcfg.max_events_per_doc
    syn = [synthesis_call(s, fake, llm, qcfg) for s in segs]
    e1, e2 = estimate(ex, llm.max_output_tokens), estimate(syn, llm.max_output_tokens)
    return {
        "documents": len(docs),
        "segments": len(segs),
        "extraction calls": e1["calls"],
        "synthesis calls (at most)": e2["calls"],
        "approx prompt tokens": e1["approx_prompt_tokens"] + e2["approx_prompt_tokens"],
        "max completion tokens": e1["max_completion_tokens"] + e2["max_completion_tokens"],
        "models": [llm.extract_model, llm.query_model],
        "note": "prompt tokens estimated at 4 characters a token; completion is the upper bound "
        "max_output_tokens per call",
    }
