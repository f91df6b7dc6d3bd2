"""Titles begin chunks (issue 32, line 1) and split documents are scored as documents (line 2).

The document-level numbers are checked against an independent computation written here from
the definitions (BEIR / MTEB: a document's score is its best chunk's score; metrics over the
ranked documents), not with the package's own metric functions.
"""

from __future__ import annotations

import math

import pytest

from bmembed_lab.chunking import chunk_documents
from bmembed_lab.corpus import Dataset, Document, Query
from bmembed_lab.folders import heading, load_folder_documents
from bmembed_lab.relevance import chunk_relevance, collapse

from .conftest import tiny_config, write_jsonl


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


LONG = " ".join(f"Sentence number {i} talks about the pituitary gland." for i in range(30))


def test_every_chunk_first_chunk_or_none_begins_with_the_title(tokenizer):
    doc = Document("d", LONG, "Acromegaly overview")
    every = chunk_documents([doc], tokenizer, 48, titles="every")
    first = chunk_documents([doc], tokenizer, 48, titles="first")
    none = chunk_documents([doc], tokenizer, 48, titles="none")
    assert len(every) > 2 and all(c.text.startswith("Acromegaly overview ") for c in every)
    assert first[0].text.startswith("Acromegaly overview ")
    assert not any(c.text.startswith("Acromegaly") for c in first[1:] + none)
    for c in every + first + none:
        assert c.body == LONG[c.start:c.end]  # offsets stay offsets of the document's text
        assert c.n_tokens <= 48  # the title is inside the token budget
        assert len(tokenizer(c.text, add_special_tokens=False)["input_ids"]) <= 48


def test_a_long_title_is_cut_to_half_the_budget_and_a_heading_is_not_repeated(tokenizer):
    doc = Document("d", LONG, " ".join(["word"] * 200))
    chunks = chunk_documents([doc], tokenizer, 32, titles="every")
    assert all(c.n_tokens <= 32 and c.prefix for c in chunks)
    assert len(tokenizer(chunks[0].text[:chunks[0].prefix], add_special_tokens=False)
               ["input_ids"]) == 16
    md = Document("m.md", "# Gallstones\n\nGallstones form in the gallbladder.", "Gallstones")
    (c,) = chunk_documents([md], tokenizer, 64, titles="every")
    assert c.prefix == 0 and c.text.count("Gallstones") == 2  # the heading and the body's word


def test_folder_titles_come_from_a_heading_only_when_asked(tmp_path):
    (tmp_path / "a.md").write_text("Some intro line.\n\n## Kidney stones ##\nbody text here.")
    (tmp_path / "b.txt").write_text("Bile Duct Notes\n\nThe bile duct carries bile.")
    (tmp_path / "c.txt").write_text("This first line is a sentence that ends.\nMore text.")
    none = {d.doc_id: d.title for d in load_folder_documents(tmp_path)}
    asked = {d.doc_id: d.title for d in load_folder_documents(tmp_path, titles="heading")}
    assert none == {"a.md": "", "b.txt": "", "c.txt": ""}
    assert asked == {"a.md": "Kidney stones", "b.txt": "Bile Duct Notes", "c.txt": ""}
    assert heading("", True) == "" and heading("# T\nx", False) == "T"


