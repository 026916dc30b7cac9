"""Search: a question over one store view, in four stages, each handing a record to the next.

analyse (`korea_qa.query.question`: the question, tokenized once, bound to the view) → rank
(`korea_qa.ranking.rank`: candidates, sentence evidence, fusion) → read
(`korea_qa.reading.evidence`: one evidence record per passage read; then the reader,
`korea_qa.reading.reader`, picks each result's answer; `korea_qa.reading.by_reading` may
reorder the results it read) → judge (`korea_qa.reading.answerability`:
answerable or not, in one place).

The core knows nothing of HTTP, the CLI or how passages are stored: it takes a question and
a store view (`korea_qa.store.base.StoreView`) and returns records.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from korea_qa.query.question import Question, analyse, check_params, check_question
from korea_qa.ranking.rank import Ranking, RankParams, rank
from korea_qa.reading import answerability
from korea_qa.reading.by_reading import by_reading
from korea_qa.reading.evidence import Reading, read
from korea_qa.reading.explain import explain_hit
from korea_qa.reading.reader import READ_PASSAGES, Answer, Reader, checked_span, reader_for
from korea_qa.records import Filters, Hit, SearchResult
from korea_qa.settings import Settings
from korea_qa.store.base import StoreView

Encode = Callable[[str], np.ndarray]


class Searcher:
    """Searches over one view. The server makes one per view it swaps in, so the reader is
    loaded once at start-up and passed in; without one, the setting's reader is loaded."""

    def __init__(self, view: StoreView, encode: Encode, settings: Settings, *,
                 reader: Reader | None = None) -> None:
        self.view = view
        self.encode = encode
        self.settings = settings
        self.ranking = RankParams.of(settings)
        self.reader = reader or reader_for(settings)
        self.rule = answerability.Rule.of(settings, self.reader.name)

    def search(self, query: str, *, k: int | None = None, mode: str | None = None,
               filters: Filters | None = None) -> SearchResult:
        started = time.perf_counter()
        question = check_question(query, self.settings.max_query_chars)
        return self.search_vector(question, self.encode(question), k=k, mode=mode,
                                  filters=filters, started=started)

    def search_vector(self, query: str, query_vector: np.ndarray, *, k: int | None = None,
                      mode: str | None = None, filters: Filters | None = None,
                      started: float | None = None) -> SearchResult:
        """Search with a query vector computed elsewhere (batched, cached)."""
        started = time.perf_counter() if started is None else started
        k = self.settings.default_k if k is None else k
        mode = self.settings.default_mode if mode is None else mode
        check_params(k, mode, self.settings.max_k)
        question, retrieval = analyse(query, query_vector, filters or Filters(), self.view)
        ranking = rank(retrieval, mode, self.ranking)
        # At least READ_PASSAGES are read whatever k is, so that the judgement (which reads
        # the reader's probabilities) does not change with k; only k are returned.
        reading = read(self.view, retrieval, question, ranking, max(k, READ_PASSAGES))
        answers = self.reader.read(question, reading.hits)
        ranking, reading, answers = by_reading(ranking, reading, answers,
                                               self.settings.read_rank_weight)
        judged = answerability.judge(question, ranking, reading, self.view.count_passages(),
                                     self.rule, [a.probability for a in answers])
        reading, answers = reading.first(k), answers[:k]
        return SearchResult(
            query=question.text, mode=mode, answerable=judged.answerable,
            best_cosine=ranking.best_cosine, took_ms=(time.perf_counter() - started) * 1000.0,
            hits=hits(question, ranking, reading, answers, self.reader.name),
            probability=judged.probability,
            missing_terms=question.missing_terms(), signals=judged.signals)


def hits(question: Question, ranking: Ranking, reading: Reading, answers: Sequence[Answer],
         reader: str) -> tuple[Hit, ...]:
    """The results, best first: each passage with its scores, answer (its span checked)
    and explanation."""
    return tuple(
        Hit(passage=evidence.passage, rank=i + 1, score=float(ranking.scores[i]),
            dense_score=float(ranking.dense[i]), lexical_score=float(ranking.lexical[i]),
            answer=answer.sentence, span=checked_span(answer, evidence.passage, reader),
            explain=explain_hit(evidence, question, ranking, i))
        for i, (evidence, answer) in enumerate(zip(reading.hits, answers, strict=True)))
