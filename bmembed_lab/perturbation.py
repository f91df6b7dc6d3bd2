"""The lexical-sensitivity study (paper Section 6, Table 5, Appendix F): how much of a
retriever's success rests on the exact domain keywords a query shares with its gold passage,
and how much survives a paraphrase.

In: the evaluation queries, the texts of their gold chunks, the chunks' BM25 idf. Out: a
:class:`PerturbationSet`: per query its keywords, a *masked* query (every occurrence of every
keyword replaced by a mask token) and a *substituted* query (each keyword replaced by one
meaning-keeping word). The perturbed texts are computed once and shared by every system, so
all models see exactly the same queries.

Keywords: ``offline`` (words the query shares with its gold text, stopwords and very common
words excluded, ranked by BM25 idf, capped per query) or ``llm`` (the paper's Appendix F prompt
in our own words). Substitutes: ``wordnet`` (offline, WordNet 3.0, same part of speech;
keywords without a synonym are left in place and counted) or ``llm``.

Matching is case-insensitive on whole words; a multi-word keyword matches across any run of
spaces or punctuation ("blood sugar" matches "blood-sugar"); longer keywords win over the
shorter ones they contain. A replacement keeps the capitalisation of the first letter it
replaces.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from .errors import InputError
from .metrics import paired_bootstrap

VARIANTS = ("original", "masked", "substituted")
STUDY_METRICS = ["Hit@1", "Hit@4", "Hit@10", "MAP@10"]
_WORD = re.compile(r"\w+")


@dataclass
class PerturbedQuery:
    query_id: str
    text: str
    keywords: list[str]
    masked: str | None  # None: no keyword (left out of the masked set)
    substituted: str | None  # None: no keyword could be replaced
    substitutions: dict[str, str] = field(default_factory=dict)  # keyword -> replacement
    no_substitute: list[str] = field(default_factory=list)  # keywords left in place


@dataclass
class PerturbationSet:
    queries: list[PerturbedQuery]
    counts: dict

    def variant(self, name: str) -> tuple[list[str], list[str]]:
        """(query ids, texts) of one variant; queries it does not have are left out."""
        if name not in VARIANTS:
            raise InputError(f"unknown query variant {name!r}", "perturbation", f"use one of {VARIANTS}")
        rows = [(q.query_id, q.text if name == "original" else getattr(q, name)) for q in self.queries]
        rows = [(i, t) for i, t in rows if t is not None]
        return [i for i, _ in rows], [t for _, t in rows]

    def to_json(self) -> dict:
        return {"queries": [asdict(q) for q in self.queries], "counts": self.counts}

    @classmethod
    def from_json(cls, d: dict) -> "PerturbationSet":
        return cls([PerturbedQuery(**q) for q in d["queries"]], d["counts"])


# -- keywords ---------------------------------------------------------------------------------
QUESTION_WORDS = frozenset("does did doing done is are was were be can could should would "
                           "will shall may might must".split())


def _stopwords() -> frozenset:
    from .querygen import _stopwords as english

    return english() | QUESTION_WORDS


def offline_keywords(query: str, gold_texts: list[str], idf: dict[str, float], max_keywords: int = 5,
                     common: frozenset = frozenset(), min_chars: int = 2) -> list[str]:
    """Words (lowercase BM25 tokens) of ``query`` that also occur in any of ``gold_texts``,
    without stopwords, words in ``common`` or words shorter than ``min_chars``, ranked by
    ``idf`` (rarest first; ties in query order), at most ``max_keywords``."""
    stop = _stopwords()
    gold = {w for t in gold_texts for w in _WORD.findall(t.lower())}
    seen: dict[str, int] = {}
    for pos, w in enumerate(_WORD.findall(query.lower())):
        if w in gold and w not in stop and w not in common and len(w) >= min_chars and w not in seen:
            seen[w] = pos
    ranked = sorted(seen, key=lambda w: (-idf.get(w, 0.0), seen[w]))
    return ranked[:max_keywords]


def keyword_pattern(keywords: list[str]) -> re.Pattern | None:
    """One regex matching every keyword as whole words, case-insensitively, longest first;
    group ``k<i>`` tells which keyword matched."""
    alts = []
    for i, kw in sorted(enumerate(keywords), key=lambda x: -len(x[1])):
        words = _WORD.findall(kw)
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


def _keep_case(matched: str, replacement: str) -> str:
    return replacement[:1].upper() + replacement[1:] if matched[:1].isupper() else replacement


def replace_keywords(text: str, keywords: list[str], replacements: list[str | None]) -> tuple[str, int]:
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


def wordnet_substitutions(text: str, keywords: list[str], wordnet, max_senses: int = 3
                          ) -> dict[str, str]:
    """keyword -> WordNet synonym (same part of speech, inflected like the keyword's first
    occurrence); keywords with no synonym are absent. Multi-word keywords are looked up as
    WordNet collocations ("blood sugar" -> blood_sugar)."""
    out = {}
    for start, end, i in occurrences(text, keywords):
        kw = keywords[i]
        if kw in out:
            continue
        previous = _WORD.findall(text[:start])[-1:] or [""]
        found = wordnet.synonym(" ".join(_WORD.findall(text[start:end])), max_senses, previous[0])
        if found is not None:
            out[kw] = found[0]
    return out


# -- LLM backend ------------------------------------------------------------------------------
KEYWORD_SYSTEM = ("You help study how retrieval systems depend on exact wording. You read a "
                  "question and the passage that answers it, and you reply with JSON only.")
KEYWORD_USER = """Question: {query}

