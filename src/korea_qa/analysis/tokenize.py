"""English tokenizer for BM25: lowercase words, the field's aliases (`korea_qa.analysis.aliases`) as
one term each, Lucene's English stopwords, Snowball stems."""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import NamedTuple

import Stemmer
from bm25s.stopwords import STOPWORDS_EN

from korea_qa.analysis.aliases import WORD_RE, AliasTable, active, words

STOPWORDS: frozenset[str] = frozenset(STOPWORDS_EN)
# Bump when `tokenize` changes what it produces: indexes record it, and an index built with
# other tokens is stale. (The alias list's own edits are caught by its digest.) 2: aliases.
TOKENIZER_VERSION = 2


def fingerprint() -> dict[str, object]:
    """What decides the tokens an index stores, for the index's fingerprint: the tokenizer's
    version and the digest of the alias list in use."""
    return {"aliases": active().digest, "tokenizer": TOKENIZER_VERSION}


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def tokenize(text: str, *, aliases: AliasTable | None = None) -> list[str]:
    """Stemmed content tokens of `text`, in order. Possessive ’s and one-letter words drop;
    a listed alias becomes its name's term (`aliases`: the list of `aliases.txt` by default)."""
    found = words(text)
    table = active() if aliases is None else aliases
    stem = _stemmer().stemWords
    out: list[str] = []
    done = 0
    # `_terms` without the places: the words between two spellings stemmed in one call.
    for first, n, term in table.matches(found) if table.phrases else ():
        out += stem([w for w in found[done:first] if w not in STOPWORDS])
        out.append(term)
        done = first + n
    out += stem([w for w in found[done:] if w not in STOPWORDS])
    return out


class Token(NamedTuple):
    term: str
    start: int  # offsets into the text given to `token_spans`
    end: int


def token_spans(text: str, *, aliases: AliasTable | None = None) -> list[Token]:
    """`tokenize`'s terms with where each stands in `text` (an alias: all its words). For
    showing matches: Unicode normalisation is applied word by word here, so a text whose
    normalisation joins or splits words may differ slightly from `tokenize`."""
    found = [(m.start(), m.end(), unicodedata.normalize("NFKC", m.group()).lower())
             for m in WORD_RE.finditer(text)]
    terms = _terms([w for _, _, w in found], active() if aliases is None else aliases)
    return [Token(term, found[first][0], found[last][1]) for term, first, last in terms]


def _terms(all_words: list[str], table: AliasTable) -> list[tuple[str, int, int]]:
    """(term, first word, last word) for each content word or alias, in order."""
    out: list[tuple[str, int, int]] = []
    plain: list[int] = []  # indices in `out` of words still to be stemmed
    aliased = {first: (n, term) for first, n, term in table.matches(all_words)} \
        if table.phrases else {}
    i = 0
    while i < len(all_words):
        if i in aliased:
            n, term = aliased[i]
            out.append((term, i, i + n - 1))
            i += n
            continue
        if all_words[i] not in STOPWORDS:
            plain.append(len(out))
            out.append((all_words[i], i, i))
        i += 1
    stems = _stemmer().stemWords([out[j][0] for j in plain])
    for j, stem in zip(plain, stems, strict=True):
        out[j] = (stem, out[j][1], out[j][2])
    return out
