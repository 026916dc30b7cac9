"""The question, checked and analysed once: the record every later stage reads.

A question is tokenized once (`korea_qa.analysis.tokenize.token_spans`: BM25's terms, with where
each stands), bound to a store view (the retrieval that ranks it, which reads the terms' document
frequencies once), and judged for what it asks: which words ask ("what", "did"), which are
names, and what kind of answer it wants (`korea_qa.analysis.answer_types`). Ranking, reading, the
reader, answerability and `explain` take this record and never see the raw string again.
Questions and search parameters are validated here too; the edges translate `InvalidQuery`
into their errors.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import numpy as np

from korea_qa.analysis import answer_types, inflections
from korea_qa.analysis.tokenize import Token, token_spans, tokenize
from korea_qa.article_file import DOC_ID_RE, DOC_ID_RULE, check_date
from korea_qa.errors import InvalidQuery
from korea_qa.records import Filters
from korea_qa.settings import MODES
from korea_qa.store.base import SearchRetrieval, StoreView, open_retrieval

# Words of asking, not of the subject: a question's "what" or "did" is never "not mentioned",
# nor marked in a passage. (Lucene's stopwords, which the tokenizer drops, do not list them.)
QUESTION_WORDS = frozenset({
    "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "did", "does", "do",
    "done", "was", "were", "has", "have", "had", "can", "could", "would", "should", "may",
    "might", "must", "shall"})
# Capitalised words that are adjectives of a people, a region or a direction ("American",
# "Chinese", "Western", "Pacific"), not names: a reader paraphrasing writes them freely.
_NOT_A_NAME = re.compile(r"(ian|ean|can|ese|ern|ic)s?$|^(north|south|east|west)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class QuestionTerm:
    term: str  # the tokenizer's term: a stem, or an alias's name
    text: str  # as the reader typed it
    start: int  # offsets into the question
    end: int
    df: int  # live passages of the whole index that hold it (0 for a word that asks)
    asks: bool = False  # a word of asking (QUESTION_WORDS): searched, never missing nor marked
    name: bool = False  # a name the question gives (capitalised past its first word, or a number)
    # Live passages holding another form of it ("fell" for "fall"), read only when df is 0.
    forms_df: int = 0


@dataclass(frozen=True, slots=True)
class Question:
    """One question, analysed: what every stage after the analysis reads."""

    text: str  # trimmed, as checked by `check_question`
    vector: np.ndarray  # the embedding model's vector of `text`
    filters: Filters
    terms: tuple[QuestionTerm, ...]  # every term, in order, words that ask included
    asked: answer_types.Asked  # what kind of answer it wants

    @property
    def search_terms(self) -> list[str]:
        """The terms BM25 looks for (words that ask included, as they always were)."""
        return [t.term for t in self.terms]

    @property
    def content(self) -> tuple[QuestionTerm, ...]:
        """The terms of the subject: every term but the words that ask."""
        return tuple(t for t in self.terms if not t.asks)

    @property
    def names(self) -> tuple[QuestionTerm, ...]:
        return tuple(t for t in self.terms if t.name)

    def missing_terms(self) -> tuple[str, ...]:
        """The words of the question that no passage holds in any form, as typed, each once."""
        out: dict[str, str] = {}
        for t in self.content:
            if t.df == 0 and t.forms_df == 0:
                out.setdefault(t.term, t.text)
        return tuple(out.values())


class Analysed(NamedTuple):
    question: Question
    retrieval: SearchRetrieval  # the question bound to the view: ranking asks it


# Document frequencies of (terms, the same as typed): a store view's or a retrieval's.
Frequencies = Callable[[Sequence[str], Sequence[str]], dict[str, int]]


def analyse(text: str, vector: np.ndarray, filters: Filters, view: StoreView) -> Analysed:
    """The question's one analysis, bound to `view`: its tokens (the only tokenization of
    the question in a search), the retrieval that ranks it, and, read by that retrieval,
    its content terms' document frequencies."""
    tokens = token_spans(text)
    retrieval = open_retrieval(view, vector, text, [t.term for t in tokens], filters)
    return Analysed(question_record(text, vector, filters, tokens,
                                    retrieval.document_frequencies,
                                    view.document_frequencies), retrieval)


def question_record(text: str, vector: np.ndarray, filters: Filters,
                    tokens: Sequence[Token], frequencies: Frequencies,
                    index_frequencies: Frequencies | None = None) -> Question:
    """The record of a question already tokenized (`token_spans(text)`). `frequencies`
    counts the question's own terms (the retrieval read them); `index_frequencies`, the
    whole index's, counts other forms of a word no passage holds (default: the same)."""
    asks = [text[t.start:t.end].lower() in QUESTION_WORDS for t in tokens]
    content = [t for t, a in zip(tokens, asks, strict=True) if not a]
    first = {t.term: text[t.start:t.end] for t in reversed(content)}  # term -> as first typed
    dfs = frequencies(list(first), list(first.values()))
    forms = _forms_df([(term, typed) for term, typed in first.items() if not dfs[term]],
                      index_frequencies or frequencies)
    first_start = tokens[0].start if tokens else 0
    terms = tuple(_term(text, t, asking, dfs, first_start=first_start)
                  for t, asking in zip(tokens, asks, strict=True))
    terms = tuple(replace(t, forms_df=forms.get(t.term, 0)) if t.term in forms else t
                  for t in terms)
    return Question(text, vector, filters, terms, answer_types.asked(text))


def _forms_df(absent: Sequence[tuple[str, str]], frequencies: Frequencies) -> dict[str, int]:
    """For each (term, typed) no passage holds: the most passages holding one of its other
    forms (`inflections.other_forms`, tokenized as the index is). One more read of document
    frequencies, and only for a question naming a word the articles lack."""
    wanted: dict[str, list[str]] = {}
    for term, typed in absent:
        found = {s for form in inflections.other_forms(typed) for s in tokenize(form)} - {term}
        if found:
            wanted[term] = sorted(found)
    every = sorted({s for stems in wanted.values() for s in stems})
    dfs = frequencies(every, every) if every else {}
    return {term: max(dfs[s] for s in stems) for term, stems in wanted.items()}


def _term(text: str, token: Token, asks: bool, dfs: dict[str, int], *,
          first_start: int) -> QuestionTerm:
    typed = text[token.start:token.end]
    # A name: typed with a capital past the question's first word (so "Kim" in "Kim met
    # whom?" is not one, a sentence's capital), not an adjective of a people; or a number.
    name = not asks and token.start > first_start and (
        (typed[:1].isupper() and not _NOT_A_NAME.search(typed)) or typed[:1].isdigit())
    return QuestionTerm(token.term, typed, token.start, token.end,
                        0 if asks else dfs[token.term], asks, name)


# ---------------------------------------------------------------- checks


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


def check_params(k: int, mode: str, max_k: int) -> None:
    if mode not in MODES:
        raise InvalidQuery(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}",
                           field="mode", detail="unknown mode")
    if not 1 <= k <= max_k:
        raise InvalidQuery(f"must be between 1 and {max_k}", field="k",
                           detail=f"out of range 1..{max_k}")


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
