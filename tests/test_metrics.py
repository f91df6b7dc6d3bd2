"""Metrics against hand-computed cases."""

import math

import numpy as np
import pytest

from bmembed_lab import metrics as M


def test_hit_mrr_recall():
    ranked = ["a", "b", "c", "d"]
    grades = {"c": 1.0}
    assert M.hit_at_k(ranked, grades, 2) == 0.0
    assert M.hit_at_k(ranked, grades, 3) == 1.0
    assert M.mrr_at_k(ranked, grades, 10) == pytest.approx(1 / 3)
    assert M.mrr_at_k(ranked, grades, 2) == 0.0
    facts = {"b": [0], "d": [0, 1]}
    assert M.recall_at_k(ranked, facts, 3, 2) == pytest.approx(1 / 3)
    assert M.recall_at_k(ranked, facts, 3, 4) == pytest.approx(2 / 3)


def test_map_both_definitions_methods_example():
    # two gold facts found at ranks 1 and 3 (docs/method.md, "Metrics"):
    # official 0.667, textbook 0.833
    ranked = ["x", "y", "z"]
    facts = {"x": [0], "z": [1]}
    grades = {"x": 1.0, "z": 1.0}
    assert M.multihop_ap_at_k(ranked, facts, 2, 10) == pytest.approx((1 + 1 / 3) / 2)
    assert M.ap_at_k(ranked, grades, 10) == pytest.approx((1 + 2 / 3) / 2)


def test_multihop_map_counts_facts_once():
    # chunk 1 and 2 hold the same fact: the second adds nothing; denominator min(n_facts, k)
    ranked = ["a", "b", "c"]
    facts = {"a": [0], "b": [0], "c": [1]}
    assert M.multihop_ap_at_k(ranked, facts, 3, 10) == pytest.approx((1 + 1 / 3) / 3)
    # textbook counts chunks: relevant at 1, 2, 3 -> (1 + 1 + 1) / 3
    assert M.ap_at_k(ranked, {"a": 1, "b": 1, "c": 1}, 10) == pytest.approx(1.0)
    assert M.multihop_ap_at_k([], facts, 3, 10) == 0.0


def test_ndcg_graded():
    ranked = ["a", "b", "c"]
    grades = {"b": 2.0, "c": 1.0}
    dcg = 2 / math.log2(3) + 1 / math.log2(4)
    idcg = 2 / math.log2(2) + 1 / math.log2(3)
    assert M.ndcg_at_k(ranked, grades, 10) == pytest.approx(dcg / idcg)
    assert M.ndcg_at_k(["b", "c"], grades, 10) == pytest.approx(1.0)


def test_padding_is_never_relevant():
    assert M.hit_at_k([-1, -1], {3: 1.0}, 2) == 0.0


def test_bootstrap_identical_and_clear_difference():
    a = np.array([1, 0, 1, 1, 0, 1, 0, 1] * 10, float)
    r = M.paired_bootstrap(a, a, n_boot=500)
    assert r["diff"] == 0 and r["low"] == 0 and r["high"] == 0 and r["p_value"] == 1.0
    b = np.zeros_like(a)
    r = M.paired_bootstrap(a, b, n_boot=2000, seed=1)
    assert r["diff"] == pytest.approx(a.mean())
    assert 0 < r["low"] < r["diff"] < r["high"] <= 1
    assert r["p_value"] < 0.01
    with pytest.raises(ValueError):
        M.paired_bootstrap(a, a[:-1])


def test_bootstrap_noise_interval_covers_zero():
    rng = np.random.default_rng(0)
    a, b = rng.random(200), rng.random(200)
    r = M.paired_bootstrap(a, b, n_boot=2000)
    assert r["low"] < 0 < r["high"] and r["p_value"] > 0.05


