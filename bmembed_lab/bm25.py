"""BM25 over chunks with rank_bm25's semantics, vectorised with scipy.sparse (paper Section 3.2).

In: tokenised chunks and queries. Out: a score matrix or top-k rankings. ``okapi`` reproduces
``rank_bm25.BM25Okapi`` exactly (given the same k1, b and epsilon; idf = ln((N - n + 0.5) / (n +
0.5)), a negative idf replaced by epsilon x the mean idf of the vocabulary, repeated query terms
counted per occurrence, unknown terms scoring 0). ``bm25l`` and ``bm25plus`` reproduce rank_bm25's
BM25L and BM25Plus; BM25Plus's delta adds the same constant to every chunk per known query term,
kept apart from the sparse part. (rank_bm25's own k1 default is 1.5; ours is the paper's 1.2.)
Scores are float64 and differ from rank_bm25 only by summation order.

Tokenisation ``reference``: lowercase, word tokens (``\\w+``), punctuation dropped, no stemming,
no stopwords; stemming (Snowball via PyStemmer, in ``bm25.language``) and stopword removal are
switches, and CJK corpora get bigrams or a segmenter (:mod:`bmembed_lab.tokenizers`).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Iterable

import numpy as np

if TYPE_CHECKING:  # scipy is imported where a matrix is built: opening a notebook needs none
    import scipy.sparse as sp

from .config import BM25Config
from .errors import InputError
from . import tokenizers
from .text import stopwords as english_stopwords, words

DENSE_BLOCK = 1 << 25  # scores held at once when ranking: 32M float64 = 256 MB
COMPILED_FROM = 32  # queries from which topk ranks with the numba kernel (one query: scipy)
# ... and (query, chunk) pairs: below this scipy ranks (about 6 s here), since numba compiles the
# kernel on its first use on a machine (about 15 s) and saves at most those seconds afterwards
# (the demo's 3,000 queries x 1,757 chunks: scipy 0.6 s, the kernel's first call 18.8 s)
COMPILED_WORK = 50_000_000


def use_kernel(n_queries: int, n_docs: int) -> bool:
    """Whether :meth:`BM25Index.topk` ranks with the compiled kernel (else scipy)."""
    return n_queries >= COMPILED_FROM and n_queries * n_docs >= COMPILED_WORK


def tokenize(texts: list[str], stem: bool = False, stopwords: bool = False,
             tokenizer: str = "words", language: str = "english") -> list[list[str]]:
    """Lowercase tokens under ``tokenizer`` (:mod:`bmembed_lab.tokenizers`; ``words`` is the
    reference), optionally stopword-filtered (English) and stemmed (in ``language``)."""
    toks = [words(t) for t in texts] if tokenizer == "words" else \
        [tokenizers.split(t, tokenizer) for t in texts]
    if stopwords:
        stop = english_stopwords()
        toks = [[w for w in t if w not in stop] for t in toks]
    if stem:
        import Stemmer

        stemmer = Stemmer.Stemmer(language)
        toks = [stemmer.stemWords(t) for t in toks]
    return toks


def tokenize_cfg(texts: list[str], cfg: BM25Config) -> list[list[str]]:
    return tokenize(texts, cfg.stem, cfg.stopwords, cfg.tokenizer, cfg.language)


@dataclass
class BM25Index:
    """Per-term weights of every chunk:
    ``score(q, d) = sum_t count_q(t) * (W[d, t] + floor[t])``."""

    vocab: dict[str, int]
    weights: sp.csr_matrix  # (n_chunks, vocab)
    floor: np.ndarray  # (vocab,) constant added to every chunk (bm25l / bm25plus), 0 for okapi
    idf: np.ndarray
    n_docs: int
    _wt: sp.csr_matrix | None = field(default=None, repr=False)  # weights.T as CSR, built once

    @classmethod
    def build(
        cls, corpus_tokens: Iterable[list[str]], cfg: BM25Config | None = None
    ) -> "BM25Index":
        """The index of tokenised chunks, read once from any iterable (a generator keeps only
        one chunk's tokens at a time: see :meth:`from_texts`). Memory: the term counts in
        compact CSR form (int32 term ids, one entry per distinct term of a chunk), never a
        per-token list."""
        cfg = cfg or BM25Config()
        if cfg.k1 < 0 or not 0 <= cfg.b <= 1:
            raise InputError(f"bm25.k1 = {cfg.k1}, bm25.b = {cfg.b}", "config",
                             "use k1 >= 0 and 0 <= b <= 1 (defaults 1.2 and 0.75)")
        import scipy.sparse as sp

        vocab: dict[str, int] = {}
        terms, counts, indptr, lengths = array("i"), array("i"), array("q", [0]), array("q")
        for toks in corpus_tokens:
            ids, cnt = np.unique(np.fromiter((vocab.setdefault(w, len(vocab)) for w in toks),
                                             dtype=np.int32, count=len(toks)), return_counts=True)
            terms.extend(ids.tolist())
            counts.extend(cnt.tolist())
            indptr.append(len(terms))
            lengths.append(len(toks))
        n, v = len(lengths), max(len(vocab), 1)
        if not n:
            raise InputError("BM25 needs at least one chunk", "corpus",
                             "check that the corpus has documents with text")
        tf = sp.csr_matrix(
            (
                np.frombuffer(counts, dtype=np.int32).astype(np.float64),
                np.frombuffer(terms, dtype=np.int32),
                np.frombuffer(indptr, dtype=np.int64),
            ),
            shape=(n, v),
        )
        del terms, counts
        doc_len = np.frombuffer(lengths, dtype=np.int64).astype(np.float64)
        avgdl = doc_len.sum() / n if doc_len.sum() > 0 else 1.0
        df = np.bincount(tf.indices, minlength=v).astype(np.float64)
        k1, b = cfg.k1, cfg.b
        norm = 1 - b + b * doc_len / avgdl  # per chunk
        row_norm = np.repeat(norm, np.diff(tf.indptr))
        f = tf.data
        floor = np.zeros(v)
        if cfg.variant == "okapi":
            idf = np.log(n - df + 0.5) - np.log(df + 0.5)
            if len(vocab):
                idf = np.where(idf < 0, cfg.epsilon * idf.mean(), idf)
            data = f * (k1 + 1) / (f + k1 * row_norm)
        elif cfg.variant == "bm25l":
            idf = np.log(n + 1) - np.log(df + 0.5)
            ctd = f / row_norm
            data = f * (k1 + 1) * (ctd + cfg.delta) / (k1 + ctd + cfg.delta)
        elif cfg.variant == "bm25plus":
            idf = np.log(n + 1) - np.log(df)
            data = f * (k1 + 1) / (k1 * row_norm + f)
            floor = idf * cfg.delta
        else:
            raise InputError(
                f"bm25.variant = {cfg.variant!r}", "config", "use okapi, bm25l or bm25plus"
            )
        w = sp.csr_matrix((data * idf[tf.indices], tf.indices, tf.indptr), shape=(n, v))
        return cls(vocab, w, floor, idf, n, w.T.tocsr())

    @classmethod
    def from_texts(cls, texts: Iterable[str], cfg: BM25Config | None = None, batch: int = 10000
                   ) -> "BM25Index":
        """:meth:`build` over texts tokenised ``batch`` at a time (``cfg``'s tokenisation), so
        the tokens of the whole corpus are never held at once."""
        cfg = cfg or BM25Config()

        def stream():
            it = iter(texts)
            while part := list(islice(it, batch)):
                yield from tokenize_cfg(part, cfg)
        return cls.build(stream(), cfg)

    @property
    def term_major(self) -> sp.csr_matrix:
        """The weights transposed, (vocab, chunks) as CSR, built once: each term's chunks in a
        row, what both the scipy product and the numba kernel read."""
        if self._wt is None:
            self._wt = self.weights.T.tocsr()
        return self._wt

    def query_matrix(self, query_tokens: list[list[str]]) -> sp.csr_matrix:
        """Term counts of each query over the vocabulary (unknown terms dropped)."""
        import scipy.sparse as sp

        rows, cols = [], []
        for i, toks in enumerate(query_tokens):
            for w in toks:
                j = self.vocab.get(w)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
        q = sp.csr_matrix((np.ones(len(rows)), (rows, cols)),
                          shape=(len(query_tokens), self.weights.shape[1]), dtype=np.float64)
        q.sum_duplicates()
        return q

    def scores(self, query_tokens: list[list[str]]) -> np.ndarray:
        """Dense (n_queries, n_chunks) scores."""
        q = self.query_matrix(query_tokens)
        out = (q @ self.term_major).toarray()
        if self.floor.any():
            out += (q @ self.floor)[:, None]
        return out

    def pair_scores(self, query_tokens: list[list[str]], chunk_idx: np.ndarray) -> np.ndarray:
        """Score of query i against chunk ``chunk_idx[i]`` only, (n_queries,)."""
        q = self.query_matrix(query_tokens)
        out = np.asarray(q.multiply(self.weights[np.asarray(chunk_idx)]).sum(1)).ravel()
        if self.floor.any():
            out += q @ self.floor
        return out

    def topk(self, query_tokens: list[list[str]], k: int, batch: int = 256,
             drop_nonpositive: bool = False, exclude: np.ndarray | None = None,
             progress=None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k chunk indices and scores per query, ties broken by chunk order. Rows shorter
        than k (k > corpus, or non-positive scores dropped) are padded with index -1 / score nan.
        ``exclude``: a boolean mask of chunks never ranked (e.g. duplicates);
        ``progress(done, total)`` is called after each batch."""
        k_eff = min(k, self.n_docs)
        kernel = _compiled_topk() if use_kernel(len(query_tokens), self.n_docs) else None
        if kernel is None:
            batch = max(1, min(batch, DENSE_BLOCK // max(self.n_docs, 1)))  # bounded score block
        idx = np.full((len(query_tokens), k), -1, dtype=np.int64)
        val = np.full((len(query_tokens), k), np.nan, dtype=np.float64)
        for s in range(0, len(query_tokens), batch if kernel is None else 4096):
            if kernel is not None:
                top, ts = self._topk_compiled(kernel, query_tokens[s:s + 4096], k_eff, exclude)
            else:
                sc = self.scores(query_tokens[s:s + batch])
                if exclude is not None:
                    sc[:, exclude] = -np.inf
                top = top_k_indices(sc, k_eff)
                ts = np.take_along_axis(sc, top, axis=1)
            if drop_nonpositive:
                keep = ts > 0
                top = np.where(keep, top, -1)
                ts = np.where(keep, ts, np.nan)
            idx[s:s + len(top), :k_eff] = top
            val[s:s + len(top), :k_eff] = ts
            if progress:
                progress(s + len(top), len(query_tokens))
        if exclude is not None and not drop_nonpositive:
            bad = ~np.isfinite(val)
            idx[bad], val[bad] = -1, np.nan
        return idx, val

    def _topk_compiled(
        self, kernel, query_tokens, k: int, exclude
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k of a batch of queries by the numba kernel (:mod:`.bm25_numba`)."""
        wt, q = self.term_major, self.query_matrix(query_tokens)
        offsets = q @ self.floor if self.floor.any() else np.zeros(q.shape[0])
        excluded = np.flatnonzero(exclude) if exclude is not None else np.zeros(0, dtype=np.int64)
        return kernel(wt.indptr.astype(np.int64), wt.indices, wt.data, q.indptr.astype(np.int64),
                      q.indices, q.data, offsets, excluded, self.n_docs, k)


def _compiled_topk():
    """The numba top-k kernel, or None where numba cannot be imported (scipy then ranks)."""
    try:
        from .bm25_numba import topk
    except ImportError:
        return None
    return topk


def top_k_indices(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores per row, sorted by score desc then index asc."""
    n = scores.shape[1]
    k = min(k, n)
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(scores, part, 1)
        out = np.take_along_axis(part, np.lexsort((part, -vals), axis=1), 1)
        # rows where scores tied with the k-th one fall outside the partition: resolve by index
        kth = vals.min(axis=1, keepdims=True)
        for i in np.flatnonzero((scores >= kth).sum(axis=1) > k):
            cand = np.flatnonzero(scores[i] >= kth[i])
            out[i] = cand[np.lexsort((cand, -scores[i, cand]))[:k]]
        return out
    order = np.lexsort((np.broadcast_to(np.arange(n), scores.shape), -scores), axis=1)
    return order[:, :k]
