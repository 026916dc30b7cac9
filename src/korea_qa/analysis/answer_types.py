"""What a question asks for (a number, a date, a person) and whether a sentence holds one.

Cheap patterns, no model: "How many workers…?" is answered by a sentence that gives a number
the question does not already contain; "When…?" by one with a year, a month or a decade;
"Who…?" by one naming someone (two or more capitalised words in a row that are not a place,
a body or an event: see NOT_PERSON). A sentence that lacks the kind of thing asked for is
evidence that the passage is about the subject but does not answer (eval/README.md, "An
answerability decision"). Other questions (what, which, why, how) are not typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NUMBER, DATE, PERSON, OTHER = "number", "date", "person", "other"

_NUMBER_Q = re.compile(
    r"\b(how (many|much|long|large|big|far|old|often)|(what|which) (share|portion|percentage|"
    r"proportion|fraction|number|amount|sum|value|multiple|figure)|number of|rate|population)\b",
    re.IGNORECASE)
_DATE_Q = re.compile(
    r"\b(when|(what|which) (exact )?(year|date|day|month|decade|century|time))\b", re.IGNORECASE)
_PERSON_Q = re.compile(
    r"^\W*(who|whom|whose)\b|\b(which|what) (\w+[ -]){0,2}(president|minister|diplomat|official|"
    r"leader|scholar|ambassador|envoy|premier|general|chief|head|governor|commander)\b",
    re.IGNORECASE)

_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|"
           "december")
_NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|"
                 "fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|"
                 "fifty|sixty|seventy|eighty|ninety|hundreds?|thousands?|millions?|billions?|"
                 "dozens?|half|tenfold|twofold|threefold|double|triple")
_NUMBER_A = re.compile(rf"\d[\d,.]*%?|\b({_NUMBER_WORDS})\b", re.IGNORECASE)
_DATE_A = re.compile(
    rf"\b(1[5-9]\d\d|20\d\d)s?\b|\b({_MONTHS})\b|\b(\d\d?(st|nd|rd|th)? century)\b",
    re.IGNORECASE)
_CAPITALISED_RUN = re.compile(r"\b[A-Z][\w’'.]*(?:[ -](?:[A-Z][\w’'.]*))+")
# Words that make a capitalised run a place, a body, a period or an event rather than a name.
NOT_PERSON = frozenset({
    "korea", "korean", "koreans", "north", "south", "east", "west", "eastern", "western",
    "northern", "southern", "far", "asia", "asian", "europe", "european", "america", "american",
    "africa", "african", "pacific", "atlantic", "russia", "russian", "russians", "soviet",
    "soviets", "union", "united", "states", "nations", "council", "security", "general",
    "assembly", "republic", "republics", "people’s", "people's", "democratic", "federation",
    "ministry", "foreign", "affairs", "administration", "armed", "forces", "army", "war", "world",
    "cold", "peninsula", "sea", "railway", "summit", "region", "port", "university", "press",
    "association", "organization", "party", "committee", "agency", "government", "state",
    "department", "pentagon", "kremlin", "nato", "un", "dprk", "ussr", "china", "chinese",
    "japan", "ukraine", "ukrainian", "donetsk", "lugansk", "donbas", "syria", "iran", "poland",
    "pakistan", "eritrea", "belarus", "canada", "middle", "day", "century",
})


def asks_for(question: str) -> str:
    """NUMBER, DATE, PERSON or OTHER: what the question asks for, by its wording."""
    if _NUMBER_Q.search(question):
        return NUMBER
    if _DATE_Q.search(question):
        return DATE
    if _PERSON_Q.search(question):
        return PERSON
    return OTHER


@dataclass(frozen=True, slots=True)
class Asked:
    """What a question asks for, and what it already says (lower-cased, once)."""

    kind: str  # NUMBER, DATE, PERSON or OTHER
    said: str  # the question, lower-cased

    def holds(self, sentence: str) -> bool:
        """Whether `sentence` holds something of the kind asked that the question does not
        already say (a question about 2016 is not answered by the 2016 it names). OTHER:
        always."""
        if self.kind == OTHER:
            return True
        if self.kind == NUMBER:
            found = [m.group(0) for m in _NUMBER_A.finditer(sentence)]
        elif self.kind == DATE:
            found = [m.group(0) for m in _DATE_A.finditer(sentence)]
        else:
            found = _names(sentence)
        return any(f.lower().rstrip(".,") not in self.said for f in found)


def asked(question: str) -> Asked:
    return Asked(asks_for(question), question.lower())


def _names(sentence: str) -> list[str]:
    out = []
    for run in _CAPITALISED_RUN.finditer(sentence):
        words = [w.lower().removesuffix("’s").removesuffix("'s")
                 for w in re.split(r"[ -]", run.group(0))]
        if not any(w in NOT_PERSON for w in words):
            out.append(run.group(0))
    return out
