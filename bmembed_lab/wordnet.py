"""WordNet 3.0 read straight from its database files (``index.*``, ``data.*``, ``*.exc``,
``cntlist.rev``), as Debian's ``wordnet-base`` package installs them under /usr/share/wordnet.
Used by the perturbation study (paper Section 6) to substitute a keyword with a synonym of the
same part of speech, offline.

In: a word as it appears in a query. Out: a replacement of the same part of speech, inflected
like the word (plural nouns, -s/-ed/-ing verbs), or None when WordNet has no synonym for it.
The part of speech is the word's most frequent one in WordNet's sense-tagged corpus
(``cntlist.rev``), nouns first on a tie; the synonym is the first lemma, in sense order, of the
word's ``max_senses`` most frequent senses that is not the word itself or a form of it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError

DEFAULT_DIR = "/usr/share/wordnet"
POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
POS_ORDER = ("n", "v", "a", "r")  # tie-break: a query keyword is most often a noun
NOUN_CUES = frozenset("a an the of these those this that its their his her our your my some any "
                      "no every each".split())
VERB_CUES = frozenset("to can could may might must shall should will would does do did".split())
_SS_TYPE = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}  # 5: adjective satellite
# morphy's detachment rules (WordNet's morph(7WN)): suffix -> replacement, per part of speech
_RULES = {
    "n": [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
          ("men", "man"), ("ies", "y")],
    "v": [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""),
          ("ing", "e"), ("ing", "")],
    "a": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
    "r": [],
}


@dataclass
class WordNet:
    root: Path
    index: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # pos -> lemma -> offsets
    exceptions: dict[str, dict[str, list[str]]] = field(
        default_factory=dict
    )  # pos -> form -> bases
    counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (lemma, pos) -> tagged uses
    _files: dict = field(default_factory=dict, repr=False)  # pos -> open data file
    _irregular: dict = field(default_factory=dict, repr=False)  # pos -> lemma -> forms

    @staticmethod
    def database_files(root: str | Path = DEFAULT_DIR) -> list[Path]:
        """The index and data files a WordNet folder must hold; a clear error if any is missing."""
        root = Path(root)
        files = [root / f"{k}.{p}" for p in POS_FILES.values() for k in ("index", "data")]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise InputError(
                f"WordNet database not found ({', '.join(missing[:2])} missing)",
                str(root),
                "install Debian's WordNet data (apt-get install wordnet-base), or set "
                "perturbation.wordnet_dir to a WordNet 3.0 'dict' folder, or use "
                "perturbation.substitution = 'llm' or 'none'",
            )
        return files

    @classmethod
    def load(cls, root: str | Path = DEFAULT_DIR) -> "WordNet":
        root = Path(root)
        cls.database_files(root)
        wn = cls(root)
        for pos, name in POS_FILES.items():
            table: dict[str, list[int]] = {}
            with open(root / f"index.{name}", encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("  "):  # licence header
                        continue
                    parts = line.split()
                    p_cnt = int(parts[3])
                    table[parts[0]] = [int(x) for x in parts[4 + p_cnt + 2:]]
            wn.index[pos] = table
            exc: dict[str, list[str]] = defaultdict(list)
            if (root / f"{name}.exc").is_file():
                for line in open(root / f"{name}.exc", encoding="utf-8", errors="replace"):
                    parts = line.split()
                    if len(parts) >= 2:
                        exc[parts[0]].extend(parts[1:])
            wn.exceptions[pos] = dict(exc)
        counts: dict[tuple[str, str], int] = defaultdict(int)
        if (root / "cntlist.rev").is_file():
            for line in open(root / "cntlist.rev", encoding="utf-8", errors="replace"):
                key, _, n = line.split()
                lemma, _, rest = key.partition("%")
                counts[(lemma, _SS_TYPE.get(rest[:1], "n"))] += int(n)
        wn.counts = dict(counts)
        return wn

    def base_forms(self, word: str, pos: str) -> list[str]:
        """Lemmas of ``word`` in ``pos``: itself, its listed exceptions, then the rule
        detachments that WordNet knows (morphy)."""
        w = word.lower().replace(" ", "_")
        table = self.index[pos]
        out = [w] if w in table else []
        out += [b for b in self.exceptions[pos].get(w, []) if b in table]
        for suf, rep in _RULES[pos]:
            if w.endswith(suf) and len(w) > len(suf):
                b = w[: len(w) - len(suf)] + rep
                if b in table:
                    out.append(b)
        return list(dict.fromkeys(out))

    def part_of_speech(self, word: str, previous: str = "") -> tuple[str, str] | None:
        """(pos, lemma) of ``word``: a noun after a determiner, a verb after 'to' or a modal
        (``previous`` is the word before it in the query), else the part of speech with the
        most tagged uses in WordNet's corpus, nouns first on a tie."""
        prefer = {"n": NOUN_CUES, "v": VERB_CUES}
        for pos, cues in prefer.items():
            if previous.lower() in cues and (forms := self.base_forms(word, pos)):
                return pos, forms[0]
        best = None
        for rank, pos in enumerate(POS_ORDER):
            for lemma in self.base_forms(word, pos):
                score = (self.counts.get((lemma, pos), 0), -rank, lemma == word.lower())
                if best is None or score > best[0]:
                    best = (score, pos, lemma)
        return None if best is None else (best[1], best[2])

    def synset_lemmas(self, pos: str, offset: int) -> list[str]:
        f = self._files.get(pos)
        if f is None:
            f = self._files[pos] = open(self.root / f"data.{POS_FILES[pos]}", "rb")
        f.seek(offset)
        parts = f.readline().decode("utf-8", "replace").split()
        n = int(parts[3], 16)
        return [re.sub(r"\(.*\)$", "", parts[4 + 2 * i]) for i in range(n)]

    def synonym(self, word: str, max_senses: int = 3, previous: str = "") -> tuple[str, str] | None:
        """(replacement, pos) for ``word``, inflected like it, or None if it has no synonym.
        Single words are preferred to multi-word lemmas; light verbs (do, make, get, ...) and
        lemmas with digits are never chosen, as they rarely keep a question's meaning. WordNet
        knows no company or product names: a name that is also a word ("Square") gets that
        word's synonym; the llm backend reads the context."""
        found = self.part_of_speech(word, previous)
        if found is None:
            return None
        pos, lemma = found
        cands = [
            c
            for off in self.index[pos][lemma][:max_senses]
            for c in self.synset_lemmas(pos, off)
            if not same_word(c, lemma)
            and not (pos == "v" and c in LIGHT_VERBS)
            and not any(ch.isdigit() for ch in c)
        ]  # million -> 1000000 is no paraphrase
        cands = [c for c in cands if "_" not in c] + [c for c in cands if "_" in c]
        if not cands:
            return None
        return inflect_like(
            cands[0].replace("_", " "), word.lower(), lemma, pos, self.irregular(pos)
        ), pos

    def irregular(self, pos: str) -> dict[str, list[str]]:
        """lemma -> its irregular forms (the exception lists read backwards: get -> got, gotten)."""
        if pos not in self._irregular:
            rev: dict[str, list[str]] = defaultdict(list)
            for form, bases in self.exceptions[pos].items():
                for b in bases:
                    rev[b].append(form)
            self._irregular[pos] = dict(rev)
        return self._irregular[pos]


