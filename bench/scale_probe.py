"""In-process measurements for `bench/scale.py`: search latency by stage, approximate against
exact search (the same questions through a view whose segments are searched exactly), and
an index of real-model vectors (SciFact abstracts and windows, from the shared embedding
cache the BEIR harness fills)."""

from __future__ import annotations

import gzip
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from korea_qa.analysis.tokenize import tokenize
from korea_qa.evaluate.beir import doc_text, doc_windows
from korea_qa.evaluate.embed_cache import CachedEmbedder
from korea_qa.index.topk import best_positive
from korea_qa.library.chunk import split_sentences
from korea_qa.models.embed import Embedder
from korea_qa.ranking.rank import RankParams, rank
from korea_qa.records import Article, Filters, Passage
from korea_qa.search import Searcher
from korea_qa.settings import Settings
from korea_qa.store.base import Put
from korea_qa.store.local import LocalStore, StoreOptions
from korea_qa.store.view import LocalView

Encode = Callable[[Sequence[str]], np.ndarray]


def pcts(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {"p50": round(float(np.percentile(ms, 50)), 2),
            "p95": round(float(np.percentile(ms, 95)), 2), "n": len(ms)}


def search_latency(view: LocalView, settings: Settings, questions: list[str],
                   vectors: np.ndarray) -> dict[str, Any]:
    """`Searcher.search_vector` per question (the encoding is not in it), twice over the same
    questions: the first pass reads index pages the run has not touched yet (a server's
    first minutes), the second is the steady state of a server that has answered for a
    while. Then the two retrievers alone, on the same questions."""
    searcher = Searcher(view, lambda q: vectors[0], settings)
    passes: list[list[float]] = [[], []]
    for seconds in passes:
        for q, v in zip(questions, vectors, strict=True):
            started = time.perf_counter()
            searcher.search_vector(q, v)
            seconds.append(time.perf_counter() - started)
    dense, lexical, full = [], [], []
    for q, v in zip(questions, vectors, strict=True):
        retrieval = view.retrieval(v, tokenize(q), Filters())
        started = time.perf_counter()
        retrieval.dense_top(settings.candidates)
        dense.append(time.perf_counter() - started)
        started = time.perf_counter()
        retrieval.lexical_top(settings.candidates)
        lexical.append(time.perf_counter() - started)
        started = time.perf_counter()
        _every_passage_scored(view, retrieval, settings.candidates)
        full.append(time.perf_counter() - started)
    return {"hybrid_first_pass": pcts(passes[0]), "hybrid": pcts(passes[1]),
            "dense_top": pcts(dense), "lexical_top": pcts(lexical),
            "lexical_every_passage": pcts(full)}


def _every_passage_scored(view: LocalView, retrieval: Any, n: int) -> None:
    """The lexical top n as the store found it before: a score for every passage of every
    segment (`Postings.scores`), then the best n of them."""
    for i, segment in enumerate(view.segments):
        scores = segment.postings.scores(retrieval.term_ids, retrieval.weights, view.stats,
                                         view.bm25)
        best_positive(scores, n, view.live[i])


def exact_view(folder: Path, options: StoreOptions) -> LocalView:
    """A view of the same index whose segments are all searched exactly."""
    view = LocalStore(folder, options).view()
    for segment in view.segments:
        segment.ivf = None  # these Segment objects belong to this view's own store
    return view


def agreement(approx: LocalView, exact: LocalView, settings: Settings, questions: list[str],
              vectors: np.ndarray) -> dict[str, Any]:
    """Share of the exact top 10 that the approximate search also returns: hybrid (the
    service's ranking) and dense alone (recall@10 of the vector index)."""
    hybrid, dense, dense200, exact_s = [], [], [], []
    for q, v in zip(questions, vectors, strict=True):
        terms = tokenize(q)
        got = [approx.retrieval(v, terms, Filters()), exact.retrieval(v, terms, Filters())]
        started = time.perf_counter()
        got[1].dense_top(settings.candidates)
        exact_s.append(time.perf_counter() - started)
        ranked = [rank(r, "hybrid", RankParams.of(settings)).refs[:10] for r in got]
        # The two views name rows alike: same segments, same order.
        hybrid.append(len(set(ranked[0].tolist()) & set(ranked[1].tolist())) / 10)
        top = [_best_refs(r.dense_top(10), 10) for r in got]
        dense.append(len(set(top[0]) & set(top[1])) / max(1, len(top[1])))
        top = [_best_refs(r.dense_top(200), 200) for r in got]
        dense200.append(len(set(top[0]) & set(top[1])) / max(1, len(top[1])))
    return {"hybrid_top10_same": round(float(np.mean(hybrid)), 4),
            "dense_recall_at_10": round(float(np.mean(dense)), 4),
            "dense_recall_at_200": round(float(np.mean(dense200)), 4),
            "questions": len(questions), "exact_dense_top": pcts(exact_s)}


def _best_refs(scored: Any, n: int) -> list[int]:
    order = np.argsort(-scored.scores, kind="stable")[:n]
    return [int(r) for r in scored.refs[order]]


# ---------------------------------------------------------------- real-model vectors


def scifact_texts(scifact: Path, window_words: int = 128) -> list[str]:
    """The texts the BEIR harness embeds: each abstract whole, then its later windows."""
    texts = []
    with gzip.open(scifact / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            title, text = row.get("title") or "", row.get("text") or ""
            texts.append(doc_text(title, text))
            texts.extend(doc_windows(title, text, window_words)[1:])
    return texts


def real_store(folder: Path, options: StoreOptions, texts: list[str], vectors: np.ndarray,
               model: str) -> LocalStore:
    """A store of one passage an article, each text with its cached vector."""
    store = LocalStore.create(folder, {"model": model, "dim": int(vectors.shape[1])}, options)

    def puts() -> Any:
        batch: list[Put] = []
        for i, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
            spans = tuple(split_sentences(text)) or ((0, len(text)),)
            passage = Passage(doc_id=f"sf-{i:06d}", position=0, paragraph=1, start=0,
                              end=len(text), text=text, sentences=spans)
            batch.append(Put(Article(doc_id=f"sf-{i:06d}", title=f"SciFact {i}", text=text),
                             [passage], vector[None, :],
                             np.repeat(vector[None, :], len(spans), axis=0)))
            if len(batch) == 5000:
                yield batch
                batch = []
        yield batch

    store.write_all(puts())
    return store


def real_vectors_section(work: Path, options: StoreOptions, settings: Settings,
                         scifact: Path, embedder: Embedder) -> dict[str, Any]:
    """Approximate against exact search on real-model vectors: every SciFact abstract and
    window, the claims as questions. Vectors come from the embedding cache the BEIR harness
    shares (`make bench-quality`); what is missing is embedded now (minutes, once)."""
    texts = scifact_texts(scifact)
    queries = [json.loads(line)["text"] for line in (scifact / "queries.jsonl").open()]
    cached = CachedEmbedder(embedder, settings.cache_dir)
    vectors = cached.encode(texts, batch_size=settings.embed_batch_size, progress=True)
    qvectors = cached.encode(queries, batch_size=settings.embed_batch_size)
    model = embedder.model_id
    # 12,234 rows: under `ann_min_rows`, so indexed here on purpose, as a large segment is.
    options = replace(options, ann=replace(options.ann, min_rows=1000))
    shutil.rmtree(work / "real-index", ignore_errors=True)  # a kept workdir's earlier run
    store = real_store(work / "real-index", options, texts, vectors, model)
    approx = store.view()
    exact = exact_view(store.folder, options)
    result: dict[str, Any] = dict(agreement(approx, exact, settings, queries, qvectors))
    by_nprobe = {}
    for nprobe in (8, 16, 32, 64, 128, 256):
        approx.ann = replace(approx.ann, nprobe=nprobe)
        by_nprobe[nprobe] = agreement(approx, exact, settings, queries, qvectors)
    result.update(passages=len(texts), segments=len(approx.segments), by_nprobe=by_nprobe,
                  lists=[int(faiss.extract_index_ivf(s.ivf).nlist) for s in approx.segments
                         if s.ivf is not None])
    approx.close()
    exact.close()
    return result


# ---------------------------------------------------------------- answer sentences


def answer_sentences(work: Path, embedder: Any, settings: Settings, corpus: Path,
                     gold: Path) -> dict[str, Any]:
    """Sentence vectors are stored in float16: the answer sentence chosen from them against
    the one chosen from float32 vectors of the same model, for the top 5 passages of every
    gold question over the seed corpus, and how often the first passage's chosen sentence
    holds the gold answer either way."""
    from korea_qa.evaluate.gold import answer_in
    from korea_qa.evaluate.goldfile import load_gold
    from korea_qa.library.lifecycle import Library
    from korea_qa.query.question import analyse

    shutil.rmtree(work / "seed-index", ignore_errors=True)  # a kept workdir's earlier run
    s = settings.model_copy(update={"corpus_dir": corpus, "index_dir": work / "seed-index"})
    library = Library(s, embedder)
    library.rebuild()
    view = library.view()
    searcher = Searcher(view, lambda q: embedder.encode([q])[0], s)
    items = load_gold(gold)
    same = total = ok16 = ok32 = answerable = 0
    for item in items:
        vector = embedder.encode([item.question])[0]
        result = searcher.search_vector(item.question, vector)
        question = analyse(item.question, vector, Filters(), view).question
        for rank_, hit in enumerate(result.hits):
            chosen = _float32_answer(searcher, question, hit.passage, embedder)
            same += chosen.start == hit.answer.start
            total += 1
            if rank_ == 0 and item.answerable:
                answerable += 1
                ok16 += answer_in(hit.answer.text, item)
                ok32 += answer_in(chosen.text, item)
    view.close()
    library.close()
    return {"passages": total, "same_sentence": same, "questions": len(items),
            "answerable": answerable, "answer_in_first_float16": ok16,
            "answer_in_first_float32": ok32}


def _float32_answer(searcher: Searcher, question: Any, passage: Passage,
                    embedder: Any) -> Any:
    """The searcher's reader over float32 sentence vectors instead of the stored float16."""
    from korea_qa.reading.evidence import Evidence

    full = embedder.encode([passage.text[a:b] for a, b in passage.sentences])
    evidence = Evidence(0, passage, full.astype(np.float64) @ question.vector.astype(np.float64),
                        frozenset(question.search_terms))
    return searcher.reader.read(question, [evidence])[0].sentence
