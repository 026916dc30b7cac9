"""Reading: what each passage a search reads shows about the question, computed once.

A search reads its k results, and for judging answerability the dense top DENSE_POOL and the
BM25 top LEXICAL_SENTENCES (their sentences), and the BM25 top LEXICAL_POOL (their terms
only). Each passage read becomes one `Evidence`: its sentences' cosines (from the retrieval,
which computed them for ranking), its best sentence, and where the question's terms stand in
it (the passage tokenized once, when first asked). The reader, answerability and `explain`
read these records.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from korea_qa.analysis.tokenize import Token, token_spans
from korea_qa.query.question import Question
from korea_qa.ranking.rank import Ranking
from korea_qa.records import Passage, Span
from korea_qa.store.base import SearchRetrieval, StoreView

DENSE_POOL = 3  # top passages by cosine whose sentences answerability reads
LEXICAL_POOL = 10  # top passages by BM25 where the question's names are looked for together
LEXICAL_SENTENCES = 3  # top passages by BM25 whose sentences are read too


@dataclass(frozen=True)
class Evidence:
    """One passage read, against one question."""

    ref: int
    passage: Passage
    cosines: np.ndarray  # each sentence's cosine with the question (float64); empty: none
    wanted: frozenset[str]  # the question's terms, which `found` looks for

    @cached_property
    def found(self) -> tuple[Token, ...]:
        """The question's terms in the passage text, in order: the passage is tokenized
        when first asked (a result's is, by the reader and `explain`; the pool's, which
        answerability reads by sentence cosines only, need not be)."""
        return found(self.passage, self.wanted)

    @property
    def best(self) -> int | None:
        """The sentence closest to the question (its index), None without sentences."""
        return int(np.argmax(self.cosines)) if len(self.cosines) else None

    def sentence(self, i: int) -> Span:
        start, end = self.passage.sentences[i]
        return Span(self.passage.text[start:end], start, end)

    def sentence_terms(self) -> list[frozenset[str]]:
        """The question's terms found in each sentence."""
        out: list[set[str]] = [set() for _ in self.passage.sentences]
        for t in self.found:
            for i, (start, end) in enumerate(self.passage.sentences):
                if start <= t.start and t.end <= end:
                    out[i].add(t.term)
                    break
        return [frozenset(s) for s in out]


@dataclass(frozen=True, slots=True)
class Reading:
    """The evidence of one search: its results, the pool answerability reads, and the
    question's terms in each of the BM25 top LEXICAL_POOL (from the store's term lists)."""

    hits: tuple[Evidence, ...]  # the k results, best first
    pool: tuple[Evidence, ...]  # dense top DENSE_POOL, then BM25 top LEXICAL_SENTENCES, once
    held: tuple[frozenset[str], ...]  # BM25 top LEXICAL_POOL, best first

    def first(self, k: int) -> Reading:
        """The same reading with only the first k results."""
        return Reading(self.hits[:k], self.pool, self.held)


def read(view: StoreView, retrieval: SearchRetrieval, question: Question, ranking: Ranking,
         k: int) -> Reading:
    """Each passage of the search read once: the k results and the answerability pool."""
    hits = ranking.refs[:k].tolist()
    pool = list(dict.fromkeys([*ranking.dense_top.refs[:DENSE_POOL].tolist(),
                               *ranking.lexical_top.refs[:LEXICAL_SENTENCES].tolist()]))
    refs = np.asarray(list(dict.fromkeys([*hits, *pool])), dtype=np.int64)
    wanted = frozenset(question.search_terms)
    evidence = {int(ref): Evidence(int(ref), passage, cosines, wanted)
                for ref, passage, cosines in zip(refs, view.passages(refs),
                                                 retrieval.sentence_cosines(refs), strict=True)}
    held = retrieval.held_terms(ranking.lexical_top.refs[:LEXICAL_POOL])
    return Reading(tuple(evidence[r] for r in hits), tuple(evidence[r] for r in pool),
                   tuple(held))


def found(passage: Passage, wanted: frozenset[str]) -> tuple[Token, ...]:
    """Where terms of `wanted` stand in the passage, sentence by sentence (an alias never
    joins words of two sentences); a passage without sentences is read whole."""
    spans = passage.sentences or ((0, len(passage.text)),)
    return tuple(Token(t.term, start + t.start, start + t.end)
                 for start, end in spans for t in token_spans(passage.text[start:end])
                 if t.term in wanted)
