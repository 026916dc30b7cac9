"""Search: rank passages for a question, pick each one's answer sentence, decide abstention.

The core knows nothing of HTTP, the CLI or how passages are stored: it takes a question and
a store view (`korea_qa.store.base.StoreView`) and returns records. Questions and search
parameters are validated here, once; the edges translate `InvalidQuery` into their errors.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import NamedTuple

import numpy as np

from korea_qa import answerability, explain, fusion, rerank
from korea_qa.answer import best_sentence
from korea_qa.article_file import DOC_ID_RE, DOC_ID_RULE, check_date
from korea_qa.errors import InvalidQuery
from korea_qa.records import Filters, Hit, SearchResult
from korea_qa.settings import MODES, Settings
from korea_qa.store.base import Retrieval, Scored, StoreView, open_retrieval
from korea_qa.tokenize import tokenize
from korea_qa.topk import order_by_score

Encode = Callable[[str], np.ndarray]


def check_question(q: str, limit: int) -> str:
    """The question trimmed, or an InvalidQuery that says what is wrong with it."""
    if len(q) > limit:
        raise InvalidQuery(f"the question is {len(q)} characters; at most {limit}", field="q",
                           detail=f"longer than {limit} characters")
    question = q.strip()
    if not question:
        raise InvalidQuery("the question is empty", field="q", detail="empty")
    bad = next((c for c in question if unicodedata.category(c) in ("Cc", "Cs")
                and c not in "\t\n\r"), None)
    if bad is not None:
        raise InvalidQuery(f"contains the control character U+{ord(bad):04X}", field="q",
                           detail="control character")
    return question


def check_params(k: int, mode: str, settings: Settings) -> None:
    if mode not in MODES:
        raise InvalidQuery(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}",
                           field="mode", detail="unknown mode")
    if not 1 <= k <= settings.max_k:
        raise InvalidQuery(f"must be between 1 and {settings.max_k}", field="k",
                           detail=f"out of range 1..{settings.max_k}")


def make_filters(*, doc_ids: Sequence[str] = (), source: str | None = None,
                 author: str | None = None, published_from: str | None = None,
                 published_to: str | None = None) -> Filters:
    """Search filters, checked: an id or a date that cannot exist is an InvalidQuery; a
    well-formed value that matches nothing (an unknown source, a range with its end before
    its start) is not an error: it finds nothing."""
    for doc_id in doc_ids:
        if not DOC_ID_RE.match(doc_id):
            raise InvalidQuery(f"{doc_id[:90]!r} is not a document id ({DOC_ID_RULE})",
                               field="doc_id", detail="malformed document id")
    for name, value in (("published_from", published_from), ("published_to", published_to)):
        if value is not None:
            try:
                check_date(value)
            except ValueError:
                raise InvalidQuery(f"{value[:40]!r} is not an ISO date (YYYY-MM-DD)",
                                   field=name, detail="not an ISO date") from None
    return Filters(doc_ids=tuple(dict.fromkeys(doc_ids)), source=source or None,
                   author=author or None, published_from=published_from,
                   published_to=published_to)


def is_answerable(confidence: float, threshold: float) -> bool:
    """The corpus answers when its best passage is at least this close to the question."""
    return confidence >= threshold


class Ranked(NamedTuple):
    """Candidates best first (refs of the view), with their mode score, cosine and BM25."""

    refs: np.ndarray
    scores: np.ndarray
    dense: np.ndarray
    lexical: np.ndarray


class Candidates:
    """Each retriever's top n for one question, asked of the store at most once: ranking and
    `explain` both read them, and at a million passages each costs milliseconds."""

    def __init__(self, retrieval: Retrieval, n: int) -> None:
        self.retrieval = retrieval
        self.n = n

    @cached_property
    def dense(self) -> Scored:
        return self.retrieval.dense_top(self.n)

    @cached_property
    def lexical(self) -> Scored:
        return self.retrieval.lexical_top(self.n)


def rank(retrieval: Retrieval, mode: str, *, settings: Settings,
         candidates: Candidates | None = None) -> Ranked:
    """Gather candidates (top `settings.candidates` of each retriever) and order them by mode.

    The one ranking path: the service's `Searcher` and the BEIR benchmark both use it.
    """
    top = candidates or Candidates(retrieval, settings.candidates)
    if mode == "dense":
        refs = top.dense.refs
    elif mode == "lexical":
        refs = top.lexical.refs
    else:
        dense_refs, lexical_refs = top.dense.refs, top.lexical.refs
        refs = np.concatenate([dense_refs, lexical_refs[~np.isin(lexical_refs, dense_refs)]])
    # No query term in the corpus: lexical mode shows the dense order rather than nothing.
    fallback = mode == "lexical" and not len(refs)
    if fallback:
        refs = top.dense.refs
    dense = retrieval.dense_scores(refs)
    lexical = retrieval.lexical_scores(refs)
    if mode == "lexical":
        scores = lexical
    else:
        evidence = rerank.dense_evidence(retrieval, refs, dense, settings)
        scores = evidence if mode == "dense" else fusion.fuse(
            evidence, lexical, method=settings.fusion, rrf_k=settings.rrf_k,
            dense_weight=settings.dense_weight)
    order = ordered(dense if fallback else scores, refs, retrieval)
    return Ranked(refs[order], scores[order], dense[order], lexical[order])


def ordered(scores: np.ndarray, refs: np.ndarray, retrieval: Retrieval) -> np.ndarray:
    """Best score first; equal scores by passage key, so the order never depends on where
    passages are stored (an index grown article by article ranks as a fresh build)."""
    return order_by_score(scores, refs, retrieval.keys)


class Searcher:
    def __init__(self, view: StoreView, encode: Encode, settings: Settings) -> None:
        self.view = view
        self.encode = encode
        self.settings = settings
        self.decision = answerability.decision_for(settings.model_id(),
                                                   settings.answerability_file)

    def search(self, query: str, *, k: int | None = None, mode: str | None = None,
               filters: Filters | None = None) -> SearchResult:
        started = time.perf_counter()
        question = check_question(query, self.settings.max_query_chars)
        return self.search_vector(question, self.encode(question), k=k, mode=mode,
                                  filters=filters, started=started)

    def search_vector(
        self,
        query: str,
        query_vector: np.ndarray,
        *,
        k: int | None = None,
        mode: str | None = None,
        filters: Filters | None = None,
        started: float | None = None,
    ) -> SearchResult:
        """Search with a query vector computed elsewhere (batched, cached)."""
        started = time.perf_counter() if started is None else started
        k = self.settings.default_k if k is None else k
        mode = self.settings.default_mode if mode is None else mode
        check_params(k, mode, self.settings)
        terms = tokenize(query)
        retrieval = open_retrieval(self.view, query_vector, query, terms, filters or Filters())
        candidates = Candidates(retrieval, self.settings.candidates)
        refs, scores, dense, lexical = rank(retrieval, mode, settings=self.settings,
                                            candidates=candidates)
        confidence = float(dense.max()) if len(dense) else 0.0
        query_terms = frozenset(terms)
        asked = explain.question_terms(query, self.view)
        tops = explain.TopLists.gather(candidates.dense, candidates.lexical, retrieval)
        passages = self.view.passages(refs[:k])
        hits = []
        for rank_, (ref, passage) in enumerate(zip(refs[:k], passages, strict=True), start=1):
            answer = best_sentence(passage, self.view.sentence_vectors(int(ref)), query_vector,
                                   query, query_terms=query_terms)
            why = explain.explain_hit(passage, int(ref), cosine=float(dense[rank_ - 1]),
                                      bm25=float(lexical[rank_ - 1]), tops=tops, terms=asked)
            hits.append(Hit(passage=passage, rank=rank_, score=float(scores[rank_ - 1]),
                            dense_score=float(dense[rank_ - 1]),
                            lexical_score=float(lexical[rank_ - 1]), answer=answer,
                            explain=why))
        judged = answerability.judge(
            query, asked, answerability.gather(
                tops, self.view, query_vector,
                known=dict(zip(refs[:k].tolist(), passages, strict=True))),
            self.view.count_passages(), decision=self.decision, has_terms=bool(query_terms),
            use_decision=self.settings.answerable_rule == "fitted",
            cosine_rule=is_answerable(confidence, self.settings.abstain_threshold))
        return SearchResult(
            query=query,
            mode=mode,
            answerable=judged.answerable,
            confidence=confidence,
            took_ms=(time.perf_counter() - started) * 1000.0,
            hits=tuple(hits),
            probability=judged.probability,
            missing_terms=explain.missing_terms(asked),
            signals=judged.signals,
        )
