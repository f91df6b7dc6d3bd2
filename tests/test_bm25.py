"""BM25 scores identical to rank_bm25; tokenisation options; top-k ties and padding."""

import numpy as np
import pytest
from rank_bm25 import BM25L, BM25Okapi, BM25Plus

from bmembed_lab.bm25 import BM25Index, tokenize, top_k_indices
from bmembed_lab.config import BM25Config
from bmembed_lab.errors import InputError

CORPUS = ["The cat sat on the mat.", "Dogs and cats, living together!", "the the the",
          "A quick brown fox jumps over the lazy dog", "", "cat cat dog", "Growth hormone (GH) "
          "excess causes acromegaly; GH comes from the pituitary."]
QUERIES = ["the cat", "dog dog", "fox unknownword", "zzz", "GH pituitary acromegaly", ""]


@pytest.mark.parametrize("variant,cls,kw", [("okapi", BM25Okapi, {"epsilon": 0.25}),
                                            ("bm25l", BM25L, {"delta": 0.5}),
                                            ("bm25plus", BM25Plus, {"delta": 1.0})])
def test_scores_equal_rank_bm25(variant, cls, kw):
    ct, qt = tokenize(CORPUS), tokenize(QUERIES)
    ours = BM25Index.build(
        ct, BM25Config(variant=variant, k1=1.2, b=0.75, delta=kw.get("delta", 0.5))
    ).scores(qt)
    ref = cls(ct, k1=1.2, b=0.75, **kw)
    expected = np.array([ref.get_scores(q) for q in qt])
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)


def test_negative_idf_floor_matches():
    # "the" is in more than half of the chunks -> negative idf replaced by eps * mean idf
    ct = tokenize(["the a", "the b", "the c", "d"])
    ours = BM25Index.build(ct).scores([["the"]])[0]
    ref = BM25Okapi(ct, k1=1.2).get_scores(["the"])
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    assert ours[0] != 0


def test_tokenize_reference_and_options():
    assert tokenize(["Hello, World! It's 3pm."]) == [["hello", "world", "it", "s", "3pm"]]
    assert tokenize(["the running dogs"], stopwords=True) == [["running", "dogs"]]
    assert tokenize(["the running dogs"], stem=True) == [["the", "run", "dog"]]


def test_topk_ties_padding_and_drop():
    idx = BM25Index.build(tokenize(["a b", "a b", "c", "a", "d", "e", "f"]))
    top, sc = idx.topk(tokenize(["a b"]), 10, drop_nonpositive=True)
    assert top.shape == (1, 10)
    assert top[0, :3].tolist() == [0, 1, 3]  # equal scores of 0 and 1 keep chunk order
    assert (top[0, 3:] == -1).all() and np.isnan(sc[0, 3:]).all()


def test_top_k_indices_orders_by_score_then_index():
    s = np.array([[0.5, 0.9, 0.5, 0.1, 0.9]])
    assert top_k_indices(s, 3).tolist() == [[1, 4, 0]]
    assert top_k_indices(s, 5).tolist() == [[1, 4, 0, 2, 3]]


def test_bad_parameters():
    with pytest.raises(InputError, match="k1"):
        BM25Index.build([["a"]], BM25Config(k1=-1))
    with pytest.raises(InputError, match="at least one chunk"):
        BM25Index.build([])


