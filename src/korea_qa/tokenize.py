"""English tokenizer for BM25: lowercase words, Lucene's English stopwords, Snowball stems."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_EN

_WORD_RE = re.compile(r"(?u)\b\w\w+\b")
STOPWORDS: frozenset[str] = frozenset(STOPWORDS_EN)


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    """Stemmed content tokens of `text`, in order. Possessive ’s and one-letter words drop."""
    text = unicodedata.normalize("NFKC", text).lower()
    words = [w for w in _WORD_RE.findall(text) if w not in STOPWORDS]
    return list(_stemmer().stemWords(words))


def tokenize_many(texts: list[str]) -> list[list[str]]:
    return [tokenize(t) for t in texts]
