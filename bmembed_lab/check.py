""""Will BMEmbed help here?", asked before any training (ours; the paper's gains come from
corpora where BM25 beats the base encoder, Section 4).

BMEmbed pulls the encoder towards BM25's rankings, so what predicts its outcome is measured
before training: BM25 against the base encoder on labelled dev questions (paired bootstrap),
how often the two agree, how strong the teacher is on its own training queries, how much the
training queries resemble the real questions, and what the query protocol costs the base
model. In: a :class:`~bmembed_lab.pipeline.Pipeline`. Out: a dict of those measurements and a
verdict (``help`` / ``hurt`` / ``unclear``) with its reasons in plain words.

The verdict rule (docs/method.md, "Will BMEmbed help here?"):

* reference protocol and the prefix costs the base model at least ``HANDICAP`` points (95%
  interval above zero): ``help`` against the base under the same protocol, since training
  recovers part of that cost - but not against the clean base;
* otherwise, BM25 minus base MAP@10 on the dev questions: its interval's lower end above
  ``MARGIN`` points -> ``help``; its upper end below zero -> ``hurt``; else ``unclear``;
* no labelled questions -> ``unclear`` (synthetic queries measure agreement with the teacher).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .evaluation import per_query_table
from .metrics import interval_text, paired_bootstrap, small_sample_note
from .questions import check_sets
from .text import words

MARGIN = 5.0  # MAP@10 points BM25 must lead by (lower interval end) to expect a gain
HANDICAP = 2.0  # MAP@10 points the reference prefix must cost the base model
METRIC = "MAP@10"


def _paired(pa, pb, metric: str, n_boot: int, seed: int) -> dict:
    a = pa.set_index("query_id")[metric]
    b = pb.set_index("query_id")[metric].reindex(a.index)
    r = paired_bootstrap(a.to_numpy(float), b.to_numpy(float), n_boot, seed)
    return {"a": 100 * float(a.mean()), "b": 100 * float(b.mean()), "diff": 100 * r["diff"],
            "low": 100 * r["low"], "high": 100 * r["high"], "queries": r["n"]}


def top_overlap(run_a, run_b, k: int = 10) -> float:
    """Mean share of the top-k chunks two runs over the same queries have in common."""
    rows = {q: i for i, q in enumerate(run_b.query_ids)}
    shares = [len(set(run_a.ranked(i)[:k]) & set(run_b.ranked(rows[q])[:k])) / k
              for i, q in enumerate(run_a.query_ids)]
    return float(np.mean(shares)) if shares else float("nan")


def teacher_on_training_queries(pipe, limit: int = 300, seed: int = 0) -> dict | None:
    """On up to ``limit`` training queries whose source chunk is found (the chunk of their
    document holding the start of their evidence): how often BM25 (the teacher) and the base
    encoder (the student) rank that chunk first. None when no query has evidence."""
    from .bm25 import tokenize_cfg
    from .negatives import source_chunks

    qs, _ = pipe.synthetic_queries()
    found = source_chunks(qs.queries, pipe.chunks()[0])
    keep = [q.text for q, s in zip(qs.queries, found) if s >= 0]
    src = [int(s) for s in found if s >= 0]
    if not keep:
        return None
    if len(keep) > limit:
        pick = np.sort(np.random.default_rng(seed).choice(len(keep), limit, replace=False))
        keep, src = [keep[i] for i in pick], [src[i] for i in pick]
    src = np.array(src)
    bm = pipe.bm25_index().scores(tokenize_cfg(keep, pipe.cfg.bm25))
    c_emb, _ = pipe.chunk_embeddings("base")
    de = pipe.encoder("base").encode(keep, is_query=True, progress=False) @ c_emb.T
    first = {
        name: float(np.mean(s.argmax(1) == src)) * 100 for name, s in (("bm25", bm), ("base", de))
    }
    return {"queries": len(keep), "bm25 top-1": first["bm25"], "base top-1": first["base"]}


def resemblance(pipe, eval_texts: list[str], limit: int = 500, seed: int = 0) -> dict:
    """How far the training queries look like the real questions: words per query, and each
    question's nearest training query (cosine, base encoder) against its nearest other question."""
    qs, _ = pipe.synthetic_queries()
    train = [q.text for q in qs.queries]
    rng = np.random.default_rng(seed)
    if len(train) > limit:
        train = [train[i] for i in rng.choice(len(train), limit, replace=False)]
    ev = eval_texts[:limit]
    enc = pipe.encoder("base")
    te, ee = (enc.encode(x, is_query=True, progress=False) for x in (train, ev))
    to_train = (ee @ te.T).max(1)
    within = ee @ ee.T
    np.fill_diagonal(within, -1)
    return {
        "training words per query": float(np.mean([len(words(t)) for t in train])),
        "question words per query": float(np.mean([len(words(t)) for t in ev])),
        "question -> nearest training query (cosine)": float(np.mean(to_train)),
        "question -> nearest other question (cosine)": float(np.mean(within.max(1)))
        if len(ev) > 1
        else float("nan"),
    }


