"""Answer stage: the sentence of a passage that best answers the question.

Sentence vectors are computed when an article is indexed, so choosing the answer costs one
small matrix product per passage. Cosine similarity decides; a share of the question's stems
found in the sentence breaks near-ties toward the sentence that names what was asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from korea_qa.records import Passage, Span
from korea_qa.tokenize import tokenize

LEXICAL_WEIGHT = 0.15


def sentence_terms(passage: Passage) -> list[frozenset[str]]:
    """The stems of each sentence of a passage."""
    return [_stems(passage.text[s:e]) for s, e in passage.sentences]


@lru_cache(maxsize=65536)
def _stems(sentence: str) -> frozenset[str]:
    # Hits repeat across questions, and tokenising is most of choosing an answer sentence.
    return frozenset(tokenize(sentence))


def best_sentence(
    passage: Passage,
    sentence_vectors: np.ndarray,
    query_vector: np.ndarray,
    query: str,
    *,
    query_terms: frozenset[str] | None = None,
    terms: Sequence[frozenset[str]] | None = None,
) -> Span:
    """`sentence_vectors` (and `terms`, if given) are this passage's sentences, in order."""
    if not passage.sentences:
        return Span(passage.text, 0, len(passage.text))
    scores = sentence_vectors @ query_vector.astype(np.float32)
    if query_terms is None:
        query_terms = frozenset(tokenize(query))
    if query_terms:
        terms = sentence_terms(passage) if terms is None else terms
        for i, sentence in enumerate(terms):
            scores[i] += LEXICAL_WEIGHT * len(query_terms & sentence) / len(query_terms)
    start, end = passage.sentences[int(np.argmax(scores))]
    return Span(passage.text[start:end], start, end)
