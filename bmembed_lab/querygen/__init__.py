"""Synthetic training queries over the private corpus (paper Section 3.1, Appendix A).

Three backends behind :func:`generate_queries`, all returning a :class:`QuerySet`:

* ``offline`` (default, no network): keyphrase or Inverse-Cloze pseudo-queries
  (:mod:`.offline`);
* ``llm``: the paper's two stages through any OpenAI-compatible endpoint (:mod:`.llm`,
  prompts and reply parsing in :mod:`.prompts`); a reply that cannot be parsed is kept raw in
  the report and counted, never dropped silently;
* ``file``: the user's own queries (JSONL ``{text, query_id?, doc_id?, evidence?}``).

Every query keeps its evidence (the passages it was made from): BMEmbed itself never uses it,
the contrastive baseline takes it as the positive. :mod:`.filters` then drops empty, too
short/long and duplicate queries and those copying their evidence, and checks leakage against
the evaluation queries.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..config import QueriesConfig
from ..corpus import Document, iter_jsonl
from ..errors import InputError
from .filters import filter_queries
from .llm import dry_run, llm_queries
from .offline import offline_queries
from .types import Event, QuerySet, SyntheticQuery

__all__ = ["Event", "QuerySet", "SyntheticQuery", "dry_run", "filter_queries", "generate_queries",
           "held_out_queries", "load_user_queries"]


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
        out.append(
            SyntheticQuery(
                str(obj.get("query_id") or obj.get("_id") or f"user-{n}"),
                text,
                str(obj.get("doc_id") or ""),
                "",
                [ev] if isinstance(ev, str) else list(ev),
                "file",
            )
        )
    if not out:
        raise InputError("the queries file is empty", str(path), "add one JSON object per line")
    return out


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
        raise InputError(
            f"queries.backend = {qcfg.backend!r}", "config", "use offline, llm or file"
        )
    kept, dropped, leakage = filter_queries(raw, eval_queries or [], qcfg)
    counts.update({"documents": len(docs), "events": len(events), "generated": len(raw),
                   **{f"dropped: {r}": n for r, n in Counter(d["reason"] for d in dropped).items()},
                   "leakage flagged": len(leakage), "kept": len(kept)})
    if not kept:
        raise InputError(
            f"no query left after filtering ({counts})",
            "queries",
            "loosen queries.min_words / max_copy_ratio / leakage, or check the backend",
        )
    return QuerySet(kept, events, dropped, leakage, unparsed, counts)


def held_out_queries(docs: list[Document], qcfg: QueriesConfig, training: list[SyntheticQuery],
                     chunks: list, limit: int, seed: int) -> dict:
    """Queries made by ``qcfg`` whose text is not among the training queries, each with the
    chunk its passage came from (queries whose passage no chunk holds are left out), a seeded
    subset of at most ``limit``: {"ids", "texts", "sources"}."""
    import numpy as np

    from ..negatives import source_chunks
    from ..text import words

    made = generate_queries(docs, qcfg, None, [])
    seen = {" ".join(words(x.text)) for x in training}
    fresh = [x for x in made.queries if " ".join(words(x.text)) not in seen]
    src = source_chunks(fresh, chunks)
    keep = [i for i, s in enumerate(src) if s >= 0]
    if len(keep) > limit:
        keep = sorted(np.random.default_rng(seed).choice(keep, limit, replace=False).tolist())
    return {"ids": [f"heldout:{fresh[i].query_id}" for i in keep],
            "texts": [fresh[i].text for i in keep], "sources": [int(src[i]) for i in keep]}