def verdict(gap: dict | None, handicap: dict | None, labelled: bool, split: str = "dev"
            ) -> tuple[str, list[str]]:
    """(help | hurt | unclear, the reasons) from BM25 - base on dev and the protocol's cost."""
    if not labelled or gap is None:
        seen = "" if gap is None else (
            f" (on {gap['queries']} of them BM25 minus base {METRIC} is {gap['diff']:+.1f} points "
            f"[{gap['low']:+.1f}, {gap['high']:+.1f}])")
        return "unclear", ["there are no labelled questions: held-out synthetic queries only say "
                           f"how well the student can learn the teacher{seen}, not whether real "
                           "questions improve; add a few labelled questions (corpus.queries with "
                           "qrels or evidence) for a verdict"]
    g = (f"BM25 minus base {METRIC} on {gap['queries']} {split} questions: "
         f"{interval_text(gap['diff'], gap['low'], gap['high'])} points")
    few = small_sample_note(gap["queries"])
    if few:
        g += f" ({few})"
    if handicap is not None and handicap["low"] > 0 and handicap["diff"] >= HANDICAP:
        return "help", [
            f"under the reference protocol the query prefix costs the base model "
            f"{handicap['diff']:.1f} {METRIC} points [{handicap['low']:+.1f}, "
            f"{handicap['high']:+.1f}]; "
            "training under it recovers part of that cost, so expect a gain over the base model "
            "run the same way, but not over the clean base model",
            g,
        ]
    if gap["low"] > MARGIN:
        return "help", [g + f": the teacher is clearly ahead (lower end above {MARGIN:.0f} points)"]
    if gap["high"] < 0:
        return "hurt", [g + ": the base encoder already beats its teacher on your questions; "
                            "pulling it towards BM25 is expected to cost quality"]
    return "unclear", [g + f": BM25 is not clearly ahead by more than {MARGIN:.0f} points, nor "
                           "clearly behind; measure with a training run and the dev split"]


def run_check(pipe, n_boot: int | None = None) -> dict:
    """Every measurement above, and the verdict, for the pipeline's config."""
    cfg = pipe.cfg
    n_boot = n_boot or cfg.eval.bootstrap
    seed = cfg.eval.seed
    out: dict = {
        "protocol": cfg.encoder.protocol,
        "query prefix": pipe.encoder("base").query_instruction,
    }
    labelled = pipe.labelled()
    # no labels: BM25 against base on the held-out synthetic queries (the teacher's kind)
    q = pipe.questions(check_sets(labelled, labelled and len(pipe.questions("dev")) > 0))
    split, rel = q.label, q.relevance
    out["questions"] = {"split": split, "count": len(q), "level": rel.level}
    runs = {s: pipe.run(s, q.which)[0] for s in ("bm25", "base")}
    pq = {s: per_query_table(r, rel) for s, r in runs.items()}
    gap = _paired(pq["bm25"], pq["base"], METRIC, n_boot, seed)
    out["bm25 - base"] = gap
    out["bm25 - base Hit@10"] = _paired(pq["bm25"], pq["base"], "Hit@10", n_boot, seed)
    out["top-10 overlap bm25/base"] = top_overlap(runs["bm25"], runs["base"])
    handicap = None
    if cfg.encoder.protocol == "reference":
        from .pipeline import Pipeline

        clean = Pipeline(replace(cfg, encoder=replace(cfg.encoder, protocol="clean")), pipe.cache)
        run_clean = clean.run("base", q.which)[0]
        handicap = _paired(per_query_table(run_clean, rel), pq["base"], METRIC, n_boot, seed)
        out["prefix cost (clean base - reference base)"] = handicap
    out["teacher on training queries"] = teacher_on_training_queries(pipe, seed=seed)
    out["resemblance"] = resemblance(pipe, q.texts, seed=seed)
    out["verdict"], out["reasons"] = verdict(gap, handicap, labelled, split)
    return out


def verdict_line(r: dict) -> str:
    """The check's verdict in one line, as the report and notebook 00 open with it."""
    against = (" against the base model run the same way (the paper's query prefix), not "
               "against the clean base model") if r["protocol"] == "reference" else ""
    return (f"BMEmbed is expected to {r['verdict'].upper()}{against}"
            if r["verdict"] != "unclear" else "UNCLEAR")


def format_report(r: dict) -> str:
    """The check as a terminal report, verdict first."""
    lines = [f"Verdict: {verdict_line(r)}", ""]
    lines += [f"- {x}" for x in r["reasons"]]
    lines += ["", f"protocol: {r['protocol']} (query prefix {r['query prefix']!r})",
              f"questions: {r['questions']['count']} ({r['questions']['split']} queries, scored "
              f"by {r['questions'].get('level', 'chunk')})"]
    for key in ("bm25 - base", "bm25 - base Hit@10", "prefix cost (clean base - reference base)"):
        if key in r:
            g = r[key]
            lines.append(f"{key}: {g['a']:.1f} vs {g['b']:.1f} = "
                         f"{interval_text(g['diff'], g['low'], g['high'])}"
                         + ("" if "Hit" in key else f" ({METRIC})"))
    lines.append(f"top-10 overlap of BM25 and base: {100 * r['top-10 overlap bm25/base']:.0f}%")
    t = r["teacher on training queries"]
    if t:
        lines.append(
            f"on {t['queries']} training queries, the source chunk ranked first: BM25 "
            f"{t['bm25 top-1']:.0f}%, base {t['base top-1']:.0f}% (what the teacher can teach)"
        )
    lines += [f"{k}: {v:.2f}" for k, v in r["resemblance"].items()]
    return "\n".join(lines)
