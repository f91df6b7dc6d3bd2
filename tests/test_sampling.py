"""BM25 ranking of synthetic queries (rank_bm25 parity) and rank-partition list sampling,
including every degenerate case."""

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from bmembed_lab.bm25 import BM25Index, tokenize
from bmembed_lab.cli import main
from bmembed_lab.config import BM25Config, SamplingConfig
from bmembed_lab.errors import InputError
from bmembed_lab.partitions import partition_boundaries, rank_partitions
from bmembed_lab.pipeline import Pipeline
from bmembed_lab.sampling import Ranking, duplicate_mask, rank_for_training, sample_lists

from .conftest import tiny_config, tiny_config_file

rng = np.random.default_rng(0)
VOCAB = [f"w{i}" for i in range(300)]
CHUNKS = [" ".join(rng.choice(VOCAB, size=rng.integers(5, 60), p=None)) for _ in range(400)]
QUERIES = [" ".join(rng.choice(VOCAB, size=rng.integers(1, 12))) for _ in range(60)]


def test_ranking_scores_identical_to_rank_bm25():
    toks = tokenize(CHUNKS)
    cfg = BM25Config()
    ref = BM25Okapi(toks, k1=cfg.k1, b=cfg.b, epsilon=cfg.epsilon)
    r = rank_for_training(BM25Index.build(toks, cfg), [f"q{i}" for i in range(len(QUERIES))],
                          QUERIES, cfg, k=1000)  # k above the corpus size (400)
    assert r.indices.shape == (60, 1000) and (r.indices[:, 400:] == -1).all()
    worst = 0.0
    for row, q in enumerate(QUERIES):
        s = ref.get_scores(tokenize([q])[0])
        kept = r.indices[row][r.indices[row] >= 0]
        assert len(kept) == (s > 0).sum()  # every chunk sharing a word, none other
        got = r.scores[row, :len(kept)]
        worst = max(worst, float(np.max(np.abs(got - s[kept]) / np.abs(s[kept]))))
        assert np.all(np.diff(got) <= 1e-12)  # sorted by score
        assert np.allclose(np.sort(s)[::-1][:len(kept)], got, rtol=1e-12)  # the true top scores
    assert worst <= 1e-6


def ranking(n_cands: list[int], k: int = 50) -> Ranking:
    idx = np.full((len(n_cands), k), -1)
    sc = np.full((len(n_cands), k), np.nan)
    for i, n in enumerate(n_cands):
        idx[i, :n] = np.arange(n) + 1000 * i
        sc[i, :n] = np.linspace(20, 1, n) if n > 1 else 5.0
    return Ranking(
        [f"q{i}" for i in range(len(n_cands))], [f"text {i}" for i in range(len(n_cands))], idx, sc
    )


def test_one_chunk_per_interval_seeded_and_in_order():
    cfg = SamplingConfig(k=50, m=5, lists_per_query=4, seed=1)
    lists = sample_lists(ranking([50, 50]), cfg)
    parts = rank_partitions(50, 5)
    assert lists.chunk_indices.shape == (8, 5) and len(lists) == 8
    for r in lists.ranks:
        assert all(a <= x < b for x, (a, b) in zip(r, parts))
    assert np.array_equal(lists.chunk_indices[:4] % 1000, lists.ranks[:4])
    assert (np.diff(lists.scores, axis=1) < 0).all()  # raw BM25 scores, descending
    assert lists.query_ids == ["q0"] * 4 + ["q1"] * 4
    again = sample_lists(ranking([50, 50]), cfg)
    assert np.array_equal(again.ranks, lists.ranks)
    other = sample_lists(ranking([50, 50]), SamplingConfig(k=50, m=5, lists_per_query=4, seed=2))
    assert not np.array_equal(other.ranks, lists.ranks)
    # a query's lists do not depend on the other queries
    alone = sample_lists(ranking([50]), cfg)
    assert np.array_equal(alone.ranks, lists.ranks[:4])
    df = lists.frame()
    assert len(df) == 40 and list(df.columns) == ["list", "query_id", "query", "item", "rank",
                                                  "chunk_index", "chunk_id", "bm25"]


def test_all_ranks_drawn_over_many_lists():
    lists = sample_lists(ranking([30]), SamplingConfig(k=30, m=4, lists_per_query=2000))
    parts = rank_partitions(30, 4)
    for j, (a, b) in enumerate(parts):
        assert set(lists.ranks[:, j]) == set(range(a, b))  # uniform over the whole interval