Passage: {passage}

List the keywords of the question: words or short phrases that appear in BOTH the question and the passage and carry the question's specific meaning (names, technical terms, entities, numbers). Leave out generic words (what, how, information, people) and words that appear only in one of the two. Copy each keyword exactly as written in the question. At most {n}.

Reply as: {{"keywords": ["...", "..."]}}"""
SUBSTITUTE_USER = """Question: {query}

Keywords: {keywords}

For each keyword give ONE replacement word or short phrase that keeps the question's meaning in this context (a synonym or a close paraphrase), with the same part of speech and grammatical form, and sharing no word with the keyword. If no such replacement exists, give null.

Reply as: {{"substitutions": {{"keyword": "replacement or null"}}}}"""


def keyword_call(query: str, passage: str, model: str, max_keywords: int, max_chars: int = 6000):
    from .llm import Call

    return Call(model, KEYWORD_SYSTEM, KEYWORD_USER.format(query=query, passage=passage[:max_chars],
                                                           n=max_keywords), 0.0, 512)


def substitute_call(query: str, keywords: list[str], model: str):
    from .llm import Call

    return Call(model, KEYWORD_SYSTEM, SUBSTITUTE_USER.format(query=query, keywords=json.dumps(keywords)),
                0.0, 512)


def parse_keywords(reply: str | None, query: str, max_keywords: int) -> list[str] | None:
    """Keywords from an LLM reply, kept only if they occur in the query (whole words, any
    case); None if the reply holds no keyword list at all."""
    from .querygen import _loads

    data = _loads(reply or "")
    if isinstance(data, dict):
        data = next((v for k, v in data.items() if "keyword" in k.lower()), None)
    if not isinstance(data, list):
        return None
    out = []
    for kw in data:
        if isinstance(kw, str) and kw.strip() and occurrences(query, [kw.strip()]):
            if kw.strip().lower() not in (k.lower() for k in out):
                out.append(kw.strip())
    return out[:max_keywords]


def parse_substitutions(reply: str | None, keywords: list[str]) -> dict[str, str] | None:
    """keyword -> replacement from an LLM reply; a replacement equal to its keyword, sharing a
    word with it, or empty is dropped. None if the reply holds no mapping at all."""
    from .querygen import _loads

    data = _loads(reply or "")
    if isinstance(data, dict) and isinstance(data.get("substitutions"), dict):
        data = data["substitutions"]
    if not isinstance(data, dict):
        return None
    low = {k.lower(): k for k in keywords}
    out = {}
    for k, v in data.items():
        kw = low.get(str(k).strip().lower())
        if kw is None or not isinstance(v, str) or not v.strip():
            continue
        if set(_WORD.findall(v.lower())) & set(_WORD.findall(kw.lower())):
            continue
        out[kw] = v.strip()
    return out


def llm_keywords_and_substitutes(texts: list[str], gold: list[list[str]], client, model: str,
                                 max_keywords: int, substitute: bool, progress=None,
                                 keywords: list[list[str]] | None = None
                                 ) -> tuple[list[list[str]], list[dict[str, str]] | None, dict]:
    """The LLM steps: keywords per (query, gold text) unless ``keywords`` are given, then
    (``substitute``) one replacement per keyword. Replies are cached call by call by the
    client; a reply that cannot be parsed counts as no keyword / no substitute. Raises, after
    caching what came back, if calls still failed after the client's retries."""
    failed, unparsed = [], 0
    if keywords is None:
        calls = [keyword_call(t, "\n\n".join(g), model, max_keywords) for t, g in zip(texts, gold)]
        replies = client.complete_all(calls, progress)
        failed = [r for r in replies if r.text is None]
        keywords = []
        for t, r in zip(texts, replies):
            k = parse_keywords(r.text, t, max_keywords) if r.text is not None else []
            unparsed += k is None
            keywords.append(k or [])
    kws = keywords
    subs = None
    if substitute and not failed:
        todo = [i for i, k in enumerate(kws) if k]
        s_calls = [substitute_call(texts[i], kws[i], model) for i in todo]
        s_replies = client.complete_all(s_calls, progress) if s_calls else []
        failed += [r for r in s_replies if r.text is None]
        subs = [{} for _ in texts]
        for i, r in zip(todo, s_replies):
            d = parse_substitutions(r.text, kws[i]) if r.text is not None else {}
            unparsed += d is None
            subs[i] = d or {}
    if failed:
        raise InputError(f"{len(failed)} LLM calls still failed after {client.cfg.max_retries} "
                         f"retries (first: {failed[0].error}); the replies received are cached",
                         f"llm endpoint {client.endpoint}",
                         "rerun to send only the missing calls, or use perturbation.keywords = "
                         "'offline' and perturbation.substitution = 'wordnet'")
    st = client.stats
    return kws, subs, {"llm calls sent (incl. retries)": st.sent, "llm replies from cache": st.cached,
                       "llm unparsed replies": unparsed}


