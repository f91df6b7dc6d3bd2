"""`bmembed-lab init`: a first config for one's own corpus that the other commands read as it
is, a report of what was found and what is missing, and clear refusals."""

import json

from bmembed_lab import methods
from bmembed_lab.cli import main
from bmembed_lab.config import load_config
from bmembed_lab.pipeline import Pipeline

from .conftest import DOCS, write_jsonl


def test_a_folder_with_questions_and_evidence_gives_a_config_that_runs(tmp_path, capsys):
    docs = tmp_path / "my_documents"
    (docs / "sub").mkdir(parents=True)
    (docs / "a.txt").write_text(
        "Kidney stones form in the kidney. Drinking water helps prevent them."
    )
    (docs / "sub" / "b.md").write_text("# Gallstones\nGallstones form in the gallbladder.")
    write_jsonl(docs / "questions.jsonl", [{"_id": "q1", "text": "how to prevent kidney stones"}])
    write_jsonl(docs / "evidence.jsonl", [{"query_id": "q1", "doc_id": "a.txt",
                                           "text": "Drinking water helps prevent them."}])
    out = tmp_path / "bmembed.toml"
    assert main(["init", str(docs), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "folder of 2 readable files" in said and "'a.txt'" in said
    assert 'titles: none (corpus.folder_titles = "heading"' in said
    assert "questions: my_documents/questions.jsonl (1)" in said and "missing" not in said
    cfg = load_config(out)
    assert (cfg.corpus.format, cfg.corpus.path, cfg.chunking.chunk_tokens) == (
        "folder",
        "my_documents",
        254,
    )
    assert cfg.eval.systems == ["bm25", "base", "rrf", methods.DEFAULT, f"rrf+{methods.DEFAULT}"]
    ds, _ = Pipeline(cfg).dataset()
    assert sorted(d.doc_id for d in ds.documents) == ["a.txt", "sub/b.md"]
    assert Pipeline(cfg).relevance()[0].grades  # the evidence matched a chunk
    assert main(["init", str(docs), "--out", str(out)]) == 2  # never over an existing file
    assert "--force" in capsys.readouterr().err


def test_a_jsonl_file_with_its_own_field_names_and_no_questions(tmp_path, capsys):
    rows = [{"doc": d["_id"], "body": d["text"], "name": d["title"]} for d in DOCS]
    rows[0]["id"] = rows[0].pop("doc")
    for r in rows[1:]:
        r["id"] = r.pop("doc")
    path = write_jsonl(tmp_path / "docs.jsonl", rows)
    out = tmp_path / "c.toml"
    assert main(["init", str(path), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "3 documents (id from 'id', text from 'body', title from 'name')" in said
    assert "titles: 3 of 3 documents have one; it begins each of their chunks" in said
    assert "missing: labelled questions" in said and '"doc_id": "d1"' in said
    cfg = load_config(out)
    assert (cfg.corpus.id_field, cfg.corpus.text_field, cfg.corpus.title_field) == (
        "id",
        "body",
        "name",
    )
    assert [d.title for d in Pipeline(cfg).dataset()[0].documents] == [d["title"] for d in DOCS]


def test_init_refuses_what_it_cannot_read(tmp_path, capsys):
    assert main(["init", str(tmp_path / "nowhere")]) == 2
    assert "nothing at this path" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["init", str(tmp_path / "empty"), "--out", str(tmp_path / "c.toml")]) == 2
    assert "no .txt, .md or .pdf" in capsys.readouterr().err
    odd = write_jsonl(tmp_path / "odd.jsonl", [{"k": 1, "v": "x"}])
    assert main(["init", str(odd), "--out", str(tmp_path / "c.toml")]) == 2
    err = capsys.readouterr().err
    assert "corpus.id_field" in err and json.dumps(["k", "v"]).replace('"', "'") in err


def test_init_writes_the_corpus_path_relative_to_the_config_as_its_comment_says(tmp_path):
    """A corpus outside the config's folder was written as an absolute path under a comment
    saying 'relative to this file'; the config now moves with its corpus."""
    from bmembed_lab.config import load_config

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Kidney stones form in the kidney.\n")
    (tmp_path / "configs").mkdir()
    out = tmp_path / "configs" / "mine.toml"
    assert main(["init", str(tmp_path / "docs"), "--out", str(out)]) == 0
    assert 'path = "../docs"  # relative to this file' in out.read_text()
    cfg = load_config(out)
    assert cfg.resolve(cfg.corpus.path).resolve() == (tmp_path / "docs").resolve()
