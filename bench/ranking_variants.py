"""The steps of `ranking_steps.py` that the service does not have, over `ranking_data`."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
from ranking_data import Data, Scorer, Tokenize, candidates, convex, evidence

from korea_qa.analysis.tokenize import STOPWORDS, tokenize
from korea_qa.index.lexical import Bm25Params, TextIndex, idf
from korea_qa.ranking import fusion


def rm3(data: Data, params: Bm25Params, first: Scorer, lexical: np.ndarray, *, docs: int = 3,
        terms: int = 30, mix: float = 0.5) -> np.ndarray:
    """RM3 (Abdul-Jaleel et al., UMass at TREC 2004): the query's terms mixed with the
    `terms` most likely terms of the first ranking's top `docs`, each weighted by softmax of
    its fused score; BM25 with weighted query terms."""
    index = TextIndex(data.texts, params)
    rows_terms = [Counter(index.vocab[t] for t in tokenize(x) if t in index.vocab)
                  for x in data.texts]
    out = []
    for i, question in enumerate(data.questions):
        rows = candidates(data, lexical, i)
        scores = first(i, rows)
        top = rows[np.argsort(-scores, kind="stable")[:docs]]
        weights = np.exp(10 * (np.sort(scores)[::-1][:docs] - scores.max()))
        weights /= weights.sum()
        model: dict[int, float] = defaultdict(float)
        for row, weight in zip(top, weights, strict=True):
            length = sum(rows_terms[row].values()) or 1
            for term, count in rows_terms[row].items():
                model[term] += weight * count / length
        original = Counter(index.vocab[t] for t in tokenize(question) if t in index.vocab)
        query: dict[int, float] = defaultdict(float, {
            t: (1 - mix) * c / max(sum(original.values()), 1) for t, c in original.items()})
        best = sorted(model.items(), key=lambda item: -item[1])[:terms]
        total = sum(v for _, v in best) or 1.0
        for term, value in best:
            query[term] += mix * value / total
        ids = list(query)
        weights_ = np.array([query[t] for t in ids]) * idf(index.df[ids], index.stats.passages)
        out.append(index.postings.scores(ids, weights_, index.stats, params))
    return np.array(out, dtype=np.float64)


def neighbour_scorer(data: Data, lexical: np.ndarray, beta: float) -> Scorer:
    assert data.neighbours is not None
    neighbours = data.neighbours

    def score(i: int, rows: np.ndarray) -> np.ndarray:
        fused = convex(data, lexical)(i, rows)
        around = np.where(neighbours >= 0, fused[np.maximum(neighbours, 0)], -np.inf).max(1)
        return fused + beta * np.where(np.isfinite(around), around, fused)
    return score


def regularised(data: Data, lexical: np.ndarray, beta: float = 0.1) -> Scorer:
    """Score regularisation (Diaz, CIKM 2005): each candidate borrows from its most similar
    candidate (cosine of their vectors)."""
    def score(i: int, rows: np.ndarray) -> np.ndarray:
        fused = convex(data, lexical)(i, rows)
        similar = data.row_vectors[rows] @ data.row_vectors[rows].T
        np.fill_diagonal(similar, -np.inf)
        return fused + beta * fused[np.argmax(similar, 1)]
    return score


def sentence_bm25(data: Data, params: Bm25Params) -> np.ndarray:
    owners = np.repeat(np.arange(len(data.sentences)), [len(s) for s in data.sentences])
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    index = TextIndex([s for row in data.sentences for s in row], params)
    return np.stack([np.maximum.reduceat(index.scores(tokenize(q)), starts)
                     for q in data.questions]).astype(np.float64)


def theoretical_bound(data: Data, lexical: np.ndarray, a: float, w: float) -> Scorer:
    """Cosine as it is, BM25 over its largest possible value, the sum of the query tokens'
    idf (Lucene's tf part tends to 1): min-max with theoretical bounds (Bruch et al., TOIS
    2023, "An Analysis of Fusion Functions for Hybrid Retrieval")."""
    index = TextIndex(data.texts)
    bounds = []
    for question in data.questions:
        ids = [index.vocab[t] for t in tokenize(question) if t in index.vocab]
        bounds.append(float(idf(index.df[ids], index.stats.passages).sum()) if ids else 1.0)
    return lambda i, rows: (w * evidence(data, i, rows, a)
                            + (1 - w) * lexical[i][rows] / bounds[i])


def tokenizer(*, stopwords: bool, one_letter: bool) -> Tokenize:
    import re
    import unicodedata

    import Stemmer

    words = re.compile(r"(?u)\b\w+\b" if one_letter else r"(?u)\b\w\w+\b")
    stemmer = Stemmer.Stemmer("english")

    def tok(text: str) -> list[str]:
        found = words.findall(unicodedata.normalize("NFKC", text).lower())
        return list(stemmer.stemWords([w for w in found if stopwords or w not in STOPWORDS]))
    return tok


def rocchio(data: Data, lexical: np.ndarray, beta: float = 0.2, docs: int = 1) -> Scorer:
    """Rocchio on the query vector (dense pseudo-relevance feedback; Li et al., TOIS 2023,
    "Pseudo Relevance Feedback with Deep Language Models and Dense Retrievers"): the query
    plus `beta` times the mean vector of the first ranking's top `docs`, then every cosine
    again."""
    first = convex(data, lexical)

    def score(i: int, rows: np.ndarray) -> np.ndarray:
        top = rows[np.argsort(-first(i, rows), kind="stable")[:docs]]
        query = data.query_vectors[i] + beta * data.row_vectors[top].mean(0)
        dense, sentences = data.rescore(query / np.linalg.norm(query))
        best = np.maximum.reduceat(sentences, data.sentence_starts)
        return fusion.convex(0.5 * dense[rows] + 0.5 * best[rows], lexical[i][rows],
                             weight=0.7)
    return score


def best_two(data: Data) -> np.ndarray:
    """Each row's mean of its two best sentence cosines (its best, when it has one)."""
    out = []
    for q in data.query_vectors:
        cosines = data.rescore(q)[1]
        ends = np.r_[data.sentence_starts[1:], len(cosines)]
        out.append([np.sort(cosines[a:b])[-2:].mean() for a, b in
                    zip(data.sentence_starts, ends, strict=True)])
    return np.array(out, dtype=np.float64)


def comb_mnz(data: Data, lexical: np.ndarray, depth: int = 100) -> Scorer:
    """CombMNZ (Fox & Shaw, TREC-2 1994): the fused score times the number of retrievers
    whose top `depth` hold the row."""
    def score(i: int, rows: np.ndarray) -> np.ndarray:
        dense_top = set(np.argpartition(-data.dense[i], depth)[:depth].tolist())
        lexical_top = set(np.argpartition(-lexical[i], depth)[:depth].tolist())
        count = np.array([(r in dense_top) + (r in lexical_top) for r in rows.tolist()])
        return convex(data, lexical)(i, rows) * count
    return score