# -- the set ----------------------------------------------------------------------------------
def build_set(query_ids: list[str], texts: list[str], keywords: list[list[str]],
              substitutions: list[dict[str, str]] | None, mask_token: str, counts: dict | None = None
              ) -> PerturbationSet:
    """Masked and substituted variants of every query from its keywords and substitutions
    (None: no substitution backend), with the counts the study reports."""
    counts = dict(counts or {})
    counts.update({"queries": len(query_ids), "queries without a keyword (not masked)": 0,
                   "keywords": 0, "keyword occurrences masked": 0,
                   "keywords without a substitute (left in place)": 0,
                   "queries without any substitute (not substituted)": 0})
    out = []
    for i, (qid, text) in enumerate(zip(query_ids, texts)):
        kws = keywords[i]
        counts["keywords"] += len(kws)
        if not kws:
            counts["queries without a keyword (not masked)"] += 1
            out.append(PerturbedQuery(qid, text, [], None, None))
            continue
        masked, n = mask_query(text, kws, mask_token)
        counts["keyword occurrences masked"] += n
        subs = {}
        if substitutions is not None:
            subs = {k: v for k, v in substitutions[i].items() if k in kws}
        missing = [k for k in kws if k not in subs]
        substituted = None
        if subs:
            substituted, _ = replace_keywords(text, kws, [subs.get(k) for k in kws])
        elif substitutions is not None:
            counts["queries without any substitute (not substituted)"] += 1
        if substitutions is not None:
            counts["keywords without a substitute (left in place)"] += len(missing)
        out.append(PerturbedQuery(qid, text, list(kws), masked, substituted, subs,
                                  missing if substitutions is not None else []))
    counts["masked queries"] = sum(q.masked is not None for q in out)
    counts["substituted queries"] = sum(q.substituted is not None for q in out)
    return PerturbationSet(out, counts)


