"""Other forms of a word, for telling whether the articles hold what a question names: "fell"
and "fallen" for "fall", "children" for "child", "rose" for "rise".

The Snowball stems BM25 uses join regular forms ("rates", "rated" -> "rate") but not
irregular ones ("fell" is not "fall"), so a word can look absent from every article while the
articles say it in another form. lemminflect's tables (English, shipped in the package) give
a word's lemmas and every inflection of them; only verb and noun forms are taken, so an
adjective's suppletive forms ("better" -> "good") never stand in for a word.
"""

from __future__ import annotations

import lemminflect

KINDS = ("VERB", "NOUN")


def other_forms(word: str) -> tuple[str, ...]:
    """The word's verb and noun inflections, through each of its lemmas, in lower case,
    without the word itself; () for a word the tables do not know."""
    typed = word.lower()
    lemmas = {typed}
    for kind in KINDS:
        lemmas.update(lemminflect.getAllLemmas(typed, upos=kind).get(kind, ()))
    forms = set(lemmas)
    for lemma in lemmas:
        for kind in KINDS:
            for inflected in lemminflect.getAllInflections(lemma, upos=kind).values():
                forms.update(inflected)
    forms.discard(typed)
    return tuple(sorted(forms))
