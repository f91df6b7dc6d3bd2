"""Stage `perturbations`: the keywords of every evaluation question, and its masked and
synonym-substituted versions, for the lexical-sensitivity study (paper Section 6, Table 5,
Appendix F). One set, shared by every system, so all models see the same texts.

Key: ``[perturbation]`` (the systems left out; the WordNet files' fingerprint for the wordnet
backend; the endpoint, model and temperature for the llm ones; the base encoder's identity,
which judges the substitutes' similarity), over the chunk and relevance keys and the questions.
Saved as ``perturbations.json``. Algorithms: :mod:`bmembed_lab.perturbation`,
:mod:`bmembed_lab.wordnet`.
"""

from __future__ import annotations

from dataclasses import asdict

from .. import llm as llm_mod, perturbation, wordnet
from ..cache import LLM_CALLS, PERTURBATIONS, STUDY, StageCache, cached
from ..hashing import code_version, files_fingerprint, texts_key
from ..safeio import read_json, write_json
from ..ticker import ticking
from ..chunking import Chunk
from ..config import Config
from ..questions import STUDY_SETS
from ..relevance import Relevance

STAGE = PERTURBATIONS


def perturbations(cfg: Config, cache: StageCache, chunks: list[Chunk], chunks_key: str,
                  rel: Relevance, rel_key: str, ids: list[str], texts: list[str], progress=None,
                  encoder=None) -> tuple[perturbation.PerturbationSet, str]:
    """(the perturbed questions with their counts, its key). ``encoder`` (the base model)
    judges the substitutes against ``perturbation.min_similarity``."""
    p = cfg.perturbation
    conf = {k: v for k, v in asdict(p).items() if k != "systems"}
    floor = p.min_similarity if encoder is not None and p.substitution != "none" else -1.0
    if floor > -1:
        conf["encoder"] = encoder.identity
    llm_used = "llm" in (p.keywords, p.substitution)
    model = p.llm_model or cfg.llm.extract_model
    if llm_used:
        conf["llm"] = {
            "base_url": cfg.llm.base_url,
            "model": model,
            "temperature": cfg.llm.temperature,
        }
    wn_dir = cfg.resolve(p.wordnet_dir)
    if p.substitution == "wordnet":  # missing data fails here, with the fix, before any work
        conf["wordnet_dir"] = files_fingerprint(wordnet.WordNet.database_files(wn_dir))

    def compute() -> perturbation.PerturbationSet:
        with ticking(f"keywords, masks and synonyms of {len(ids):,} questions",
                     disable=progress is not None or llm_used):  # LLM calls have their bar
            return _perturb()

    def _perturb() -> perturbation.PerturbationSet:
        chunk_texts = [c.text for c in chunks]
        gold = [[chunk_texts[c] for c in rel.grades[q]] for q in ids]
        counts: dict = {}
        subs, kws = None, None
        if p.keywords == "offline":
            idf, common = perturbation.keyword_statistics(chunk_texts, p.max_df)
            kws = [perturbation.offline_keywords(t, g, idf, p.max_keywords, common, p.min_chars)
                   for t, g in zip(texts, gold)]
        if llm_used:
            client = llm_mod.LLMClient(
                cfg.llm, cache.sub_store(LLM_CALLS) if cache.enabled else None
            )
            kws, subs, counts = perturbation.llm_keywords_and_substitutes(
                texts, gold, client, model, p.max_keywords, p.substitution == "llm", progress,
                keywords=kws if p.keywords == "offline" else None)
        if p.substitution == "wordnet":
            wn = wordnet.WordNet.load(wn_dir)
            subs = [
                perturbation.wordnet_substitutions(t, k, wn, p.max_senses)
                for t, k in zip(texts, kws)
            ]
            names = [perturbation.name_keywords(t, k) for t, k in zip(texts, kws)]
            counts["keywords read as names or acronyms (left in place)"] = sum(map(len, names))
            counts["examples of names"] = list(dict.fromkeys(n for ns in names for n in ns))[:5]
        if subs is not None and floor > -1:
            subs, n, dropped = perturbation.similar_substitutes(
                subs, lambda t: encoder.encode(t, progress=False), floor)
            counts["substitutes below the similarity floor (dropped)"] = n
            counts["examples dropped"] = list(dict.fromkeys(f"{k} -> {v} ({c:.2f})"
                                                            for k, v, c in dropped))[:5]
        return perturbation.build_set(ids, texts, kws, subs, p.mask_token, counts)

    return cached(
        cache,
        STAGE,
        conf,
        [chunks_key, rel_key, texts_key(ids + texts)],
        code_version(perturbation, wordnet, llm_mod),
        compute,
        lambda v, d: write_json(d / "perturbations.json", v.to_json()),
        lambda d: perturbation.PerturbationSet.from_json(read_json(d / "perturbations.json")),
    )


def study_runs(systems: list[str], run, progress=None) -> dict:
    """(system, variant) -> ``run(system, question set)`` for every system on every variant
    of the study (the question set of each: :data:`bmembed_lab.questions.STUDY_SETS`)."""
    from ..evaluation import parse_system

    for s in systems:
        parse_system(s, "perturbation.systems", folders=False)
    todo = [(s, v) for s in systems for v in perturbation.VARIANTS]
    out = {}
    for i, (s, v) in enumerate(todo):
        out[s, v] = run(s, STUDY_SETS[v])
        if progress:
            progress(i + 1, len(todo))
    return out


def study(cfg: Config, cache: StageCache, systems: list[str], runs_: dict, rel: Relevance,
          rel_key: str) -> tuple[dict, str]:
    """({"per_query", "study"} tables of a perturbation study over ``runs_`` ((system,
    variant) -> (run, key)), its key), cached as parquet so that notebook 07 reopens them
    without resampling (the bootstrap of every system, variant and metric takes seconds). Key:
    the systems, cut-offs, draws and seed, over the runs' (every system on every variant) and
    the labels' keys."""
    import pandas as pd

    from .. import evaluation as evaluation_mod, metrics

    ks, e = tuple(cfg.eval.ks), cfg.eval
    conf = {"systems": [evaluation_mod.parse_system(s).name for s in systems], "ks": list(ks),
            "bootstrap": e.bootstrap, "seed": e.seed}

    def compute() -> dict:
        res = perturbation.run_study(
            systems, lambda s, v: evaluation_mod.per_query_table(runs_[s, v][0], rel, ks),
            e.bootstrap, e.seed)
        return {"per_query": res["per_query"], "study": res["study"]}

    def save(v: dict, d) -> None:
        v["per_query"].to_parquet(d / "per_query.parquet")
        v["study"].to_parquet(d / "study.parquet")

    def load(d) -> dict:
        return {"per_query": pd.read_parquet(d / "per_query.parquet"),
                "study": pd.read_parquet(d / "study.parquet")}

    return cached(cache, STUDY, conf, [k for _, k in runs_.values()] + [rel_key],
                  code_version(perturbation, evaluation_mod, metrics), compute, save, load)


def study_result(tables: dict, counts: dict) -> dict:
    """What ``perturbation_study`` returns: the tables, Table 5, the gold chunks' rank
    changes, a computed reading and the perturbed set's counts."""
    pq, st = tables["per_query"], tables["study"]
    return {"per_query": pq, "study": st, "table": perturbation.table5(st),
            "rank_changes": perturbation.rank_changes(pq), "reading": perturbation.reading(st),
            "counts": counts}