# -- the study table --------------------------------------------------------------------------
def study_table(per_query: pd.DataFrame, n_boot: int = 10000, seed: int = 0,
                metrics: list[str] | None = None) -> pd.DataFrame:
    """The paper's Table 5 in long form. In: per-query metrics with columns system, variant,
    query_id and the metrics. Out: one row per (system, perturbed variant, metric): the
    original and perturbed means on the queries the variant has (percent), the change
    (perturbed - original, points) and its paired-bootstrap 95% interval."""
    metrics = metrics or STUDY_METRICS
    rows = []
    for system in dict.fromkeys(per_query.system):
        s = per_query[per_query.system == system]
        orig = s[s.variant == "original"].set_index("query_id")
        for variant in ("masked", "substituted"):
            pert = s[s.variant == variant].set_index("query_id")
            common = pert.index.intersection(orig.index)
            if not len(common):
                continue
            for m in metrics:
                a, b = pert.loc[common, m].to_numpy(float), orig.loc[common, m].to_numpy(float)
                r = paired_bootstrap(a, b, n_boot, seed)
                rows.append({"system": system, "variant": variant, "metric": m, "queries": len(common),
                             "original": 100 * b.mean(), "perturbed": 100 * a.mean(),
                             "change": 100 * r["diff"], "ci_low": 100 * r["low"], "ci_high": 100 * r["high"]})
    return pd.DataFrame(rows)


def table5(study: pd.DataFrame) -> pd.DataFrame:
    """Wide view in the paper's Table 5 layout: per system, a row for original, masked and
    substituted queries; each metric with its drop from original in brackets."""
    rows = []
    for system in dict.fromkeys(study.system):
        s = study[study.system == system]
        masked = s[s.variant == "masked"].set_index("metric")
        if len(masked):
            rows.append({"system": system, "queries": "original",
                         "n": int(masked.queries.iloc[0]), **{m: f"{masked.loc[m, 'original']:.2f}"
                                                             for m in masked.index}})
        for variant in ("masked", "substituted"):
            v = s[s.variant == variant].set_index("metric")
            if len(v):
                rows.append({"system": system, "queries": variant, "n": int(v.queries.iloc[0]),
                             **{m: f"{v.loc[m, 'perturbed']:.2f} ({v.loc[m, 'change']:+.2f} "
                                   f"[{v.loc[m, 'ci_low']:+.2f}, {v.loc[m, 'ci_high']:+.2f}])"
                                for m in v.index}})
    return pd.DataFrame(rows)


def rank_changes(per_query: pd.DataFrame) -> pd.DataFrame:
    """Per query and system: the gold chunk's rank (1-based, NaN = not in the run's depth)
    under each variant, and its change from the original."""
    t = per_query.pivot_table(index=["query_id", "system"], columns="variant", values="gold_rank",
                              aggfunc="first", dropna=False)
    t = t.reindex(columns=[v for v in VARIANTS if v in t.columns])
    for v in ("masked", "substituted"):
        if v in t.columns:
            t[f"{v} change"] = t[v] - t["original"]
    return t.reset_index()


