"""Chunking edge cases: limits, tails, long sentences, token overlap, offsets, pages."""

import pytest

from bmembed_lab.chunking import check_chunk_length, chunk_documents, pack_units, sentence_spans
from bmembed_lab.corpus import Document
from bmembed_lab.encoder import load_tokenizer
from bmembed_lab.errors import InputError


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("all-MiniLM-L6-v2")


def n_tok(tok, text):
    return len(tok(text, add_special_tokens=False)["input_ids"])


TEXT = (
    "Acromegaly is a hormonal disorder. It results from too much growth hormone in the body. "
    "The pituitary makes GH.\n\nUsually the excess GH comes from benign tumors. These tumors are "
    "called adenomas. Treatment includes surgery, medication and radiation therapy. The last "
    "sentence is the tail and must not be dropped."
)


def test_sentence_spans_trim_and_skip_blank():
    text = "  One. Two!\n\n  \nThree?  "
    assert [text[s:e] for s, e in sentence_spans(text)] == ["One.", "Two!", "Three?"]


def test_limits_offsets_and_tail(tok):
    doc = Document("d", TEXT)
    chunks = chunk_documents([doc], tok, chunk_tokens=20)
    assert len(chunks) > 2
    for c in chunks:
        assert c.text.strip() and c.text == TEXT[c.start:c.end]
        assert c.n_tokens <= 20 and n_tok(tok, c.text) == c.n_tokens
    assert chunks[-1].text.endswith("must not be dropped.")
    # every sentence is covered by some chunk, in order, without overlap
    assert "".join(c.text for c in chunks).replace(" ", "").replace("\n", "") == \
        TEXT.replace(" ", "").replace("\n", "")
    assert [c.chunk_id for c in chunks] == [f"d#{i}" for i in range(len(chunks))]


def test_single_long_sentence_is_split_on_tokens(tok):
    long = "word " * 100 + "end."
    chunks = chunk_documents([Document("d", "Short first. " + long)], tok, chunk_tokens=16)
    assert all(c.n_tokens <= 16 for c in chunks)
    assert all(c.text for c in chunks)
    assert chunks[0].text == "Short first."  # no empty chunk when the next sentence is too long
    assert chunks[-1].text.endswith("end.")
    assert sum(c.n_tokens for c in chunks) == n_tok(tok, "Short first. " + long)


def test_overlap_measured_in_tokens_and_sentence_aligned(tok):
    chunks = chunk_documents([Document("d", TEXT)], tok, chunk_tokens=24, overlap_tokens=10)
    for a, b in zip(chunks, chunks[1:]):
        overlap = max(0, a.end - b.start)
        if overlap:
            shared = TEXT[b.start:a.end]
            assert n_tok(tok, shared) <= 10
            assert b.start in {s for s, _ in sentence_spans(TEXT)}  # starts on a sentence
        assert b.end > a.end  # always progresses
    assert chunks[-1].text.endswith("must not be dropped.")
    assert any(a.end > b.start for a, b in zip(chunks, chunks[1:]))


def test_pack_units_progress_with_large_overlap():
    units = [(i * 10, i * 10 + 9, 5) for i in range(10)]
    spans = pack_units(units, 10, 9)
    assert spans[0] == (0, 2) and spans[-1][1] == 10
    assert all(b[0] > a[0] for a, b in zip(spans, spans[1:]))


def test_pages_and_empty_documents(tok):
    text = "Page one text. More on one.\n\nPage two starts here. And ends."
    doc = Document("p", text, page_starts=[0, text.index("Page two")])
    chunks = chunk_documents([doc, Document("e", "   \n ")], tok, chunk_tokens=8)
    assert {c.doc_id for c in chunks} == {"p"}
    assert chunks[0].page_start == 0 and chunks[-1].page_end == 1


def test_bad_parameters_and_length_warning(tok):
    with pytest.raises(InputError, match="chunk_tokens"):
        chunk_documents([Document("d", "x")], tok, chunk_tokens=0)
    with pytest.raises(InputError, match="overlap_tokens"):
        chunk_documents([Document("d", "x")], tok, chunk_tokens=8, overlap_tokens=8)
    assert check_chunk_length(1024, 256) and "chunk_tokens <= 254" in check_chunk_length(1024, 256)
    assert check_chunk_length(254, 256) is None


def test_a_long_document_is_tokenized_in_windows_with_the_same_chunks(monkeypatch):
    from bmembed_lab import chunking

    tok = load_tokenizer("all-MiniLM-L6-v2")
    words = "kidney stone bile duct insulin hormone pancreas gland liver enzyme".split()
    rng = __import__("numpy").random.default_rng(0)
    text = " ".join(rng.choice(words, 30000))  # one line, no sentence end: ~240k characters
    whole = chunk_documents([Document("d", text)], tok, 64)
    monkeypatch.setattr(chunking, "WINDOW_CHARS", 20_000)
    windowed = chunk_documents([Document("d", text)], tok, 64)
    assert [(c.start, c.end, c.n_tokens) for c in windowed] == [
        (c.start, c.end, c.n_tokens) for c in whole
    ]
    offs = chunking.token_offsets(tok, text, 20_000)
    full = tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    assert offs.tolist() == [list(x) for x in full]