def test_degenerate_cases():
    texts = ["alpha beta", "beta gamma", "gamma delta", "alpha  beta", "delta eta", "eta theta"]
    idx = BM25Index.build(tokenize(texts))  # chunks 0 and 3 identical up to spacing
    # "beta" is in 3 of 6 chunks: idf ln(3.5/3.5) = 0, so every score is 0 (rank_bm25 agrees)
    r = rank_for_training(idx, ["empty", "punct", "unknown", "zero-idf", "ok"],
                          ["", "?!", "zeta", "beta", "alpha gamma"], BM25Config(), k=10,
                          exclude=duplicate_mask(texts))
    assert r.skipped == {
        "empty query": ["empty", "punct"],
        "no BM25 match": ["unknown", "zero-idf"],
    }
    assert r.query_ids == ["ok"]
    assert set(r.indices[0][r.indices[0] >= 0]) == {0, 1, 2}  # chunk 3 duplicates chunk 0
    # fewer candidates than k: the partition is laid over the candidates
    lists = sample_lists(ranking([50, 12, 4]), SamplingConfig(k=50, m=4))
    assert lists.query_ids == ["q0", "q1"]
    assert lists.skipped == {"too few candidates": ["q2"]}  # 4 ranks < first 3 + 3 more
    assert lists.n_candidates.tolist() == [50, 12]
    parts12 = rank_partitions(12, 4)
    assert all(a <= x < b for x, (a, b) in zip(lists.ranks[1], parts12))
    assert lists.counts["queries with fewer than k candidates"] == 2
    with pytest.raises(InputError, match="no training list"):
        sample_lists(ranking([4, 2]), SamplingConfig(k=50, m=4))
    with pytest.raises(InputError, match="cannot give lists"):  # m > ranks, whatever the queries
        sample_lists(ranking([50]), SamplingConfig(k=5, m=9))
    with pytest.raises(InputError, match="lists_per_query"):
        sample_lists(ranking([50]), SamplingConfig(lists_per_query=0))


def test_partition_boundaries_for_plots():
    assert partition_boundaries(20, 4, "paper-illustration").tolist() == [0, 2, 6, 12, 20]
    b = partition_boundaries(1000, 9)
    assert b[0] == 0 and b[1] == 3 and b[-1] == 1000 and len(b) == 10


def test_pipeline_and_cli_queries_lists(tmp_path, beir_dir, tiny_model_dir, capsys):
    cfg = tiny_config(tmp_path, beir_dir, tiny_model_dir, sampling__m=3, sampling__k=20,
                      queries__max_events_per_doc=3, sampling__lists_per_query=2)
    pipe = Pipeline(cfg)
    lists, key = pipe.training_lists()
    qs, _ = pipe.synthetic_queries()
    assert len(lists) == 2 * lists.counts["queries with lists"] > 0
    chunks, _ = pipe.chunks()
    ids = {c.chunk_id for c in chunks}
    assert all(c in ids for row in lists.chunk_ids for c in row)
    assert set(lists.query_ids) <= {q.query_id for q in qs.queries}
    again, key2 = Pipeline(cfg).training_lists()
    assert key2 == key and np.array_equal(again.chunk_indices, lists.chunk_indices)
    cfg_file = tiny_config_file(tmp_path, beir_dir, tiny_model_dir, eval__bootstrap=10000,
                                eval__depth=100, eval__dev_fraction=0.2, sampling__m=3,
                                sampling__k=20, sampling__lists_per_query=2,
                                queries__max_events_per_doc=3)
    out = tmp_path / "lists.parquet"
    assert main(["lists", "-c", str(cfg_file), "-q", "--show", "1", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert key in text and "rank" in text
    import pandas as pd

    assert len(pd.read_parquet(out)) == lists.chunk_indices.size
    # the JSONL other trainers read: FlagEmbedding's {query, pos, neg} (+ BM25 scores for a
    # distillation loss), loaded as sentence-transformers would, through `datasets`
    jl = tmp_path / "lists.jsonl"
    assert main(["lists", "-c", str(cfg_file), "-q", "--show", "0", "--out", str(jl)]) == 0
    import datasets

    rows = datasets.load_dataset("json", data_files=str(jl), split="train")
    assert len(rows) == len(lists) and {"query", "pos", "neg", "pos_scores",
                                        "neg_scores"} <= set(rows.column_names)
    by_id = {c.chunk_id: c.text for c in chunks}
    first = rows[0]
    assert first["query"] == lists.query_texts[0]
    assert first["pos"] + first["neg"] == [by_id[c] for c in lists.chunk_ids[0]]
    assert first["pos_scores"] + first["neg_scores"] == pytest.approx(list(lists.scores[0]))
    qout = tmp_path / "q.jsonl"
    assert main(["queries", "-c", str(cfg_file), "-q", "--out", str(qout), "--report",
                 str(tmp_path / "r.json")]) == 0
    assert len(qout.read_text().splitlines()) == len(qs.queries)
    assert main(["queries", "-c", str(cfg_file), "-q", "--dry-run", "--set", "queries.backend=llm",
                 "--set", "llm.base_url=http://127.0.0.1:9/v1"]) == 0
    assert '"extraction calls"' in capsys.readouterr().out
    assert main(["lists", "-c", str(cfg_file), "-q", "--set", "sampling.m=40"]) == 2
    assert "Fix:" in capsys.readouterr().err


def test_target_warning_thresholds():
    from bmembed_lab.partitions import target_warning

    assert "one-hot" in target_warning(np.array([1.0, 0.0, 0.0, 0.0]))
    assert "uniform" in target_warning(np.full(4, 0.25))
    assert target_warning(np.array([0.5, 0.3, 0.15, 0.05])) is None
    # the demo's default query: entropy 0.27 of ln 9 (0.12, above 0.1) but 93% on the top item
    from bmembed_lab.workbench import peaked_warning
    peaked = np.array([0.933, 0.060, 0.004, 0.002, 0.001, 0, 0, 0, 0])
    assert target_warning(peaked) is None and "93%" in peaked_warning(peaked)
    assert peaked_warning(np.array([0.5, 0.3, 0.15, 0.05])) is None
