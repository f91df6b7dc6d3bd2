"""The records of query generation: events (the passages a query is made from), synthetic
queries with their evidence, and the query set with its report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


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

    def to_json(self) -> dict:
        return {
            "queries": [asdict(q) for q in self.queries],
            "events": [asdict(e) for e in self.events],
            "dropped": self.dropped,
            "leakage": self.leakage,
            "unparsed": self.unparsed,
            "counts": self.counts,
        }

    @classmethod
    def from_json(cls, d: dict) -> "QuerySet":
        return cls([SyntheticQuery(**q) for q in d["queries"]], [Event(**e) for e in d["events"]],
                   d["dropped"], d["leakage"], d["unparsed"], d["counts"])
