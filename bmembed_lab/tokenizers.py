"""BM25's tokenizers and languages (``bm25.tokenizer``, ``bm25.language``).

* ``words`` (the default, the paper's reference): lowercase ``\\w+`` tokens. A Chinese or
  Japanese clause has no spaces, so it is one token and matches nothing else: use one of the
  next two for such corpora.
* ``cjk-bigrams``: as ``words``, but every run of CJK characters (Han, kana, Hangul) becomes its
  overlapping character bigrams (a single character stays one token). No dependency; the usual
  baseline for CJK retrieval.
* ``jieba`` / ``sudachipy``: a word segmenter for Chinese / Japanese, when it is installed
  (``pip install jieba`` or ``sudachipy sudachidict_core``); an error says how otherwise.

Stemming follows ``bm25.language`` (any of PyStemmer's 36 Snowball languages); stopword removal
is English only (scikit-learn's list), an error for other languages.
"""

from __future__ import annotations

import functools
import re

from .errors import InputError
from .text import WORD

CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
CJK_RUN = re.compile(f"[{CJK}]+")
NAMES = ("words", "cjk-bigrams", "jieba", "sudachipy")


def bigrams(token: str) -> list[str]:
    """A ``\\w+`` token with its CJK runs cut into overlapping bigrams, the rest kept whole."""
    out, at = [], 0
    for m in CJK_RUN.finditer(token):
        if m.start() > at:
            out.append(token[at:m.start()])
        run = m.group()
        out += [run] if len(run) == 1 else [run[i:i + 2] for i in range(len(run) - 1)]
        at = m.end()
    if at < len(token):
        out.append(token[at:])
    return out


@functools.lru_cache(maxsize=2)
def segmenter(name: str):
    """A function text -> words of the installed segmenter ``name``."""
    try:
        if name == "jieba":
            import jieba

            return lambda text: jieba.lcut(text)
        from sudachipy import dictionary

        tok = dictionary.Dictionary().create()
        return lambda text: [m.surface() for m in tok.tokenize(text)]
    except ImportError:
        need = "jieba" if name == "jieba" else "sudachipy sudachidict_core"
        raise InputError(f"bm25.tokenizer = {name!r} needs {need}, which is not installed",
                         "bm25.tokenizer", f"pip install {need}, or use 'cjk-bigrams' (no "
                         "dependency)") from None


def split(text: str, name: str = "words") -> list[str]:
    """Lowercase tokens of ``text`` under the tokenizer ``name``."""
    text = text.lower()
    if name == "words":
        return WORD.findall(text)
    if name == "cjk-bigrams":
        return [t for w in WORD.findall(text) for t in bigrams(w)]
    return [t for w in segmenter(name)(text) for t in WORD.findall(w)]


def check_language(language: str, stem: bool, stopwords: bool) -> None:
    """An error naming ``bm25.language`` where stemming or stopwords cannot follow it."""
    import Stemmer

    if stem and language not in Stemmer.algorithms():
        raise InputError(f"PyStemmer has no stemmer for {language!r}", "bm25.language",
                         f"use one of {', '.join(Stemmer.algorithms())}, or bm25.stem = false")
    if stopwords and language != "english":
        raise InputError(f"stopword removal is English only, bm25.language is {language!r}",
                         "bm25.stopwords", "set bm25.stopwords = false")


def cjk_share(texts: list[str], sample: int = 200) -> float:
    """The share of CJK characters among the word characters of (up to ``sample`` of) the
    texts: how the run tells that a corpus is not English."""
    chars = "".join(texts[:sample])
    cjk = sum(len(m) for m in CJK_RUN.findall(chars))
    total = sum(len(m) for m in WORD.findall(chars))
    return cjk / total if total else 0.0


def language_note(texts: list[str], tokenizer: str, threshold: float = 0.2) -> str | None:
    """A line for a corpus that is not English: what BM25 does with it, and which stages are
    English only. None for an English (or other alphabetic) corpus."""
    share = cjk_share(texts)
    if share < threshold:
        return None
    fix = ("" if tokenizer != "words" else " BM25's tokenizer is 'words', which makes each "
           "unspaced clause one token: set bm25.tokenizer = 'cjk-bigrams' (or 'jieba' / "
           "'sudachipy').")
    return (f"the corpus is {100 * share:.0f}% CJK characters.{fix} English-only stages: the "
            "offline query templates, the stopword list, WordNet substitution and the "
            "built-in LLM prompts (write your own, or use a multilingual encoder and an LLM "
            "backend that answers in the corpus's language).")