def test_streamed_build_from_texts_equals_rank_bm25_and_ranks_in_bounded_blocks(monkeypatch):
    """from_texts tokenises a few texts at a time (a generator, read once) and gives the
    same index as build over all tokens, hence rank_bm25's scores; ranking many queries
    against many chunks holds at most DENSE_BLOCK scores at once and ranks the same."""
    from bmembed_lab import bm25 as bm25_mod

    cfg = BM25Config()
    streamed = BM25Index.from_texts(iter(CORPUS), cfg, batch=2)
    whole = BM25Index.build(tokenize(CORPUS), cfg)
    assert (streamed.weights != whole.weights).nnz == 0 and streamed.vocab == whole.vocab
    ref = BM25Okapi(tokenize(CORPUS), k1=1.2, b=0.75, epsilon=0.25)
    np.testing.assert_allclose(
        streamed.scores(tokenize(QUERIES)),
        [ref.get_scores(q) for q in tokenize(QUERIES)],
        rtol=1e-12,
        atol=1e-12,
    )
    want = whole.topk(tokenize(QUERIES), 5)
    seen = []
    real = BM25Index.scores
    monkeypatch.setattr(BM25Index, "scores", lambda self, q: seen.append(len(q)) or real(self, q))
    monkeypatch.setattr(bm25_mod, "DENSE_BLOCK", 2 * len(CORPUS))  # two queries' scores at most
    got = streamed.topk(tokenize(QUERIES), 5)
    assert max(seen) == 2 and sum(seen) == len(QUERIES)
    assert (got[0] == want[0]).all() and np.allclose(got[1], want[1], equal_nan=True)
    with pytest.raises(InputError, match="at least one chunk"):
        BM25Index.from_texts(iter([]))


@pytest.mark.parametrize("variant", ["okapi", "bm25plus"])
def test_compiled_ranking_equals_the_scipy_one(variant, monkeypatch):
    """Batches of queries rank with the numba kernel: the same indices (ties by chunk order),
    the same scores, padding, exclusions and dropped non-positive scores as the scipy path."""
    from bmembed_lab import bm25 as bm25_mod

    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(40)]
    corpus = [" ".join(rng.choice(words, rng.integers(1, 9))) for _ in range(120)]
    corpus += corpus[:10]  # duplicate chunks: exact ties
    queries = [" ".join(rng.choice(words + ["unseen"], rng.integers(1, 5))) for _ in range(70)] + [
        ""
    ]
    index = BM25Index.from_texts(corpus, BM25Config(variant=variant))
    calls, kernel = [], BM25Index._topk_compiled

    def counted(*a):
        calls.append(1)
        return kernel(*a)
    exclude = np.zeros(len(corpus), dtype=bool)
    exclude[::7] = True
    for k, kw in [(15, {}), (500, {}), (15, {"drop_nonpositive": True}), (30, {"exclude": exclude}),
                  (200, {"exclude": exclude, "drop_nonpositive": True})]:
        monkeypatch.setattr(bm25_mod, "COMPILED_WORK", 0)  # the kernel, however small the work
        monkeypatch.setattr(BM25Index, "_topk_compiled", counted)
        compiled = index.topk(tokenize(queries), k, **kw)
        monkeypatch.setattr(bm25_mod, "COMPILED_FROM", 10**9)
        scipy_ = index.topk(tokenize(queries), k, **kw)
        monkeypatch.undo()
        assert (compiled[0] == scipy_[0]).all(), (k, kw)
        np.testing.assert_allclose(compiled[1], scipy_[1], rtol=1e-12, equal_nan=True)
    assert calls and bm25_mod._compiled_topk() is not None  # the kernel ran, not a fallback
    # the rule that picks it: enough queries and enough (query, chunk) pairs to pay its compile
    assert not bm25_mod.use_kernel(3000, 1757) and not bm25_mod.use_kernel(31, 10**9)
    assert bm25_mod.use_kernel(1000, 100_000)


def test_compiled_ranking_when_the_sampled_threshold_misleads(monkeypatch):
    """The kernel guesses a threshold from every n-th score; when the best chunks all sit where
    the sample looks (here: even positions), fewer than k pass it and it must rank them all."""
    from bmembed_lab import bm25 as bm25_mod

    corpus = [("target " * (1 + i % 5) if i % 2 == 0 and i < 3000 else "") + f"w{i % 50} filler"
              for i in range(8200)]
    index = BM25Index.from_texts(corpus)
    queries = tokenize(["target"] * 40 + ["target w7"] * 40)
    monkeypatch.setattr(bm25_mod, "COMPILED_WORK", 0)
    compiled = index.topk(queries, 1000)
    monkeypatch.setattr(bm25_mod, "COMPILED_FROM", 10**9)
    scipy_ = index.topk(queries, 1000)
    assert (compiled[0] == scipy_[0]).all()
    np.testing.assert_allclose(compiled[1], scipy_[1], rtol=1e-12)