LIGHT_VERBS = frozenset("be do make get have go take give set put come".split())


def same_word(a: str, b: str) -> bool:
    """True if a and b are the same word up to case, separators and inflection (a shared
    prefix of 5+ letters, or one containing the other)."""
    na, nb = (re.sub(r"[\W_]+", "", x.lower()) for x in (a, b))
    if not na or not nb or na in nb or nb in na:
        return True
    n = 0
    for x, y in zip(na, nb):
        if x != y:
            break
        n += 1
    return n >= 5


def _plural(w: str) -> str:
    if re.search(r"[^aeiou]y$", w):
        return w[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", w):
        return w + "es"
    return w + "s"


def inflect_like(replacement: str, word: str, lemma: str, pos: str,
                 irregular: dict[str, list[str]] | None = None) -> str:
    """Give ``replacement`` (a lemma, maybe several words) the inflection that turned ``lemma``
    into ``word``: a noun phrase's last word, a verb phrase's first word carries it (-s, -ing,
    -ed). Irregular forms come from WordNet's exception lists when given (get -> got,
    shed -> shedding, child -> children); otherwise the regular rules apply. Adjectives and
    adverbs are left as lemmas."""
    if word == lemma or pos not in ("n", "v"):
        return replacement
    parts = replacement.split(" ")
    i = len(parts) - 1 if pos == "n" else 0
    w = parts[i]
    forms = (irregular or {}).get(w, [])
    if pos == "n" or word.endswith("s"):
        plural = [f for f in forms if f.endswith("s") or pos == "n"]
        w = plural[0] if plural else (w + "es" if pos == "v" and w.endswith("o") else _plural(w))
    elif word.endswith("ing"):
        ing = [f for f in forms if f.endswith("ing")]
        w = ing[0] if ing else (w[:-1] if w.endswith("e") and not w.endswith("ee") else w) + "ing"
    elif word.endswith("ed") or word not in (lemma + "s", lemma + "es"):
        past = [f for f in forms if not f.endswith(("ing", "s"))]
        w = past[0] if past else w + ("d" if w.endswith("e") else "ed")
    parts[i] = w
    return " ".join(parts).replace("_", " ")
