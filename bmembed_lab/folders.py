"""Folder corpora: every .txt, .md and .pdf file under a folder, read recursively, one document
each (pipeline step 1 input, paper Section 3's private corpus as users keep it).

In: a folder. Out: :class:`~bmembed_lab.corpus.Document` records whose id is the file's path
relative to the folder, PDFs with their page offsets (PDFium, ``pypdfium2``). Hidden files,
links leaving the folder, dangling links and other file types are skipped and counted;
unreadable or image-only PDFs too, with a warning.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path

from .corpus import Document, progress, read_text_file
from .errors import InputError

log = logging.getLogger(__name__)
TEXT_SUFFIXES = {".txt", ".md", ".markdown"}
PDF_SUFFIXES = {".pdf"}


def read_pdf(path: Path) -> tuple[str, list[int]]:
    """Text of a PDF (PDFium via pypdfium2) and the char offset where each page starts (pages
    joined by blank lines). Raises InputError when the file cannot be read or has no text."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
        try:
            pages = []
            for page in pdf:
                tp = page.get_textpage()
                pages.append(tp.get_text_range().replace("\r\n", "\n").replace("\r", "\n"))
                tp.close()
                page.close()
        finally:
            pdf.close()
    except pdfium.PdfiumError as err:
        raise InputError(f"unreadable PDF ({err})", str(path),
                         "re-save or repair the file (e.g. `qpdf in.pdf out.pdf`), decrypt it, "
                         "or remove it") from None
    if not any(p.strip() for p in pages):
        raise InputError(f"no extractable text on any of its {len(pages)} pages (image-only?)",
                         str(path), "run OCR first (e.g. `ocrmypdf in.pdf out.pdf`), or remove it")
    starts, pos = [], 0
    for p in pages:
        starts.append(pos)
        pos += len(p) + 2
    return "\n\n".join(pages), starts


_MD_TITLE = re.compile(r"^\s*#{1,6}\s+(.+?)\s*#*\s*$", re.M)
HEADING_WORDS = 15  # a plain first line longer than this is text, not a heading


def heading(text: str, markdown: bool) -> str:
    """The title a file gives in its own text (``corpus.folder_titles = "heading"``): its first
    Markdown heading (a ``#`` line; ``markdown``: anywhere in the file), else a first line of
    at most :data:`HEADING_WORDS` words, not ending in punctuation, followed by a blank line.
    "" when there is none. The heading stays in the text; a chunk that begins with it carries
    no second copy (:func:`bmembed_lab.chunking.chunk_documents`)."""
    lines = text.lstrip("\ufeff").split("\n")
    i = next((k for k, line in enumerate(lines) if line.strip()), None)
    if i is None:
        return ""
    first = lines[i].strip()
    m = _MD_TITLE.match(first) or (_MD_TITLE.search(text) if markdown else None)
    if m:
        return m.group(1).strip()
    followed_by_blank = i + 1 == len(lines) or not lines[i + 1].strip()
    if followed_by_blank and len(first.split()) <= HEADING_WORDS and first[-1].isalnum():
        return first
    return ""


def workbench_folder(d: Path) -> bool:
    """A folder the workbench writes, never a corpus: a stage cache (its marker), an export
    (train.json beside merged/) or a model folder (config.json and weights)."""
    from .cache import MARKER
    from .modelfolder import WEIGHT_FILES

    return (d / MARKER).is_file() or ((d / "train.json").is_file() and (d / "merged").is_dir()) \
        or ((d / "config.json").is_file() and any((d / w).is_file() for w in WEIGHT_FILES))


def folder_files(folder: Path, skipped: Counter | None = None) -> list[Path]:
    """The files a folder corpus is read from, sorted: every .txt/.md/.pdf under ``folder``,
    recursively. Skipped and counted in ``skipped``: hidden files and folders (a leading dot),
    the workbench's own folders (a stage cache, an export, a model folder: their vocab.txt and
    model cards are no documents), links that lead outside ``folder``, dangling links and
    files of other types. The loader and the cache key both use this list, so the key covers
    exactly what is read."""
    folder = Path(folder)
    skipped = skipped if skipped is not None else Counter()
    root = folder.resolve()
    out = []
    paths = sorted(folder.rglob("*"))
    owned = {p for p in paths if p.is_dir() and workbench_folder(p)}
    for p in paths:
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            if not p.is_dir():
                skipped["hidden files (skipped)"] += 1
            continue
        if owned and (p in owned or any(d in owned for d in p.parents)):
            if not p.is_dir():
                skipped["files of a stage cache, export or model folder (skipped)"] += 1
            continue
        if p.is_symlink():
            if not p.exists():
                skipped["dangling links (skipped)"] += 1
                continue
            if root not in p.resolve().parents:
                skipped["links leading outside the corpus folder (skipped)"] += 1
                continue
        if not p.is_file():
            continue
        if p.suffix.lower() not in TEXT_SUFFIXES | PDF_SUFFIXES:
            skipped["files of other types (skipped)"] += 1
            continue
        out.append(p)
    return out


def load_folder_documents(folder: Path, errors: str = "strict",
                          skipped: Counter | None = None, titles: str = "none",
                          empty_ids: list[str] | None = None) -> list[Document]:
    """Documents from the files :func:`folder_files` lists; id = the path relative to
    ``folder``; title = "" or, with ``titles = "heading"``, the file's :func:`heading`.
    Unreadable or image-only PDFs are skipped with a warning and counted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("folder not found", str(folder), "check corpus.path in the config")
    skipped = skipped if skipped is not None else Counter()
    docs = []
    files = folder_files(folder, skipped)
    for p in progress(files, "reading files"):
        rel = p.relative_to(folder).as_posix()
        if p.suffix.lower() in PDF_SUFFIXES:
            try:
                text, starts = read_pdf(p)
            except InputError as err:
                log.warning("skipped %s", err)
                skipped["unreadable or image-only PDFs"] += 1
                continue
            doc = Document(rel, text, heading(text, False) if titles == "heading" else "", rel,
                           starts)
            docs.append(doc)
            empty = sum(not text[slice(*doc.page_span(i))].strip() for i in range(len(starts)))
            if empty:
                skipped["PDF pages without text"] += empty
        else:
            text = read_text_file(p, errors)
            if not text.strip():
                skipped["empty text files"] += 1
                if empty_ids is not None:
                    empty_ids.append(rel)
                continue
            markdown = p.suffix.lower() != ".txt"
            docs.append(Document(rel, text, heading(text, markdown) if titles == "heading" else "",
                                 rel))
    return docs