def reading(study: pd.DataFrame, metric: str = "Hit@10") -> list[str]:
    """What the study's numbers say, as sentences computed from them (for the notebook and
    the bench report): which system masking hurts most, whether an adapted encoder leans on
    keywords more than the base one, and what survives substitution."""
    s = study[study.metric == metric]
    out = []

    def sig(r) -> str:
        if r.ci_high < 0:
            return "a drop whose 95% interval excludes zero"
        if r.ci_low > 0:
            return "a gain whose 95% interval excludes zero"
        return "within noise (the interval contains zero)"

    for variant, verb in (("masked", "Masking the keywords"), ("substituted", "Substituting synonyms")):
        v = s[s.variant == variant].set_index("system")
        if v.empty:
            continue
        worst = v.change.idxmin()
        least = v.change.idxmax()
        r = v.loc[worst]
        out.append(f"{verb} costs {worst} the most: {metric} {r.original:.1f} -> {r.perturbed:.1f} "
                   f"({r.change:+.1f} points, {sig(r)}); {least} loses least ({v.loc[least].change:+.1f}).")
        kept = (v.perturbed / v.original.where(v.original > 0)).dropna()
        if len(kept):
            out.append(f"Share of {metric} kept when {variant}: " + ", ".join(
                f"{k} {100 * x:.0f}%" for k, x in kept.sort_values(ascending=False).items()) + ".")
        for adapted in [x for x in v.index if x not in ("bm25", "base", "rrf") and not x.startswith("rrf")]:
            if "base" in v.index:
                a, b = v.loc[adapted], v.loc["base"]
                d = a.change - b.change
                overlap = not (a.ci_high < b.ci_low or b.ci_high < a.ci_low)
                if abs(a.original - b.original) > 5 and a.original > 0 and b.original > 0:
                    out.append(f"When {variant}, {adapted} starts from {a.original:.1f} against base's "
                               f"{b.original:.1f}, so their point losses ({a.change:+.1f} vs {b.change:+.1f}) "
                               f"are not comparable; it keeps {100 * a.perturbed / a.original:.0f}% of its "
                               f"{metric}, base {100 * b.perturbed / b.original:.0f}%.")
                elif abs(d) < 1.0:
                    out.append(f"When {variant}, {adapted} loses about as much as base ({a.change:+.1f} vs "
                               f"{b.change:+.1f}): adapting it did not change how much it rests on these words.")
                elif overlap:
                    out.append(f"When {variant}, {adapted} loses {abs(d):.1f} points {'less' if d > 0 else 'more'} "
                               f"than base ({a.change:+.1f} vs {b.change:+.1f}), but the intervals overlap: "
                               "the difference is not established (compare the shares kept, as the two "
                               "start from different values).")
                else:
                    lean = "more" if d < 0 else "less"
                    out.append(f"When {variant}, {adapted} loses {abs(d):.1f} points {lean} than base "
                               f"({a.change:+.1f} vs {b.change:+.1f}, non-overlapping intervals): it leans "
                               f"{lean} on the exact keywords than the encoder it was adapted from.")
    if "bm25" in set(s.system):
        m = s[(s.system == "bm25") & (s.variant == "masked")]
        if len(m) and m.iloc[0].original > 0:
            out.append(f"BM25 keeps {100 * m.iloc[0].perturbed / m.iloc[0].original:.0f}% of its "
                       f"{metric} without the keywords: the share of its hits that the other "
                       "shared words carry.")
    return out


def keyword_statistics(chunk_texts: list[str], max_df: float) -> tuple[dict[str, float], frozenset]:
    """(BM25 idf ln((N - n + 0.5) / (n + 0.5)) of every lowercase word over the chunks, the
    words in more than ``max_df`` of the chunks: too common to be a query's keyword)."""
    from collections import Counter

    df: Counter = Counter()
    for t in chunk_texts:
        df.update(set(_WORD.findall(t.lower())))
    n = len(chunk_texts)
    idf = {w: float(np.log((n - c + 0.5) / (c + 0.5))) for w, c in df.items()}
    return idf, frozenset(w for w, c in df.items() if c > max_df * n)
