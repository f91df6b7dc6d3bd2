"""Query generation: the offline backend, the filters, tolerant parsing, the file backend."""

import pytest

from bmembed_lab.config import QueriesConfig
from bmembed_lab.corpus import Document
from bmembed_lab.errors import InputError
from bmembed_lab.querygen import SyntheticQuery, filter_queries, generate_queries
from bmembed_lab.querygen.filters import longest_shared_run
from bmembed_lab.querygen.llm import segments
from bmembed_lab.querygen.prompts import parse_events, parse_questions

from .conftest import DOCS, write_jsonl

TEXT = ("Insulin is a hormone made by the pancreas. It helps glucose enter the cells of the body. "
        "Type 2 diabetes develops when the body resists insulin. Obesity raises the risk of type 2 "
        "diabetes. Regular exercise lowers blood glucose levels. Metformin is the usual first "
        "medicine for type 2 diabetes. Kidney damage is a long term complication of diabetes. "
        "Doctors check the kidneys with a urine albumin test every year.")


def docs():
    return [Document(d["_id"], d["text"] * 3, d["title"]) for d in DOCS] + [
        Document("dx", TEXT, "Diabetes")
    ]


def test_offline_is_deterministic_per_document_and_keeps_evidence():
    cfg = QueriesConfig(seed=3)
    a = generate_queries(docs(), cfg)
    b = generate_queries(docs(), cfg)
    assert [q.text for q in a.queries] == [q.text for q in b.queries]
    assert a.counts["kept"] == len(a.queries) > 0
    for q in a.queries:  # evidence is a passage of the query's own document
        doc = next(d for d in docs() if d.doc_id == q.doc_id)
        assert q.evidence and all(e in doc.text for e in q.evidence)
        assert q.text.endswith(("?", "."))
    # a document's queries do not depend on the other documents' presence (own random stream)
    only = generate_queries(docs()[-1:], cfg)
    mine = [q for q in a.queries if q.doc_id == "dx"]
    assert len(only.queries) == len(mine)
    assert generate_queries(docs(), QueriesConfig(seed=4)).queries != a.queries


def test_offline_ict_deletes_words_from_a_sentence():
    qs = generate_queries(docs(), QueriesConfig(method="ict", max_copy_ratio=1.0))
    for q in qs.queries:
        ev = " ".join(q.evidence)
        assert all(w in ev for w in q.text.split())  # words of the passage, in order, some deleted


def test_filters_each_reason():
    cfg = QueriesConfig(min_words=3, max_words=8, max_copy_ratio=0.8, leakage_threshold=0.8)
    ev = ["Obesity raises the risk of type 2 diabetes in adults."]
    qs = [SyntheticQuery("a", "what raises diabetes risk", evidence=ev),
          SyntheticQuery("b", "What raises   DIABETES risk?", evidence=ev),  # duplicate of a
          SyntheticQuery("c", "too short", evidence=ev),
          SyntheticQuery("d", "one two three four five six seven eight nine", evidence=ev),
          SyntheticQuery("e", "Obesity raises the risk of type 2 diabetes", evidence=ev),  # copy
          SyntheticQuery("f", "   ", evidence=ev),
          SyntheticQuery("g", "how does metformin treat diabetes", evidence=ev)]
    kept, dropped, leak = filter_queries(qs, [("e1", "How does metformin treat diabetes?")], cfg)
    reasons = {d["query_id"]: d["reason"] for d in dropped}
    assert reasons == {
        "b": "duplicate",
        "c": "too short",
        "d": "too long",
        "e": "copies its evidence",
        "f": "empty",
        "g": "leaks an evaluation query",
    }
    assert [q.query_id for q in kept] == ["a"]
    assert leak == [
        {
            "query_id": "g",
            "text": qs[-1].text,
            "eval_query_id": "e1",
            "eval_text": "How does metformin treat diabetes?",
            "jaccard": 1.0,
            "action": "drop",
        }
    ]
    # flag keeps it; a copy ratio of 1 keeps copies
    kept2, _, leak2 = filter_queries(qs, [("e1", "How does metformin treat diabetes?")],
                                     QueriesConfig(min_words=3, max_words=8, max_copy_ratio=1.0,
                                                   leakage="flag"))
    assert {q.query_id for q in kept2} == {"a", "e", "g"} and leak2[0]["action"] == "flag"


def test_longest_shared_run():
    assert longest_shared_run("a b c d".split(), "x a b c y d".split()) == 3
    assert longest_shared_run(["a"], ["b"]) == 0
    assert longest_shared_run([], ["b"]) == 0


