"""Shared fixtures: a tiny random encoder built from a config, small corpora, real PDFs."""

from __future__ import annotations

import json
import os
import tempfile
import zlib
from pathlib import Path

import pytest

# model fingerprints remembered across processes: a throw-away file, never the user's own
os.environ.setdefault(
    "BMEMBED_FINGERPRINT_MEMO", str(Path(tempfile.mkdtemp()) / "fingerprints.json")
)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT (hidden 32) with MiniLM's tokenizer, saved locally."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from bmembed_lab.encoder import resolve_model_path

    out = tmp_path_factory.mktemp("tiny_bert")
    tok = AutoTokenizer.from_pretrained(str(resolve_model_path("all-MiniLM-L6-v2")))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def flip_last_byte(path: Path, mask: int = 0xFF) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= mask
    path.write_bytes(bytes(data))


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


DOCS = [
    {
        "_id": "d1",
        "title": "Acromegaly",
        "text": "Acromegaly is a hormonal disorder caused by excess "
        "growth hormone. The pituitary gland makes growth hormone.\n\nTreatment includes surgery "
        "to "
        "remove the pituitary tumor. Medication can lower hormone levels.",
    },
    {
        "_id": "d2",
        "title": "Gallstones",
        "text": "Gallstones are hard pieces that form in the "
        "gallbladder. Bile contains cholesterol and bilirubin.\n\nSymptoms include pain in the "
        "upper "
        "abdomen after fatty meals. Doctors use ultrasound to find gallstones.",
    },
    {
        "_id": "d3",
        "title": "Kidney stones",
        "text": "A kidney stone is a solid piece of material "
        "that forms in the kidney. Drinking enough water helps prevent kidney stones.\n\nSmall "
        "stones "
        "may pass on their own with pain medication.",
    },
]
QUERIES = [{"_id": "q1", "text": "what hormone causes acromegaly"},
           {"_id": "q2", "text": "do doctors use ultrasound for gallstones"},
           {"_id": "q3", "text": "how to prevent kidney stones"},
           {"_id": "q4", "text": "question with no label"}]
EVIDENCE = [
    {"query_id": "q1", "doc_id": "d1", "text": "caused by excess growth hormone"},
    {"query_id": "q2", "doc_id": "d2", "text": "Doctors use ultrasound to find gallstones."},
    {"query_id": "q3", "text": "Drinking enough water helps prevent kidney stones."},
]


@pytest.fixture
def beir_dir(tmp_path) -> Path:
    d = tmp_path / "tiny_beir"
    write_jsonl(d / "corpus.jsonl", DOCS)
    write_jsonl(d / "queries.jsonl", QUERIES)
    write_jsonl(d / "evidence.jsonl", EVIDENCE)
    (d / "qrels").mkdir()
    (d / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\nq3\td3\t2\n"
    )
    return d


def make_pdf(path: Path, pages: list[str]) -> Path:
    """A real (minimal, valid) PDF with one text line per page in Helvetica; '' = no text."""
    objs: list[bytes] = []

    def add(body: bytes) -> int:
        objs.append(body)
        return len(objs)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    kids = []
    page_objs = []
    for text in pages:
        esc = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({esc}) Tj ET".encode() if text else b""
        data = zlib.compress(stream)
        content = add(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data
                      + b"\nendstream")
        page_objs.append(content)
    pages_id = len(objs) + len(pages) + 1
    for content in page_objs:
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                        b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (pages_id, content, font)))
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids), len(kids))) == pages_id
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1,
        catalog,
        xref,
    )
    path.write_bytes(bytes(out))
    return path


# the tiny runs' settings; tests that want a dev split, or other values, ask for them
# the tiny corpus's expected numbers were built without titles in its chunks: titles are
# tested on their own (tests/test_titles_levels.py) and run by default in `make demo`
TINY = {"chunking.chunk_tokens": 24, "chunking.titles": "none", "eval.bootstrap": 200,
        "eval.depth": 10, "eval.dev_fraction": 0}


def tiny_settings(tmp_path: Path, corpus_dir: Path, model_dir: Path, **sections) -> dict:
    """``section.key`` -> value for the tiny corpus and model, cache under tmp_path;
    ``section__key=value`` keywords add or change options."""
    return {"corpus.path": str(corpus_dir), "encoder.model": str(model_dir),
            "cache.dir": str(tmp_path / "cache"), **TINY,
            **{k.replace("__", "."): v for k, v in sections.items()}}


def tiny_config(tmp_path: Path, corpus_dir: Path, model_dir: Path, **sections):
    """A Config for the tiny corpus and model (:func:`tiny_settings`)."""
    from bmembed_lab.config import load_config

    settings = tiny_settings(tmp_path, corpus_dir, model_dir, **sections)
    return load_config(None, [f"{k}={json.dumps(v)}" for k, v in settings.items()])


def tiny_config_file(tmp_path: Path, corpus_dir: Path, model_dir: Path, name: str = "c.toml",
                     **sections) -> Path:
    """The same settings written as a TOML file under tmp_path, for the CLI."""
    by_section: dict[str, dict] = {}
    for key, value in tiny_settings(tmp_path, corpus_dir, model_dir, **sections).items():
        section, _, option = key.partition(".")
        by_section.setdefault(section, {})[option] = value
    path = tmp_path / name
    path.write_text("".join(f"[{s}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in kv.items())
                            for s, kv in by_section.items()), encoding="utf-8")
    return path


# -- a tiny WordNet in the original database format (index.*, data.*, *.exc, cntlist.rev) --
TINY_WORDNET = {  # pos -> [(lemmas of one synset)], in sense order
    "n": [["stone", "rock"], ["doctor", "physician", "doc"], ["gallstone", "bilestone"],
          ["kidney"], ["hormone", "endocrine"], ["ultrasound", "sonography"], ["cause", "reason"]],
    "v": [["prevent", "forestall"], ["cause", "do", "make"], ["use", "utilize"]],
    "a": [],
    "r": [],
}


@pytest.fixture(scope="session")
def tiny_wordnet_dir(tmp_path_factory) -> Path:
    """WordNet files with a handful of synsets, byte offsets and all, as the real ones."""
    out = tmp_path_factory.mktemp("wordnet")
    names = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
    ss = {"n": "n", "v": "v", "a": "a", "r": "r"}
    for pos, synsets in TINY_WORDNET.items():
        data = "  1 tiny WordNet for tests\n"
        index: dict[str, list[int]] = {}
        for lemmas in synsets:
            off = len(data.encode())
            words = " ".join(f"{w} 0" for w in lemmas)
            data += f"{off:08d} 03 {ss[pos]} {len(lemmas):02x} {words} 000 | a test synset\n"
            for w in lemmas:
                index.setdefault(w, []).append(off)
        (out / f"data.{names[pos]}").write_text(data)
        (out / f"index.{names[pos]}").write_text("  1 tiny WordNet for tests\n" + "".join(
            f"{w} {pos} {len(o)} 0 {len(o)} 0 {' '.join(f'{x:08d}' for x in o)}  \n"
            for w, o in sorted(index.items())))
        (out / f"{names[pos]}.exc").write_text("")
    (out / "cntlist.rev").write_text("cause%1:11:00:: 1 5\ncause%2:36:00:: 1 9\n")
    return out
