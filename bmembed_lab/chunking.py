"""Token-measured, sentence-aligned chunking (paper Section 4 "chunk size 256 / 1,024").

In: documents and a tokenizer (the encoder's own). Out: :class:`Chunk` records with character
offsets into their document, token counts and page span. Guarantees (each one a fault of
greedy sentence packers seen elsewhere, see docs/method.md "Chunking"):

* no empty chunk, no dropped tail: every non-blank sentence lands in some chunk;
* no chunk over ``chunk_tokens`` unless one sentence is longer - that sentence alone is then
  split on token boundaries into pieces of at most ``chunk_tokens``;
* overlap is measured in tokens and sentence-aligned: the next chunk starts with the longest
  run of trailing sentences of the previous one whose tokens fit in ``overlap_tokens``;
* a document's title begins its chunks (``titles``: every chunk, the first, or none), joined as
  BEIR's and sentence-transformers' BEIR scripts join them (``title + " " + text``), inside the
  token budget (a title is cut to half of it); a chunk whose text already begins with the title
  (a Markdown heading) gets no second copy. ``start``/``end`` stay offsets of the text after it.

Token counts are those of the document tokenized once in context (no special tokens).
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass

import numpy as np

from .corpus import Document
from .errors import InputError

log = logging.getLogger(__name__)

# A sentence ends at . ! ? (plus closing quotes/brackets) before whitespace, or at a line break.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")


@dataclass
class Chunk:
    chunk_id: str
    doc_id: str
    text: str
    start: int  # char offset in the document, inclusive
    end: int  # exclusive
    n_tokens: int
    title: str = ""
    source: str = ""
    page_start: int | None = None
    page_end: int | None = None
    prefix: int = 0  # leading characters of ``text`` that are the title and its space

    @property
    def body(self) -> str:
        """The document's own text of this chunk, without the title it begins with."""
        return self.text[self.prefix:]

    def to_record(self) -> dict:
        return asdict(self)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of sentences (and lines), whitespace trimmed, blank ones dropped."""
    spans, pos = [], 0
    for m in _BOUNDARY.finditer(text):
        spans.append((pos, m.start() + len(m.group(0).rstrip())))
        pos = m.end()
    spans.append((pos, len(text)))
    out = []
    for s, e in spans:
        seg = text[s:e]
        if seg.strip():
            lead = len(seg) - len(seg.lstrip())
            out.append((s + lead, s + len(seg.rstrip())))
    return out


def _units(text: str, offsets: np.ndarray, max_tokens: int) -> list[tuple[int, int, int]]:
    """(start_char, end_char, n_tokens) units: sentences, with over-long ones split on tokens."""
    tok_starts = offsets[:, 0] if len(offsets) else np.zeros(0, dtype=np.int64)
    spans = sentence_spans(text)
    bounds = np.searchsorted(tok_starts, np.asarray(spans, dtype=np.int64).reshape(-1)).tolist()
    units = []
    for k, (s, e) in enumerate(spans):
        a, b = bounds[2 * k], bounds[2 * k + 1]
        n = b - a
        if n <= max_tokens:
            units.append((s, e, n))
            continue
        for i in range(a, b, max_tokens):  # a single sentence longer than the limit
            j = min(i + max_tokens, b)
            ps = s if i == a else int(offsets[i, 0])
            pe = e if j == b else int(offsets[j, 0])
            seg = text[ps:pe]
            ps, pe = ps + len(seg) - len(seg.lstrip()), ps + len(seg.rstrip())
            units.append((ps, pe, j - i))
    return units


def pack_units(units: list[tuple[int, int, int]], max_tokens: int, overlap_tokens: int
               ) -> list[tuple[int, int]]:
    """Greedy packing of units into [first, last) unit-index ranges (see module docstring)."""
    chunks, i, n = [], 0, len(units)
    while i < n:
        j, total = i, 0
        while j < n and (j == i or total + units[j][2] <= max_tokens):
            total += units[j][2]
            j += 1
        chunks.append((i, j))
        if j >= n:
            break
        s, carried = j, 0  # walk back over trailing units that fit in the overlap budget
        while s - 1 > i and carried + units[s - 1][2] <= overlap_tokens:
            s -= 1
            carried += units[s][2]
        while s < j and carried + units[j][2] > max_tokens:  # keep room for one new unit
            carried -= units[s][2]
            s += 1
        i = s
    return chunks


WINDOW_CHARS = 200_000  # longer documents are tokenized window by window


def token_offsets(tokenizer, text: str, window: int = WINDOW_CHARS) -> np.ndarray:
    """(n_tokens, 2) character offsets of ``text``'s tokens (no special tokens). A text longer
    than ``window`` characters is tokenized in windows cut at whitespace, so memory follows the
    window, not the document (a 49 MB single-line file needed 5.7 GB in one call)."""
    parts, pos, n = [], 0, len(text)
    while pos < n:
        end = min(pos + window, n)
        if end < n:
            cut = max(text.rfind(c, pos + window // 2, end) for c in (" ", "\n", "\t"))
            end = cut if cut > pos else end
        enc = tokenizer(text[pos:end], add_special_tokens=False, return_offsets_mapping=True,
                        verbose=False)
        parts.append(np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2) + pos)
        pos = end
    return np.concatenate(parts) if parts else np.zeros((0, 2), dtype=np.int64)


TITLE_MODES = ("every", "first", "none")


def chunk_titles(docs: list[Document], tokenizer, chunk_tokens: int, mode: str
                 ) -> list[tuple[str, int]]:
    """(the title each document's chunks begin with, its token count): whitespace collapsed,
    cut to ``chunk_tokens // 2`` tokens; ("", 0) with ``mode`` none or no title."""
    titles = [" ".join(d.title.split()) if mode != "none" else "" for d in docs]
    todo = [t for t in titles if t]
    offsets = iter(tokenizer(todo, add_special_tokens=False, return_offsets_mapping=True,
                             verbose=False)["offset_mapping"] if todo else [])
    out, cap = [], max(1, chunk_tokens // 2)
    for t in titles:
        if not t:
            out.append(("", 0))
            continue
        offs = next(offsets)
        if len(offs) > cap:
            t = t[:offs[cap - 1][1]]
        out.append((t, min(len(offs), cap)))
    return out


def _begins_with(body: str, title: str) -> bool:
    return " ".join(body[:2 * len(title) + 16].split()).lstrip("#*= ").startswith(title)


def chunk_documents(docs: list[Document], tokenizer, chunk_tokens: int = 256,
                    overlap_tokens: int = 0, batch_size: int = 16, titles: str = "every"
                    ) -> list[Chunk]:
    """Chunk every document; ids are ``<doc_id>#<n>``. See the module docstring."""
    if chunk_tokens < 1:
        raise InputError(f"chunking.chunk_tokens = {chunk_tokens}", "config",
                         "use a positive token count (the paper uses 256 or 1024)")
    if not 0 <= overlap_tokens < chunk_tokens:
        raise InputError(
            f"chunking.overlap_tokens = {overlap_tokens} with chunk_tokens = {chunk_tokens}",
            "config",
            "use 0 <= overlap_tokens < chunk_tokens",
        )
    from tqdm.auto import tqdm

    chunks: list[Chunk] = []
    bar = tqdm(total=len(docs), desc="chunking", disable=len(docs) < 50, leave=False)
    for b in range(0, len(docs), batch_size):
        batch = docs[b:b + batch_size]
        short = [d.text for d in batch if len(d.text) <= WINDOW_CHARS]
        enc = tokenizer(short, add_special_tokens=False, return_offsets_mapping=True,
                        verbose=False)["offset_mapping"] if short else []
        offsets = iter(enc)
        for doc, (title, n_title) in zip(batch, chunk_titles(batch, tokenizer, chunk_tokens,
                                                            titles)):
            offs = (np.asarray(next(offsets), dtype=np.int64).reshape(-1, 2)
                    if len(doc.text) <= WINDOW_CHARS else token_offsets(tokenizer, doc.text))
            budget = chunk_tokens - n_title
            units = _units(doc.text, offs, budget)
            for k, (i, j) in enumerate(pack_units(units, budget, min(overlap_tokens, budget - 1))):
                s, e = units[i][0], units[j - 1][1]
                body = doc.text[s:e]
                carry = bool(title) and (titles == "every" or k == 0) and not _begins_with(
                    body, title)
                chunks.append(Chunk(
                    f"{doc.doc_id}#{k}", doc.doc_id, f"{title} {body}" if carry else body, s, e,
                    sum(u[2] for u in units[i:j]) + (n_title if carry else 0), doc.title,
                    doc.source, doc.page_at(s), doc.page_at(max(s, e - 1)),
                    len(title) + 1 if carry else 0))
        bar.update(len(batch))
    bar.close()
    return chunks


def check_chunk_length(
    chunk_tokens: int, encoder_max_length: int, n_special: int = 2
) -> str | None:
    """A warning text when chunks are longer than the encoder can see, else None."""
    if chunk_tokens + n_special > encoder_max_length:
        return (
            f"chunking.chunk_tokens = {chunk_tokens} but the encoder reads at most "
            f"{encoder_max_length} tokens ({n_special} of them special): the tail of longer "
            f"chunks is never embedded. Fix: set chunk_tokens <= {encoder_max_length - n_special}, "
            f"or use an encoder with a longer max length."
        )
    return None
