"""Chunk relevance: evidence text (Multihop-RAG rule), pages, lifted doc qrels."""

from bmembed_lab.chunking import Chunk
from bmembed_lab.corpus import Dataset, Document, Evidence, Query
from bmembed_lab.relevance import chunk_relevance, normalize_evidence


def ch(i, doc, text, page=None):
    return Chunk(f"{doc}#{i}", doc, text, 0, len(text), 1, page_start=page, page_end=page)


CHUNKS = [ch(0, "a", "Growth hormone\n causes acromegaly.", 0), ch(1, "a", "Surgery helps.", 1),
          ch(2, "b", "Growth hormone causes acromegaly too.", 0), ch(3, "b", "Other text.", 1)]
DOCS = [Document("a", "x"), Document("b", "y")]


def test_normalisation():
    assert normalize_evidence(" A b\n\tc ") == "Abc"
    assert normalize_evidence("A b", case_sensitive=False) == "ab"


def test_evidence_text_whitespace_insensitive_case_sensitive_and_scoped():
    qs = [Query("q1", "?"), Query("q2", "?"), Query("q3", "?")]
    ev = [Evidence("q1", "growth  hormone causes acromegaly"),  # lower-case g: no match
          Evidence("q2", "Growth hormone causes acromegaly"),  # both docs
          Evidence("q3", "Growth hormone causes acromegaly", doc_id="b", grade=2)]
    rel = chunk_relevance(Dataset("t", DOCS, qs, {}, ev), CHUNKS)
    assert rel.no_relevant == ["q1"] and rel.unmatched_facts == 1
    assert rel.grades["q2"] == {0: 1.0, 2: 1.0} and rel.facts["q2"] == {0: [0], 2: [0]}
    assert rel.grades["q3"] == {2: 2.0} and rel.n_facts["q3"] == 1
    rel = chunk_relevance(Dataset("t", DOCS, qs, {}, ev), CHUNKS, case_sensitive=False)
    assert rel.grades["q1"] == {0: 1.0, 2: 1.0}


def test_text_cut_by_boundary_matches_nothing():
    ev = [Evidence("q", "causes acromegaly. Surgery helps.")]
    rel = chunk_relevance(Dataset("t", DOCS, [Query("q", "?")], {}, ev), CHUNKS)
    assert rel.no_relevant == ["q"]


def test_pages_docs_and_multiple_facts():
    qs = [Query("p", "?"), Query("d", "?"), Query("m", "?"), Query("unlabelled", "?")]
    ev = [
        Evidence("p", doc_id="a", page=1),
        Evidence("m", "Surgery helps."),
        Evidence("m", "Other text."),
    ]
    rel = chunk_relevance(Dataset("t", DOCS, qs, {"d": {"b": 3.0}}, ev), CHUNKS)
    assert rel.grades["p"] == {1: 1.0}
    assert rel.grades["d"] == {2: 3.0, 3: 3.0} and rel.facts["d"] == {2: [0], 3: [0]}
    assert rel.facts["m"] == {1: [0], 3: [1]} and rel.n_facts["m"] == 2
    assert "unlabelled" not in rel.grades and "unlabelled" not in rel.no_relevant
    # forcing page matching ignores text; forcing doc marks the whole evidence document
    ev2 = [Evidence("p", "Other text.", doc_id="a", page=0)]
    assert chunk_relevance(Dataset("t", DOCS, qs[:1], {}, ev2), CHUNKS, match="page").grades[
        "p"
    ] == {0: 1.0}
    assert chunk_relevance(Dataset("t", DOCS, qs[:1], {}, ev2), CHUNKS, match="doc").grades[
        "p"
    ] == {0: 1.0, 1: 1.0}
