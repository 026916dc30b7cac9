"""Data and scoring for `ranking_steps.py`: the gold set's and SciFact's cosines, sentence
cosines and texts as arrays, ranked with numpy the way `korea_qa.search.rank` ranks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from korea_qa.analysis.tokenize import tokenize
from korea_qa.evaluate import metrics
from korea_qa.evaluate.beir import build_retrievers, doc_text, load_beir
from korea_qa.evaluate.embed_cache import CachedEmbedder
from korea_qa.evaluate.gold import is_hit, load_gold, open_searcher
from korea_qa.index.lexical import Bm25Params, CollectionStats, Forward, Postings, TextIndex
from korea_qa.library.chunk import split_sentences
from korea_qa.models.embed import Embedder
from korea_qa.ranking import fusion
from korea_qa.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
Tokenize = Callable[[str], list[str]]
Result = dict[str, Any]
Scorer = Callable[[int, np.ndarray], np.ndarray]  # (question, candidate rows) -> scores


# ---------------------------------------------------------------- data


@dataclass
class Data:
    """One collection's questions against its passages (gold) or documents (SciFact)."""

    name: str
    dense: np.ndarray  # (questions, rows): passage cosine (SciFact: best window)
    sentence: np.ndarray  # (questions, rows): best sentence cosine
    texts: list[str]  # what BM25 reads
    questions: list[str]
    relevant: list[dict[str, int]]  # row index (as str) -> grade
    query_vectors: np.ndarray
    row_vectors: np.ndarray  # one vector per row (SciFact: the first window)
    parts: list[str]  # gold: train/test per question; SciFact: one split
    sentences: list[list[str]]
    # Cosines of a new query vector: (rows' dense scores, every sentence's cosine).
    rescore: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    sentence_starts: np.ndarray  # first sentence of each row, in rescore's sentence order
    keys: np.ndarray  # what the service breaks ties by (passage key, document id)
    neighbours: np.ndarray | None = None  # (rows, 2): previous and next row, -1 for none

    def lexical(self, params: Bm25Params, tok: Tokenize | None = None) -> np.ndarray:
        if tok is None:
            index: TextIndex = TextIndex(self.texts, params)
            tok = tokenize
        else:
            index = _RawIndex([tok(t) for t in self.texts], params)
        return np.stack([index.scores(tok(q)) for q in self.questions]).astype(np.float64)


class _RawIndex(TextIndex):
    """BM25 over texts tokenized elsewhere (the tokenizer variants)."""

    def __init__(self, tokens: list[list[str]], params: Bm25Params) -> None:
        self.vocab: dict[str, int] = {}
        ids = [[self.vocab.setdefault(t, len(self.vocab)) for t in row] for row in tokens]
        forward = Forward.from_token_ids(ids)
        self.postings = Postings.invert(forward)
        self.df = np.bincount(forward.terms, minlength=len(self.vocab))
        self.stats = CollectionStats(len(tokens), int(forward.counts.sum()))
        self.params = params


