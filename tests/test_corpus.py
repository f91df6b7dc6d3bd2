"""Ingestion of every format, and clear errors on bad input."""


import pytest

from bmembed_lab import corpus as C
from bmembed_lab import folders as F
from bmembed_lab import tables as T
from bmembed_lab.errors import InputError
from bmembed_lab.labelcheck import check_dataset

from .conftest import SHARED, make_pdf, write_jsonl


def test_beir_with_evidence(beir_dir):
    ds = check_dataset(C.load_beir(beir_dir), "x")
    assert [d.doc_id for d in ds.documents] == ["d1", "d2", "d3"]
    assert ds.documents[0].title == "Acromegaly" and ds.documents[0].source == "corpus.jsonl"
    assert ds.qrels["q3"] == {"d3": 2.0} and len(ds.evidence) == 3 and len(ds.queries) == 4


def test_jsonl_custom_fields(tmp_path):
    p = write_jsonl(tmp_path / "docs.jsonl", [{"id": 7, "body": "text one", "name": "T", "year": 1},
                                             {"id": 8, "body": "  ", "name": "empty"}])
    skipped = __import__("collections").Counter()
    docs = C.load_jsonl_documents(p, "id", "body", "name", skipped=skipped)
    assert len(docs) == 1 and docs[0].doc_id == "7" and docs[0].title == "T"
    assert docs[0].metadata == {"year": 1} and skipped["documents with empty text"] == 1
    with pytest.raises(InputError, match="no field '_id'"):
        C.load_jsonl_documents(p)


