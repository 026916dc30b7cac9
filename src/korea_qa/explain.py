"""Why this result: where each retriever put a passage, and the question's words in it.

Each result gets its dense rank and cosine, its BM25 rank and score, and the question's terms
found in its text (with offsets into the passage, for marking). The response gets the
question's content words that occur in no article at all ("not mentioned in any article"),
as the reader typed them; the document frequencies come from the index's vocabulary, so this
costs one lookup per question.

Ranks are positions in each retriever's own top list of `candidates` passages (the lists a
hybrid search fuses), whatever the mode: a passage ranked 3rd by BM25 but 40th by cosine was
found by its words. Tied scores share the better rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from korea_qa.records import Explain, Passage, Span
from korea_qa.store.base import Retrieval, Scored, StoreView
from korea_qa.tokenize import Token, token_spans
from korea_qa.topk import order_by_score

# Words of asking, not of the subject: a question's "what" or "did" is never "not mentioned",
# nor marked in a passage. (Lucene's stopwords, which the tokenizer drops, do not list them.)
QUESTION_WORDS = frozenset({
    "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "did", "does", "do",
    "done", "was", "were", "has", "have", "had", "can", "could", "would", "should", "may",
    "might", "must", "shall"})


@dataclass(frozen=True, slots=True)
class QuestionTerm:
    term: str  # the tokenizer's term: a stem, or an alias's name
    text: str  # as the reader typed it
    start: int  # offsets into the question
    end: int
    df: int  # live passages of the whole index that hold it


def question_terms(question: str, view: StoreView) -> tuple[QuestionTerm, ...]:
    """The question's content terms, with where each stands and how many passages hold it."""
    spans = [t for t in token_spans(question)
             if question[t.start:t.end].lower() not in QUESTION_WORDS]
    first = {t.term: question[t.start:t.end] for t in reversed(spans)}  # term -> as typed
    dfs = view.document_frequencies(list(first), list(first.values()))
    return tuple(QuestionTerm(t.term, question[t.start:t.end], t.start, t.end, dfs[t.term])
                 for t in spans)


def missing_terms(terms: Sequence[QuestionTerm]) -> tuple[str, ...]:
    """The words of the question that no passage holds, as typed, each once."""
    out: dict[str, str] = {}
    for t in terms:
        if t.df == 0:
            out.setdefault(t.term, t.text)
    return tuple(out.values())


@dataclass(frozen=True, slots=True)
class TopList:
    """One retriever's top candidates, best first (ties by passage key), with their scores."""

    refs: np.ndarray
    scores: np.ndarray

    @classmethod
    def of(cls, refs: np.ndarray, scores: np.ndarray, retrieval: Retrieval) -> TopList:
        refs = np.asarray(refs, dtype=np.int64)
        scores = np.asarray(scores, dtype=np.float64)
        order = order_by_score(scores, refs, retrieval.keys)
        return cls(refs[order], scores[order])

    def rank(self, ref: int) -> int | None:
        """1-based position of `ref`; a tie shares the best position; None if absent."""
        where = np.flatnonzero(self.refs == ref)
        if not len(where):
            return None
        return 1 + int((self.scores > self.scores[where[0]]).sum())


@dataclass(frozen=True, slots=True)
class TopLists:
    dense: TopList
    lexical: TopList  # passages with a positive BM25 score only

    @classmethod
    def gather(cls, dense: Scored, lexical: Scored, retrieval: Retrieval) -> TopLists:
        return cls(TopList.of(dense.refs, dense.scores, retrieval),
                   TopList.of(lexical.refs, lexical.scores, retrieval))


@lru_cache(maxsize=16384)
def _passage_tokens(text: str) -> tuple[Token, ...]:
    # The same passages come back for many questions; tokenizing them is most of the cost.
    return tuple(token_spans(text))


def passage_terms(passage: Passage) -> frozenset[str]:
    return frozenset(t.term for t in _passage_tokens(passage.text))


def matches(passage: Passage, terms: Sequence[QuestionTerm]) -> tuple[Span, ...]:
    """Where the question's terms stand in the passage text, in order."""
    wanted = {t.term for t in terms}
    return tuple(Span(passage.text[t.start:t.end], t.start, t.end)
                 for t in _passage_tokens(passage.text) if t.term in wanted)


def explain_hit(passage: Passage, ref: int, *, cosine: float, bm25: float, tops: TopLists,
                terms: Sequence[QuestionTerm]) -> Explain:
    return Explain(dense_rank=tops.dense.rank(ref), cosine=cosine,
                   lexical_rank=tops.lexical.rank(ref) if bm25 > 0 else None, bm25=bm25,
                   matches=matches(passage, terms))
