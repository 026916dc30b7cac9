"""Answer stage: the sentence of a passage that best answers the question.

Sentence vectors are computed at build time, so choosing the answer costs one small
matrix product per passage. Cosine similarity decides; a share of the question's stems
found in the sentence breaks near-ties toward the sentence that names what was asked.
"""

from __future__ import annotations

import numpy as np

from korea_qa.records import Passage, Span
from korea_qa.tokenize import tokenize

LEXICAL_WEIGHT = 0.15


def best_sentence(
    passage: Passage, sentence_vectors: np.ndarray, query_vector: np.ndarray, query: str
) -> Span:
    """`sentence_vectors` are this passage's sentences, in order."""
    if not passage.sentences:
        return Span(passage.text, 0, len(passage.text))
    scores = sentence_vectors @ query_vector.astype(np.float32)
    query_terms = set(tokenize(query))
    if query_terms:
        for i, (start, end) in enumerate(passage.sentences):
            shared = query_terms & set(tokenize(passage.text[start:end]))
            scores[i] += LEXICAL_WEIGHT * len(shared) / len(query_terms)
    start, end = passage.sentences[int(np.argmax(scores))]
    return Span(passage.text[start:end], start, end)