def test_parse_events_tolerates_format_drift():
    j = ('[{"event": "A met B", "topic": "t", "original_context": ["p1", "p2"], '
         '"type": "Fine-grained"}]')
    assert parse_events(j) == [{"event": "A met B", "topic": "t", "context": ["p1", "p2"],
                                "type": "fine-grained"}]
    fenced = "Sure! Here you go:\n```json\n" + j + "\n```\nHope this helps."
    assert parse_events(fenced)[0]["event"] == "A met B"
    wrapped = ('{"events": [{"Event": "X", "Original Context": "1. first\\n2. second", '
               '"Type": "general event"}]}')
    assert parse_events(wrapped) == [{"event": "X", "topic": "", "context": ["first", "second"],
                                      "type": "general"}]
    prose = "Here: " + j + " done"  # JSON inside prose, unfenced
    assert parse_events(prose)[0]["context"] == ["p1", "p2"]
    tagged = ("[Event]: Amazon began its sale.\n[Topic]: Amazon\n[Original context]: 1. The retail "
              "giant began its sale.\n2. It runs 11 days.\n[Type]: fine-grained\n\n[Event]: Deals\n"
              "[Topic]: shopping\n[Original context]: 1. deals everywhere\n[Type]: general")
    ev = parse_events(tagged)
    assert [e["event"] for e in ev] == ["Amazon began its sale.", "Deals"]
    assert ev[0]["context"] == ["The retail giant began its sale.", "It runs 11 days."]
    assert ev[1]["type"] == "general"
    assert parse_events("I cannot do that.") is None
    assert parse_events("") is None


def test_parse_questions_variants():
    assert parse_questions('{"questions": [{"event": 2, "question": "Q?"}]}', 2) == [(1, "Q?")]
    assert parse_questions('{"questions": [{"event": 9, "question": "Q?"}]}', 2) == [(None, "Q?")]
    assert parse_questions('["A?", "B?"]', 1) == [(None, "A?"), (None, "B?")]
    assert parse_questions("[Event]: e\n[Question]: Who won?\n[Question]: When?", 1) == [
        (None, "Who won?"), (None, "When?")]
    assert parse_questions("1. Who won the race?\n2) Where was it?\nThanks.", 1) == [
        (None, "Who won the race?"), (None, "Where was it?")]
    assert parse_questions("no questions here", 1) is None


def test_segments_cut_at_sentences_and_cover_the_text():
    d = Document("d", TEXT)
    segs = segments(d, 120)
    assert all(len(s) <= 120 for s in segs) and len(segs) > 2
    assert " ".join(segs).split() == TEXT.split()
    long = Document("l", "x" * 250)
    assert [len(s) for s in segments(long, 100)] == [100, 100, 50]


def test_file_backend_and_errors(tmp_path):
    p = write_jsonl(
        tmp_path / "q.jsonl",
        [
            {"text": "what hormone causes acromegaly", "evidence": "e"},
            {"query_id": "mine", "text": "gallstones ultrasound scan", "doc_id": "d2"},
        ],
    )
    qs = generate_queries([], QueriesConfig(backend="file", file=str(p)))
    assert [q.query_id for q in qs.queries] == ["user-1", "mine"]
    assert qs.queries[0].evidence == ["e"] and qs.queries[1].doc_id == "d2"
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"question": "x"}])
    with pytest.raises(InputError, match="no string field 'text'"):
        generate_queries([], QueriesConfig(backend="file", file=str(bad)))
    with pytest.raises(InputError, match="not found"):
        generate_queries([], QueriesConfig(backend="file", file=str(tmp_path / "nope.jsonl")))
    with pytest.raises(InputError, match="no documents"):
        generate_queries([], QueriesConfig())
    with pytest.raises(InputError, match="no query left"):
        generate_queries(docs(), QueriesConfig(min_words=60))


def test_the_content_key_is_the_json_of_every_kept_query_as_before():
    """The faster key (fields read directly) must equal the one every cached training run was
    keyed by (``asdict``), or every cache would be recomputed."""
    import json
    from dataclasses import asdict

    from bmembed_lab.hashing import texts_key
    from bmembed_lab.querygen.types import QuerySet, SyntheticQuery
    from bmembed_lab.stages.queries import content_key

    qs = QuerySet([SyntheticQuery("q1", "What causes it?", "d1", "e1", ["evidence ü"], "offline"),
                   SyntheticQuery("q2", "How is it treated?")])
    assert content_key(qs) == "queries-" + texts_key(
        [json.dumps(asdict(x), sort_keys=True, ensure_ascii=False) for x in qs.queries])
