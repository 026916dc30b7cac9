"""Names of the field: spellings the lexical side reads as one term (`aliases.txt`).

The articles write "DPRK", "North Korea", "Pyongyang" and "the North" for one country, and
"Kim Jong-Il" beside "Kim Jong Il". BM25 matches words, so without help a question that says
"DPRK" misses a passage that says "North Korea", and "Kim Jong Un" shares its "un" with the
United Nations. The tokenizer (`korea_qa.analysis.tokenize`) replaces every listed spelling, in
questions and passages alike, by one term per name, which it does not stem.

The list is data, in `aliases.txt` beside this module (its header says how to edit it). Its
digest is part of the index fingerprint (`Library.fingerprint`): the index stores
tokens, so an edit makes a built index stale.

What a word is (`words`) is decided here, for the list and the tokenizer alike: a spelling
matches only if it is read into the same words as the text. The tokenizer builds on this
module; nothing here depends on it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

ALIASES_FILE = Path(__file__).with_name("aliases.txt")
WORD_RE = re.compile(r"(?u)\b\w\w+\b")


def words(text: str) -> list[str]:
    """The words the tokenizer sees, before aliases, stopwords and stemming."""
    return WORD_RE.findall(unicodedata.normalize("NFKC", text).lower())


class AliasListError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class AliasTable:
    """Spellings as word tuples (the tokenizer's words: lowercase, no punctuation), each
    mapped to the term of its name."""

    phrases: dict[tuple[str, ...], str] = field(default_factory=dict)
    digest: str = "none"
    # First word of a spelling -> the lengths of the spellings it starts, longest first: most
    # words start none, and are passed over with one lookup.
    starts: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def match_at(self, words: Sequence[str], i: int) -> int:
        """Number of words of the longest spelling starting at words[i] (0: none)."""
        for n in self.starts.get(words[i], ()):
            if i + n <= len(words) and tuple(words[i:i + n]) in self.phrases:
                return n
        return 0

    def matches(self, words: Sequence[str]) -> list[tuple[int, int, str]]:
        """(first word, words, term) of each spelling found, left to right. A spelling that
        ends later wins over one starting a word earlier: "the North Korean" is "the" and
        "North Korean", not "the North" and "Korean"."""
        out = []
        starts = self.starts
        i = 0
        while i < len(words):
            if words[i] not in starts:  # most words: passed over with one lookup
                i += 1
                continue
            n = self.match_at(words, i)
            if n > 1:  # a spelling overlapping this one from the next word, ending later
                later = self.match_at(words, i + 1)
                if later and i + 1 + later > i + n:
                    n = 0
            if n:
                out.append((i, n, self.phrases[tuple(words[i:i + n])]))
                i += n
            else:
                i += 1
        return out


def parse(text: str, *, source: str = "aliases") -> AliasTable:
    """An alias list in the format of `aliases.txt` (see its header)."""
    phrases: dict[tuple[str, ...], str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, colon, rest = line.partition(":")
        spellings = [name, *rest.split("|")] if colon else []
        keys = [tuple(words(s)) for s in spellings]
        if not colon or not keys[0] or not all(keys):
            raise AliasListError(f"{source}:{number}: expected 'Name: spelling | spelling', "
                                 f"each with at least one word of two letters or more")
        term = "_".join(keys[0])
        for key in keys:
            if phrases.get(key, term) != term:
                raise AliasListError(f"{source}:{number}: {' '.join(key)!r} is already a "
                                     f"spelling of {phrases[key]!r}")
            phrases[key] = term
    digest = hashlib.sha256(repr(sorted(phrases.items())).encode()).hexdigest()[:16]
    starts: dict[str, set[int]] = {}
    for key in phrases:
        starts.setdefault(key[0], set()).add(len(key))
    return AliasTable(phrases, digest if phrases else "none",
                      {w: tuple(sorted(n, reverse=True)) for w, n in starts.items()})


@lru_cache(maxsize=1)
def active() -> AliasTable:
    """The list in `aliases.txt`, read once per process."""
    return parse(ALIASES_FILE.read_text(encoding="utf-8"), source=str(ALIASES_FILE))
