"""Whole-word keyword matching and replacement for the lexical-sensitivity study (paper
Section 6): case-insensitive, a multi-word keyword matching across any run of spaces or
punctuation ("blood sugar" = "blood-sugar"), longer keywords winning over the shorter ones
they contain, a replacement keeping the capitalisation of the first letter it replaces.

In: a text and keywords. Out: the occurrences, or the text with replacements and a count.
"""

from __future__ import annotations

import re

from ..text import WORD


def keyword_pattern(keywords: list[str]) -> re.Pattern | None:
    """One regex matching every keyword as whole words, case-insensitively, longest first;
    group ``k<i>`` tells which keyword matched."""
    alts = []
    for i, kw in sorted(enumerate(keywords), key=lambda x: -len(x[1])):
        words = WORD.findall(kw)
        if words:
            body = r"[\W_]+".join(re.escape(w) for w in words)
            alts.append(f"(?P<k{i}>(?<!\\w){body}(?!\\w))")
    return re.compile("|".join(alts), re.IGNORECASE) if alts else None


def occurrences(text: str, keywords: list[str]) -> list[tuple[int, int, int]]:
    """(start, end, keyword index) of every keyword occurrence in ``text``, left to right."""
    pat = keyword_pattern(keywords)
    if pat is None:
        return []
    return [(m.start(), m.end(), int(m.lastgroup[1:])) for m in pat.finditer(text)]


def name_keywords(text: str, keywords: list[str]) -> list[str]:
    """The keywords written somewhere in ``text`` as a name: an acronym ("HIV", "COPD") or a
    capitalised word with a possessive ("Graves' Disease", "Parkinson's"). A dictionary synonym
    turns a name into another thing ("Graves" -> "Tombs"), so the offline substituter leaves
    them in place. A capital alone is no sign: corpora such as MedQuAD capitalise every
    disease name ("Acromegaly"), and those have real synonyms ("acromegalia")."""
    names = set()
    for start, end, i in occurrences(text, keywords):
        word = text[start:end]
        letters = [c for c in word if c.isalpha()]
        acronym = len(letters) >= 2 and all(c.isupper() for c in letters)
        possessive = word[:1].isupper() and text[end:end + 1] in ("'", "\u2019")
        if acronym or possessive:
            names.add(i)
    return [keywords[i] for i in sorted(names)]


def _keep_case(matched: str, replacement: str) -> str:
    return replacement[:1].upper() + replacement[1:] if matched[:1].isupper() else replacement


def replace_keywords(
    text: str, keywords: list[str], replacements: list[str | None]
) -> tuple[str, int]:
    """``text`` with every occurrence of keyword i replaced by ``replacements[i]`` (None: left
    as is); returns (new text, occurrences replaced)."""
    pat = keyword_pattern(keywords)
    if pat is None:
        return text, 0
    n = 0

    def sub(m: re.Match) -> str:
        nonlocal n
        r = replacements[int(m.lastgroup[1:])]
        if r is None:
            return m.group(0)
        n += 1
        return _keep_case(m.group(0), r)

    return pat.sub(sub, text), n


def mask_query(text: str, keywords: list[str], mask_token: str = "[MASK]") -> tuple[str, int]:
    """Every occurrence of every keyword replaced by ``mask_token``; (masked text, count)."""
    return replace_keywords(text, keywords, [mask_token] * len(keywords))