def gold_data(settings: Settings, embedder: Embedder, *, titled: bool = False) -> Data:
    searcher = open_searcher(settings, embedder=embedder)
    view = searcher.view
    passages = list(view.iter_passages())
    refs = np.concatenate([np.flatnonzero(m) + view.bases[i] for i, m in enumerate(view.live)])
    segs, rows = view.locate(refs)
    vectors = np.stack([view.segments[s].data.vectors[r] for s, r in zip(segs, rows, strict=True)])
    if titled:
        titles = {p.doc_id: view.article(p.doc_id).article.title for p in passages}
        vectors = embedder.encode([doc_text(titles[p.doc_id], p.text) for p in passages])
    items = [i for i in load_gold(ROOT / "eval" / "gold.jsonl") if i.answerable]
    queries = embedder.encode([i.question for i in items]).astype(np.float64)
    per_row = [np.asarray(view.sentence_vectors(int(r)), dtype=np.float64) for r in refs]
    sentence_vectors = np.concatenate(per_row)
    starts = np.cumsum([0] + [len(v) for v in per_row[:-1]])
    passage_vectors = vectors.astype(np.float64)

    def rescore(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return passage_vectors @ q, sentence_vectors @ q

    where = {(p.doc_id, p.position): j for j, p in enumerate(passages)}
    neighbours = np.array([[where.get((p.doc_id, p.position + d), -1) for d in (-1, 1)]
                           for p in passages])
    return Data("gold", queries @ passage_vectors.T,
                np.stack([np.maximum.reduceat(sentence_vectors @ q, starts) for q in queries]),
                [p.text for p in passages], [i.question for i in items],
                [{str(j): 1 for j, p in enumerate(passages) if is_hit(p.text, i)} for i in items],
                queries, passage_vectors, [str(i.split) for i in items],
                [[p.text[a:b] for a, b in p.sentences] for p in passages], rescore, starts,
                np.array([p.key for p in passages]), neighbours)


def scifact_data(folder: Path, split: str, embedder: CachedEmbedder,
                 settings: Settings) -> tuple[Data, Any]:
    beir = load_beir(folder, split)
    found = build_retrievers(beir, embedder, settings, window_words=128, k1=1.2, b=0.75,
                             progress=False, sentences=True)
    assert found.sentences is not None
    queries = found.query_vectors
    index = {d: str(j) for j, d in enumerate(beir.doc_ids)}
    sentences = found.sentences

    def rescore(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q32 = q.astype(np.float32)
        return (found.vectors.all_scores(q32).astype(np.float64),
                (sentences.vectors @ q32).astype(np.float64))

    data = Data(
        f"scifact-{split}",
        np.stack([found.vectors.all_scores(q) for q in queries]).astype(np.float64),
        np.stack([sentences.all_scores(q) for q in queries]).astype(np.float64),
        [doc_text(t, x) for t, x in zip(beir.titles, beir.texts, strict=True)],
        [beir.queries[q] for q in found.query_ids],
        [{index[d]: g for d, g in beir.qrels[q].items() if d in index} for q in found.query_ids],
        queries.astype(np.float64),
        found.vectors.vectors[found.vectors._starts].astype(np.float64), [split] * len(queries),
        [[x[a:b] for a, b in split_sentences(x)] or [x] for x in beir.texts], rescore,
        sentences._starts, np.array(beir.doc_ids))
    return data, (beir, found)


# ---------------------------------------------------------------- ranking and scoring


def candidates(data: Data, lexical: np.ndarray, i: int, n: int = 200) -> np.ndarray:
    if data.name == "gold":
        return np.arange(data.dense.shape[1])
    dense = np.argpartition(-data.dense[i], n)[:n]
    positive = np.flatnonzero(lexical[i] > 0)
    if len(positive) > n:
        positive = positive[np.argpartition(-lexical[i][positive], n)[:n]]
    return np.union1d(dense, positive)


def measure(data: Data, lexical: np.ndarray, scorer: Scorer) -> dict[str, Result]:
    """Per part: hit@1 and hit@5 (%) and MRR@10, or nDCG@10 for SciFact."""
    ranked: dict[str, list[tuple[list[str], dict[str, int]]]] = {}
    for i in range(len(data.questions)):
        rows = candidates(data, lexical, i)
        scores = scorer(i, rows)
        keep = np.isfinite(scores)  # lexical mode lists only rows sharing a term
        rows, scores = rows[keep], scores[keep]
        order = rows[np.lexsort((data.keys[rows], -scores))]  # best first; ties by key
        ranked.setdefault(data.parts[i], []).append(([str(r) for r in order[:10]],
                                                      data.relevant[i]))
    out = {}
    for part, lists in ranked.items():
        first = [metrics.first_relevant_rank(r, q, 10) for r, q in lists]
        out[part] = {
            "hit1": 100 * float(np.mean([f == 1 for f in first])),
            "hit5": 100 * float(np.mean([f is not None and f <= 5 for f in first])),
            "mrr": metrics.mean(metrics.reciprocal_rank(r, q, 10) for r, q in lists),
            "ndcg": metrics.mean(metrics.ndcg_at_k(r, q, 10) for r, q in lists)}
    return out


def evidence(data: Data, i: int, rows: np.ndarray, weight: float) -> np.ndarray:
    return (1 - weight) * data.dense[i][rows] + weight * data.sentence[i][rows]


def convex(data: Data, lexical: np.ndarray, a: float = 0.5, w: float = 0.7) -> Scorer:
    return lambda i, rows: fusion.convex(evidence(data, i, rows, a), lexical[i][rows], weight=w)


