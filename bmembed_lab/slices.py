"""Results sliced by what a question is like (notebook 04): by the document its gold chunk
belongs to, by the question's template (its opening words: "what are the symptoms of ...",
"how many people ..."), and by how many of its words the gold chunk holds (the lexical
overlap BM25 lives on). Each slice compares two systems on its questions with a paired
bootstrap interval, so a reader sees where an adaptation wins and where it loses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .bm25 import tokenize_cfg
from .metrics import paired_bootstrap

KINDS = ("document", "template", "keyword overlap")
OVERLAP_BINS = (0.0, 0.25, 0.5, 0.75, 1.0001)  # share of the question's words in its gold chunk
TEMPLATE_WORDS = 3  # the opening words that name a question's template


def labels(kind: str, questions, chunks, bm25_cfg) -> dict[str, str]:
    """Question id -> its slice under ``kind`` (:data:`KINDS`), for labelled questions with a
    relevant chunk (the best-graded one stands for the question). Words are BM25's own
    (``bm25_cfg``: its tokenizer, stopwords and stemmer), so overlap means what BM25 matches."""
    rel = questions.relevance
    out, gold_words = {}, {}  # a chunk's words, tokenized once for all its questions
    for qid, text in zip(questions.ids, questions.texts):
        grades = rel.grades.get(qid)
        if not grades:
            continue
        gold = chunks[max(grades, key=grades.get)]
        if kind == "document":
            out[qid] = gold.title or gold.doc_id
        elif kind == "template":
            out[qid] = " ".join(text.lower().split()[:TEMPLATE_WORDS]) + " ..."
        elif kind == "keyword overlap":
            words = set(tokenize_cfg([text], bm25_cfg)[0])
            if gold.chunk_id not in gold_words:
                gold_words[gold.chunk_id] = set(tokenize_cfg([gold.text], bm25_cfg)[0])
            held = len(words & gold_words[gold.chunk_id])
            share = held / len(words) if words else 0.0
            i = int(np.searchsorted(OVERLAP_BINS, share, side="right")) - 1
            out[qid] = f"{OVERLAP_BINS[i]:.0%}-{min(OVERLAP_BINS[i + 1], 1.0):.0%} of its words"
        else:
            raise ValueError(f"slice kind {kind!r}: one of {KINDS}")
    return out


def table(per_query: pd.DataFrame, a: str, b: str, slice_of: dict[str, str],
          metric: str = "MAP@10", min_questions: int = 5, n_boot: int = 2000) -> pd.DataFrame:
    """Per slice with at least ``min_questions`` questions: how many, ``a`` and ``b`` on
    ``metric`` (percent) and a minus b with its paired 95% interval; largest slices first."""
    pa = per_query[per_query.system == a].set_index("query_id")[metric]
    pb = per_query[per_query.system == b].set_index("query_id")[metric]
    common = [q for q in pa.index.intersection(pb.index) if q in slice_of]
    groups: dict[str, list[str]] = {}
    for q in common:
        groups.setdefault(slice_of[q], []).append(q)
    rows = []
    for name, qs in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        if len(qs) < min_questions:
            continue
        r = paired_bootstrap(pa.loc[qs].to_numpy(), pb.loc[qs].to_numpy(), n_boot)
        rows.append({"slice": name, "questions": len(qs), a: round(100 * pa.loc[qs].mean(), 2),
                     b: round(100 * pb.loc[qs].mean(), 2),
                     f"{a} − {b} [95%]": f"{100 * r['diff']:+.2f} [{100 * r['low']:+.2f}, "
                                        f"{100 * r['high']:+.2f}]"})
    return pd.DataFrame(rows, columns=["slice", "questions", a, b, f"{a} − {b} [95%]"])
