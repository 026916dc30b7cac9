"""Why this result: where each retriever put a passage, and the question's words in it.

Presentation only: everything shown is read from the records of the search (the ranking's
top lists and scores, the evidence of the passage), so an explanation cannot disagree with
what ranked it. Each result gets its dense rank and cosine, its BM25 rank and score, and the
question's content terms found in its text (with offsets into the passage, for marking).
The words of the question that occur in no article come from the question's record
(`Question.missing_terms`).

Ranks are positions in each retriever's own top list of `candidates` passages (the lists a
hybrid search fuses), whatever the mode: a passage ranked 3rd by BM25 but 40th by cosine was
found by its words. Tied scores share the better rank.
"""

from __future__ import annotations

from korea_qa.query.question import Question
from korea_qa.ranking.rank import Ranking
from korea_qa.reading.evidence import Evidence
from korea_qa.records import Explain, Span


def matches(evidence: Evidence, question: Question) -> tuple[Span, ...]:
    """Where the question's content terms stand in the passage text, in order."""
    wanted = {t.term for t in question.content}
    text = evidence.passage.text
    return tuple(Span(text[t.start:t.end], t.start, t.end) for t in evidence.found
                 if t.term in wanted)


def explain_hit(evidence: Evidence, question: Question, ranking: Ranking,
                position: int) -> Explain:
    """The explanation of the result at `position` (0-based) of `ranking`."""
    bm25 = float(ranking.lexical[position])
    return Explain(dense_rank=ranking.dense_top.rank(evidence.ref),
                   cosine=float(ranking.dense[position]),
                   lexical_rank=ranking.lexical_top.rank(evidence.ref) if bm25 > 0 else None,
                   bm25=bm25, matches=matches(evidence, question))
