"""`bmembed-lab init PATH`: a first config for one's own corpus, written from what is there.

In: a folder of .txt/.md/.pdf files, a BEIR folder, or a JSONL file of documents; optionally
files of questions and gold evidence beside it. Out: a commented TOML config (format, fields,
the chunk size that fits the encoder, the question files it found) and a plain report of what
was found (documents, questions, labels, one example of each id as the loader names it) and
what is missing. Nothing is trained or cached; the config is then read by every command.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from . import methods
from .errors import InputError

ID_FIELDS = ("_id", "id", "doc_id", "docid", "uuid")
TEXT_FIELDS = ("text", "body", "content", "contents", "passage", "document")
TITLE_FIELDS = ("title", "name", "heading")
QUERY_NAMES = ("queries.jsonl", "questions.jsonl", "eval_questions.jsonl")
EVIDENCE_NAMES = ("evidence.jsonl", "gold.jsonl", "answers_evidence.jsonl")


def _first_record(path: Path) -> dict:
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    raise InputError("the first line is not a JSON object", str(path),
                                     "give a JSONL file: one JSON object per line") from None
                if isinstance(obj, dict):
                    return obj
    raise InputError(
        "no JSON object found", str(path), "give a JSONL file with one document per line"
    )


def _pick(fields: dict, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in fields), None)


def _beside(root: Path, names: tuple[str, ...]) -> Path | None:
    """A question or evidence file in the folder (or, for a file corpus, beside it)."""
    folder = root if root.is_dir() else root.parent
    return next((folder / n for n in names if (folder / n).is_file()), None)


def inspect(path: Path, config_dir: Path) -> tuple[dict, list[str]]:
    """(the [corpus] options, the report lines) for ``path``; paths relative to ``config_dir``."""
    from . import corpus, folders

    path = Path(path).expanduser().resolve()
    if not path.exists():
        raise InputError("nothing at this path", str(path), "give a folder of .txt/.md/.pdf files, "
                         "a BEIR folder (corpus.jsonl ...) or a JSONL file of documents")

    def rel(p: Path) -> str:  # relative to the config, as the written comment says
        try:
            return Path(os.path.relpath(p, config_dir.resolve())).as_posix()
        except ValueError:  # another drive (Windows): no relative path exists
            return str(p)

    opts: dict = {"path": rel(path)}
    report: list[str] = []
    if path.is_dir() and (path / "corpus.jsonl").is_file():
        opts["format"] = "beir"
        ds = corpus.load_beir(path, skip_bad_lines=True)
        report.append(
            f"BEIR folder: {len(ds.documents)} documents, {len(ds.queries)} questions, "
            f"{sum(len(v) for v in ds.qrels.values())} qrels rows, {len(ds.evidence)} evidence "
            "items"
        )
        docs, n_queries, labelled = ds.documents, len(ds.queries), bool(ds.qrels or ds.evidence)
    elif path.is_dir():
        opts["format"] = "folder"
        skipped: Counter = Counter()
        files = folders.folder_files(path, skipped)
        kinds = Counter(p.suffix.lower() for p in files)
        report.append(
            f"folder of {len(files)} readable files "
            f"({', '.join(f'{n} {k}' for k, n in kinds.items()) or 'none'})"
            + (f"; skipped: {dict(skipped)}" if skipped else "")
        )
        if not files:
            raise InputError("no .txt, .md or .pdf file in this folder", str(path),
                             "put the documents there, or point init at a JSONL file")
        docs = [corpus.Document(str(p.relative_to(path)), "") for p in files]
        n_queries, labelled = 0, False
    else:
        opts["format"] = "jsonl"
        first = _first_record(path)
        id_f, text_f, title_f = (
            _pick(first, ID_FIELDS),
            _pick(first, TEXT_FIELDS),
            _pick(first, TITLE_FIELDS),
        )
        if id_f is None or text_f is None:
            raise InputError(
                f"cannot tell which fields hold the id and the text (fields: {sorted(first)})",
                str(path),
                "write the config by hand: corpus.id_field and corpus.text_field "
                "name them (bmembed-lab config --explain)",
            )
        opts.update(
            {"id_field": id_f, "text_field": text_f} | ({"title_field": title_f} if title_f else {})
        )
        docs = corpus.load_jsonl_documents(
            path, id_f, text_f, title_f or "title", skip_bad_lines=True
        )
        report.append(f"JSONL file: {len(docs)} documents (id from '{id_f}', text from '{text_f}'"
                      + (f", title from '{title_f}')" if title_f else ")"))
        n_queries, labelled = 0, False
    report.append(f"document ids look like {docs[0].doc_id!r}" + (
        " (the path relative to the folder, extension included: evidence names documents this way)"
        if opts["format"] == "folder" else ""))
    titled = sum(bool(d.title.strip()) for d in docs)
    report.append(
        f"titles: {titled} of {len(docs)} documents have one; it begins each of their chunks "
        "(chunking.titles = every | first | none)" if titled else
        "titles: none" + (" (corpus.folder_titles = \"heading\" takes each file's first "
                          "heading as its title)" if opts["format"] == "folder" else ""))
    if opts["format"] != "beir":
        q, ev = _beside(path, QUERY_NAMES), _beside(path, EVIDENCE_NAMES)
        if q:
            opts["queries"] = rel(q)
            n_queries = len(corpus.load_queries(q, skip_bad_lines=True))
            report.append(f"questions: {rel(q)} ({n_queries})")
        if ev:
            opts["evidence"] = rel(ev)
            labelled = True
            report.append(f"gold evidence: {rel(ev)}")
    if not n_queries or not labelled:
        report.append(
            "missing: labelled questions. Without them `run` trains and reports on held-out "
            "synthetic queries only, which measure agreement with BM25, not quality. Add "
            'corpus.queries (JSONL: {"_id": "q1", "text": "..."}) and corpus.evidence '
            '(JSONL: {"query_id": "q1", "doc_id": '
            + json.dumps(docs[0].doc_id)
            + ', "text": "a sentence of the answer"}; or "page": 0 for a PDF page, or '
            "doc_id alone for the whole document)"
        )
    return opts, report


# what `run` does on a new corpus: the first-stage systems and the adapted encoder beside them
# (eval.systems' own default trains nothing: a newcomer's `run` then adapted no model)
INIT_SYSTEMS = ["bm25", "base", "rrf", methods.DEFAULT, f"rrf+{methods.DEFAULT}"]


def render(opts: dict, chunk_tokens: int, limit: int, model: str) -> str:
    """The config text: the [corpus] options found, the chunk size and the encoder, commented."""
    lines = ["# Written by `bmembed-lab init`; every option: `bmembed-lab config --explain`.",
             "[corpus]"]
    notes = {"format": "beir | jsonl | folder", "path": "relative to this file",
             "queries": "labelled questions (JSONL: _id, text)",
             "evidence": "gold facts per question (JSONL: query_id, doc_id and/or text or page)"}
    for k, v in opts.items():
        lines.append(f"{k} = {json.dumps(v)}" + (f"  # {notes[k]}" if k in notes else ""))
    lines += [
        "",
        "[chunking]",
        f"chunk_tokens = {chunk_tokens}  # fits the encoder's {limit}-token input (2 of them "
        "special)",
        "",
        "[encoder]",
        f"model = {json.dumps(model)}  # a local folder; nothing is downloaded",
        'protocol = "clean"  # queries as the model expects them; "reference" = the paper\'s code',
        "",
        "[eval]",
        f"systems = {json.dumps(INIT_SYSTEMS)}  # `run` trains {methods.DEFAULT} on this corpus "
        "(`check` says first whether it should help); drop it to evaluate without training",
        "",
        "[cache]",
        'dir = ".bmembed_cache"',
        "",
    ]
    return "\n".join(lines)


def init(path: Path, out: Path, force: bool = False) -> list[str]:
    """Inspect ``path``, write the config to ``out`` (never over an existing file unless
    ``force``) and return the report lines."""
    from .config import EncoderConfig
    from .encoder import max_input_tokens, resolve_model_path

    out = Path(out)
    if out.exists() and not force:
        raise InputError(
            "a file is already there", str(out), "choose another --out, or add --force"
        )
    if not out.parent.is_dir():
        raise InputError(
            "the folder does not exist", str(out.parent), "create it, or choose another --out"
        )
    from .safeio import overwrites

    if overwrites(out, Path(path)):
        raise InputError("--out would write over the corpus it describes", str(out),
                         "write the config beside the corpus, not into it")
    opts, report = inspect(path, out.parent)
    model = EncoderConfig().model
    limit = max_input_tokens(resolve_model_path(model), 0)
    out.write_text(render(opts, min(254, limit - 2), limit, model))
    return report + [
        f"config: {out} (next: bmembed-lab check -c {out}, then bmembed-lab run -c {out})"
    ]