def test_malformed_jsonl_names_file_and_line(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text('{"_id": "a", "text": "ok"}\n{"_id": "b", "text": \n')
    with pytest.raises(InputError) as e:
        C.load_jsonl_documents(p)
    assert f"{p}:2" in str(e.value) and "skip_bad_lines" in str(e.value)
    skipped = __import__("collections").Counter()
    assert len(C.load_jsonl_documents(p, skip_bad_lines=True, skipped=skipped)) == 1
    assert skipped["malformed lines in c.jsonl"] == 1


def test_invalid_utf8(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(b'{"_id": "a", "text": "ok"}\n{"_id": "b", "text": "caf\xe9"}\n')
    with pytest.raises(InputError, match=r"invalid UTF-8 at byte \d+ \(line 2\)") as e:
        C.load_jsonl_documents(p)
    assert "iconv" in str(e.value)
    docs = C.load_jsonl_documents(p, errors="replace")
    assert docs[1].text == "caf\ufffd"


def test_folder_txt_md_pdf(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("plain text file")
    (tmp_path / "sub" / "b.md").write_text("intro\n# The Title\nbody")
    make_pdf(tmp_path / "c.pdf", ["First page text", "", "Third page text"])
    (tmp_path / "ignored.csv").write_text("x")
    skipped = __import__("collections").Counter()
    docs = {d.doc_id: d for d in F.load_folder_documents(tmp_path, skipped=skipped,
                                                         titles="heading")}
    assert set(docs) == {"a.txt", "sub/b.md", "c.pdf"}
    assert docs["sub/b.md"].title == "The Title"
    pdf = docs["c.pdf"]
    assert len(pdf.page_starts) == 3 and "First page text" in pdf.text
    third = pdf.text.index("Third page text")
    assert pdf.page_at(third) == 2 and pdf.page_at(0) == 0
    assert skipped["PDF pages without text"] == 1


def test_unreadable_and_image_only_pdfs_are_skipped_and_counted(tmp_path):
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a pdf")
    make_pdf(tmp_path / "scan.pdf", ["", ""])
    (tmp_path / "ok.txt").write_text("fine")
    with pytest.raises(InputError, match="(?s)no extractable text.*OCR"):
        F.read_pdf(tmp_path / "scan.pdf")
    with pytest.raises(InputError, match="unreadable PDF"):
        F.read_pdf(tmp_path / "broken.pdf")
    skipped = __import__("collections").Counter()
    docs = F.load_folder_documents(tmp_path, skipped=skipped)
    assert [d.doc_id for d in docs] == ["ok.txt"]
    assert skipped["unreadable or image-only PDFs"] == 2


@pytest.mark.skipif(not (SHARED / "financebench" / "pdfs" / "3M_2018_10K.pdf").is_file(),
                    reason="FinanceBench PDFs not beside the repo")
def test_real_financebench_pdf_pages_match_dataset():
    import json

    text, starts = F.read_pdf(SHARED / "financebench" / "pdfs" / "3M_2018_10K.pdf")
    doc = C.Document("3M_2018_10K", text, page_starts=starts)
    rows = [
        json.loads(line)
        for line in open(SHARED / "financebench" / "data" / "financebench_open_source.jsonl")
    ]
    ev = next(e for r in rows for e in r["evidence"] if e["doc_name"] == "3M_2018_10K")
    s, e = doc.page_span(ev["evidence_page_num"])
    assert "".join(ev["evidence_text_full_page"].split())[:200] in "".join(text[s:e].split())


def test_empty_corpus_and_unknown_ids(tmp_path):
    with pytest.raises(InputError, match="no documents"):
        check_dataset(C.Dataset("x", []), "somewhere")
    ds = C.Dataset("x", [C.Document("d1", "t")], [C.Query("q1", "t")],
                   {"q1": {"d1": 1, "nope": 1}, "q9": {"d1": 1}},
                   [C.Evidence("q1", "t", "zz"), C.Evidence("q7", "t")])
    out = check_dataset(ds, "x")
    assert out.qrels == {"q1": {"d1": 1}}
    assert out.skipped == {
        "qrels rows with unknown document id": 1,
        "qrels rows with unknown query id": 1,
        "evidence with unknown document id": 1,
        "evidence with unknown query id": 1,
    }
    with pytest.raises(InputError, match="folder not found"):
        F.load_folder_documents(tmp_path / "missing")


def test_a_label_naming_an_empty_document_names_that_cause(tmp_path, caplog):
    """The warning says the document is empty, not that ids are spelled like file paths."""
    d = tmp_path / "beir"
    write_jsonl(d / "corpus.jsonl", [{"_id": "d1", "text": "some text"},
                                     {"_id": "d2", "text": "   "}])
    write_jsonl(d / "queries.jsonl", [{"_id": "q1", "text": "a question"}])
    (d / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t1\n")
    with caplog.at_level("WARNING"):
        out = check_dataset(C.load_beir(d), "x")
    assert out.skipped["qrels rows naming a document without text"] == 1
    assert "qrels rows with unknown document id" not in out.skipped
    assert "'d2': the corpus has that document, but its text is empty" in caplog.text
    assert "folder corpus" not in caplog.text


def test_qrels_tsv_errors(tmp_path):
    p = tmp_path / "q.tsv"
    p.write_text("q1\td1\tbad\n")
    with pytest.raises(InputError, match="not a number"):
        C.load_qrels_tsv(p)
    p.write_text("q1 d1 1\n")
    with pytest.raises(InputError, match="tab-separated"):
        C.load_qrels_tsv(p)


def test_parquet_and_saved_datasets_corpora_read_as_jsonl_does(tmp_path, beir_dir,
                                                              tiny_model_dir):
    """The same documents from parquet, a saved `datasets` folder (and a DatasetDict's
    split) as from the BEIR folder's JSONL; the pipeline runs on them; a bad row is named."""
    import datetime
    import json

    import datasets
    import pandas as pd

    from bmembed_lab.pipeline import Pipeline

    from .conftest import tiny_config

    rows = [json.loads(x) for x in (beir_dir / "corpus.jsonl").read_text().splitlines()]
    frame = pd.DataFrame(rows).assign(when=datetime.date(2024, 1, 2))
    frame.to_parquet(tmp_path / "docs.parquet", index=False)
    datasets.Dataset.from_pandas(frame).save_to_disk(str(tmp_path / "saved"))
    datasets.DatasetDict({"train": datasets.Dataset.from_pandas(frame)}).save_to_disk(
        str(tmp_path / "saved_dict"))
    want = [(d.doc_id, d.text, d.title) for d in C.load_beir(beir_dir).documents]
    for fmt, path in (("parquet", "docs.parquet"), ("datasets", "saved"),
                      ("datasets", "saved_dict")):
        cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, corpus__format=fmt,
                          corpus__path=str(tmp_path / path),
                          corpus__queries=str(beir_dir / "queries.jsonl"),
                          corpus__qrels=str(beir_dir / "qrels" / "test.tsv"),
                          cache__dir=str(tmp_path / f"cache_{path}"))
        pipe = Pipeline(cfg)
        docs = pipe.dataset()[0].documents
        assert [(d.doc_id, d.text, d.title) for d in docs] == want, fmt
        assert docs[0].metadata["when"] == "2024-01-02"  # a date cell kept as text
        assert len(pipe.evaluate(["bm25"])["per_query"]) > 0
    frame.drop(columns="text").to_parquet(tmp_path / "bad.parquet", index=False)
    with pytest.raises(InputError, match="row 1 has no field 'text'"):
        C.documents_from_rows(T.rows(tmp_path / "bad.parquet", "parquet"),
                              tmp_path / "bad.parquet", unit="row")
    with pytest.raises(InputError, match="save_to_disk"):
        list(T.rows(tmp_path, "datasets"))