def _title_only_corpus(tmp_path):
    """A query whose distinctive word ("xylophone") is in one document's title alone."""
    d = tmp_path / "titled"
    docs = [{"_id": f"d{i}", "title": f"Topic {i}", "text": f"Plain text number {i} about "
             f"ordinary things and more ordinary things."} for i in range(8)]
    docs[5]["title"] = "Xylophone"
    write_jsonl(d / "corpus.jsonl", docs)
    write_jsonl(d / "queries.jsonl", [{"_id": "q", "text": "xylophone"}])
    (d / "qrels").mkdir()
    (d / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq\td5\t1\n")
    return d


@pytest.mark.parametrize("titles, found", [("every", True), ("none", False)])
def test_a_query_only_the_title_matches_is_found(tmp_path, tiny_model_dir, titles, found):
    from bmembed_lab.pipeline import Pipeline

    cfg = tiny_config(tmp_path, _title_only_corpus(tmp_path), tiny_model_dir,
                      chunking__titles=titles, eval__dev_fraction=0.0)
    pipe = Pipeline(cfg)
    run, _ = pipe.run("bm25")
    chunks = pipe.chunks()[0]
    top = [chunks[c].doc_id for c in run.ranked(0)[:1]]
    assert (top == ["d5"]) is found
    assert pipe.evaluate(["bm25"])["summary"].loc["bm25", "Hit@1"] == (100.0 if found else 0.0)


def test_the_cache_key_covers_the_title_option(tmp_path, tiny_model_dir):
    from bmembed_lab.pipeline import Pipeline

    corpus = _title_only_corpus(tmp_path)
    keys = {t: Pipeline(tiny_config(tmp_path, corpus, tiny_model_dir, chunking__titles=t))
            .chunks()[1] for t in ("every", "first", "none")}
    assert len(set(keys.values())) == 3


# -- document-level scoring ----------------------------------------------------------------------
def _split_docs_dataset():
    """Three documents of several chunks each; graded document qrels."""
    docs = [Document(f"d{i}", f"text {i}") for i in range(3)]
    queries = [Query("q1", "a"), Query("q2", "b")]
    qrels = {"q1": {"d0": 2.0, "d2": 1.0}, "q2": {"d1": 1.0}}
    return Dataset("split", docs, queries, qrels)


class _C:  # the two fields relevance reads
    def __init__(self, doc_id):
        self.doc_id, self.text, self.body = doc_id, "", ""
        self.page_start = self.page_end = None


def _independent(chunk_scores: dict[int, float], doc_of: list[str], qrels: dict[str, float]):
    """BEIR/MTEB from the definitions: doc score = max chunk score; then Hit@1, MRR@10, nDCG@10
    with linear gains and recall@10, over the documents sorted by score."""
    best: dict[str, float] = {}
    for c, s in chunk_scores.items():
        best[doc_of[c]] = max(best.get(doc_of[c], -math.inf), s)
    ranked = sorted(best, key=lambda d: -best[d])[:10]
    gains = [qrels.get(d, 0.0) for d in ranked]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted(qrels.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    first = next((i for i, g in enumerate(gains) if g > 0), None)
    return {"Hit@1": float(bool(gains) and gains[0] > 0), "MRR@10": 0 if first is None else
            1 / (first + 1), "nDCG@10": dcg / idcg,
            "Recall@10": sum(g > 0 for g in gains) / sum(g > 0 for g in qrels.values())}


def test_document_level_metrics_match_an_independent_computation():
    from bmembed_lab.evaluation import per_query_table
    from bmembed_lab.retrieval import Run

    import numpy as np

    ds = _split_docs_dataset()
    doc_ids = ["d0", "d0", "d0", "d1", "d1", "d2", "d2", "d2"]
    chunks = [_C(d) for d in doc_ids]
    auto = chunk_relevance(ds, chunks, level="auto")
    assert auto.level == "document" and chunk_relevance(ds, chunks, level="chunk").level == "chunk"
    # chunk scores per query: rankings where chunks of one document crowd the top
    scores = {"q1": {3: 0.9, 4: 0.85, 0: 0.8, 6: 0.7, 1: 0.6, 2: 0.1, 5: 0.05, 7: 0.0},
              "q2": {0: 0.95, 1: 0.9, 2: 0.85, 5: 0.8, 3: 0.5, 4: 0.4, 6: 0.3, 7: 0.2}}
    order = {q: sorted(s, key=lambda c: -s[c]) for q, s in scores.items()}
    run = Run("x", ["q1", "q2"], np.array([order["q1"], order["q2"]]),
              np.array([[scores[q][c] for c in order[q]] for q in ("q1", "q2")]))
    table = per_query_table(run, auto).set_index("query_id")
    for q in ("q1", "q2"):
        want = _independent(scores[q], doc_ids, ds.qrels[q])
        for metric, value in want.items():
            assert table.loc[q, metric] == pytest.approx(value), (q, metric)
    chunk_level = per_query_table(run, chunk_relevance(ds, chunks, level="chunk"))
    assert chunk_level.set_index("query_id").loc["q1", "nDCG@10"] != pytest.approx(
        table.loc["q1", "nDCG@10"])  # every chunk of a relevant document counted: another number


def test_auto_level_stays_chunk_for_text_evidence_or_unsplit_documents():
    from bmembed_lab.corpus import Evidence

    ds = _split_docs_dataset()
    one_each = [_C(d) for d in ("d0", "d1", "d2")]
    assert chunk_relevance(ds, one_each).level == "chunk"  # nothing split: the same numbers
    ds.evidence = [Evidence("q1", "text 0", "d0")]
    split = [_C(d) for d in ("d0", "d0", "d1", "d2")]
    for c in split:
        c.body = "text 0"
    assert chunk_relevance(ds, split).level == "chunk"  # gold passages: chunk labels
    assert collapse([3, 0, 1, -1, 2], [0, 0, 1, 2]) == [2, 0, 1]


def test_run_header_check_and_dev_selection_score_at_the_document_level(tmp_path, tiny_model_dir,
                                                                        beir_dir):
    """On the tiny BEIR corpus cut into several chunks per document, with doc qrels only, the
    evaluation, the dev pool and check all rank documents."""
    from bmembed_lab.pipeline import Pipeline

    (beir_dir / "evidence.jsonl").unlink()
    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, chunking__chunk_tokens=16,
                      eval__dev_fraction=0.67, training__eval_every=1)  # q2 in dev
    pipe = Pipeline(cfg)
    assert len(pipe.chunks()[0]) > 3 * 2
    rel = pipe.questions("test").relevance
    assert rel.level == "document"
    res = pipe.evaluate(["bm25", "base"])
    assert res["level"].startswith("scored by document")
    pq = res["per_query"]
    assert (pq["Recall@10"] <= 1.0).all() and set(pq["Hit@10"]) <= {0.0, 1.0}
    pool = pipe.dev_pool()[0]
    assert len(pool) and pool.doc_of == rel.doc_of
    assert all(set(g) <= set(rel.doc_of) for g in pool.grades)  # document numbers, not chunks
    from bmembed_lab.check import format_report, run_check

    report = run_check(pipe, n_boot=200)
    assert report["questions"]["level"] == "document"
    assert "scored by document" in format_report(report)