def test_metrics_agree_with_sentence_transformers_information_retrieval_evaluator():
    """Hit@k, MRR@10, nDCG@10, Recall@k and the textbook AP@10 (which divides by min(R, 10))
    against sentence-transformers' own evaluator, on random runs with binary qrels: the same
    numbers to 1e-9. Ranks 11+ are where the two definitions of depth could part, so every
    query ranks all 60 documents and some have more than 10 relevant ones."""
    from sentence_transformers.evaluation import InformationRetrievalEvaluator

    from bmembed_lab.evaluation import per_query_table
    from bmembed_lab.relevance import Relevance
    from bmembed_lab.retrieval import Run

    rng = np.random.default_rng(7)
    n_docs, n_q = 60, 40
    docs = {f"d{i}": f"text {i}" for i in range(n_docs)}
    queries = {f"q{j}": f"query {j}" for j in range(n_q)}
    rel = {q: set(rng.choice(n_docs, size=int(rng.integers(1, 14)), replace=False).tolist())
           for q in queries}
    scores = rng.random((n_q, n_docs))  # continuous: no ties for the two tie rules to break
    order = np.argsort(-scores, axis=1)
    run = Run("x", list(queries), order, np.take_along_axis(scores, order, 1))
    ours = per_query_table(run, Relevance(
        {q: {c: 1.0 for c in r} for q, r in rel.items()},
        {q: {c: [i] for i, c in enumerate(sorted(r))} for q, r in rel.items()},
        {q: len(r) for q, r in rel.items()}), ks=(1, 4, 10)).mean(numeric_only=True)
    ev = InformationRetrievalEvaluator(
        queries, docs, {q: {f"d{c}" for c in r} for q, r in rel.items()},
        accuracy_at_k=[1, 4, 10], precision_recall_at_k=[1, 4, 10], mrr_at_k=[10],
        ndcg_at_k=[10], map_at_k=[10], show_progress_bar=False)
    theirs = ev.compute_metrics([[{"corpus_id": f"d{c}", "score": float(scores[j, c])}
                                  for c in range(n_docs)] for j in range(n_q)])
    pairs = {"Hit@1": theirs["accuracy@k"][1], "Hit@4": theirs["accuracy@k"][4],
             "Hit@10": theirs["accuracy@k"][10], "MRR@10": theirs["mrr@k"][10],
             "nDCG@10": theirs["ndcg@k"][10], M.TEXTBOOK_MAP: theirs["map@k"][10],
             **{f"Recall@{k}": theirs["recall@k"][k] for k in (1, 4, 10)}}
    for name, value in pairs.items():
        assert ours[name] == pytest.approx(float(value), abs=1e-9), name


def test_graded_ndcg_and_map_cut_10_agree_with_trec_eval():
    """Graded nDCG@10 (linear gains) and trec_eval's map_cut_10 (AP over R, not min(R, 10))
    against pytrec_eval, trec_eval's own C code, on random runs with graded qrels (0-3, some
    queries with more than 10 relevant documents): the same numbers to 1e-9."""
    import pytrec_eval

    from bmembed_lab.metrics import TREC_MAP, ndcg_at_k, query_metrics

    rng = np.random.default_rng(11)
    n_docs, n_q = 60, 40
    qrels, run, ours = {}, {}, {"ndcg": [], "map": []}
    for j in range(n_q):
        rel = rng.choice(n_docs, size=int(rng.integers(1, 16)), replace=False)
        grades = {int(c): int(rng.integers(1, 4)) for c in rel}
        scores = rng.random(n_docs)  # continuous: no ties for the two tie rules to break
        ranked = [int(c) for c in np.argsort(-scores)]
        qrels[f"q{j}"] = {f"d{c}": g for c, g in grades.items()}
        run[f"q{j}"] = {f"d{c}": float(scores[c]) for c in range(n_docs)}
        ours["ndcg"].append(ndcg_at_k(ranked, {c: float(g) for c, g in grades.items()}, 10))
        ours["map"].append(query_metrics(ranked, grades, {}, 0)[TREC_MAP])  # the table's column
    theirs = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "map_cut.10"}).evaluate(run)
    for j in range(n_q):
        assert ours["ndcg"][j] == pytest.approx(theirs[f"q{j}"]["ndcg_cut_10"], abs=1e-9)
        assert ours["map"][j] == pytest.approx(theirs[f"q{j}"]["map_cut_10"], abs=1e-9)


def test_a_p_value_too_small_for_four_decimals_reads_p_below():
    from bmembed_lab.metrics import p_text

    assert p_text(0.0) == "p<0.0001" and p_text(0.00004) == "p<0.0001"
    assert p_text(0.0123) == "p=0.0123"


def test_every_result_column_is_explained_with_its_divisor():
    """Each column a results table shows has a glossary line, and the three MAP@10 variants'
    lines name three different divisors (the names say them too)."""
    from bmembed_lab.evaluation import HEADLINE

    cols = list(M.query_metrics([1, 2], {1: 1.0}, {1: [0]}, 1)) + HEADLINE
    lines = M.glossary(cols)
    assert {line.split(":")[0] for line in lines} >= {"Hit@k", "Recall@k", "MAP@10", "MRR@10",
                                                      M.TEXTBOOK_MAP, M.TREC_MAP, "nDCG@10"}
    maps = [line for line in lines if "MAP@10" in line.split(":")[0] or "map_cut" in line]
    assert [line.count("÷ min(gold facts, 10)") for line in maps] == [1, 0, 0]
    assert "÷ min(R, 10)" in maps[1] and "÷ R" in maps[2]
    assert M.column({"MAP@10 (textbook)": 0.5}, M.TEXTBOOK_MAP) == 0.5  # older results read
    tips = M.tooltips(["queries", "Hit@1", "Hit@10", M.TREC_MAP])  # the notebooks' hover text
    assert list(tips) == ["Hit@1", "Hit@10", M.TREC_MAP] and tips["Hit@1"] == M.GLOSSARY["Hit@k"]
