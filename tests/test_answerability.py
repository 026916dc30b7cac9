"""The answerability decision's parts, with hand-made inputs: question types, the signals read
from a pool of passages, the fitted model's arithmetic, fitting, and the search wiring."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from conftest import open_view, question_of
from korea_qa.analysis import answer_types
from korea_qa.evaluate.fit import Logistic, Parts, fit
from korea_qa.evaluate.operating import (
    MAX_FALSE_ABSTAIN,
    Example,
    beats_cosine,
    guarded,
    operating_point,
    with_cosine,
)
from korea_qa.models.embed import HashEmbedder
from korea_qa.query.question import Question
from korea_qa.ranking.rank import Ranking, TopList
from korea_qa.reading.answerability import Decision, Judgement, Logit, Rule, judge, signals
from korea_qa.reading.evidence import Evidence, Reading, found
from korea_qa.records import Passage
from korea_qa.search import Searcher
from korea_qa.settings import Settings


@pytest.mark.parametrize(("question", "kind"), [
    ("How many North Korean workers were employed in Russia in 2023?", "number"),
    ("What share of North Korea's trade is with China?", "number"),
    ("What is North Korea's literacy rate?", "number"),
    ("When did Kyiv break off relations with Pyongyang?", "date"),
    ("In what year did North Korea conduct its first nuclear test?", "date"),
    ("Who is Russia's ambassador to South Korea?", "person"),
    ("Which Russian defence minister visited Pyongyang?", "person"),
    ("Which company carried out the renovation?", "other"),
    ("Why could routing weapons sidestep the ban?", "other"),
])
def test_what_a_question_asks_for(question: str, kind: str) -> None:
    assert answer_types.asks_for(question) == kind


def test_a_sentence_holds_the_asked_kind_only_beyond_the_question() -> None:
    asked = answer_types.asked("How many tons of cargo passed through Rajin in 2019?")
    assert asked.holds("In 2015, 1,200,000 tons went through.")
    assert not asked.holds("Cargo went through Rajin in 2019.")
    assert asked.holds("The fifteen members approved it.")
    assert answer_types.asked("When did it grow?").holds("Until the 1970s it grew.")
    assert answer_types.asked("When did it reopen?").holds("It reopened in September.")
    assert not answer_types.asked("When did it reopen?").holds("It reopened after a while.")
    who = answer_types.asked("Who is Moscow's envoy in Pyongyang?")
    assert who.holds("Ambassador Alexander Matsegora said so.")
    assert not who.holds("The North Korean side and the Soviet Union.")
    assert answer_types.asked("Why?").holds("anything")


def _passage(text: str, key: int) -> Passage:
    bounds, start = [], 0
    for part in text.split(". "):
        end = start + len(part) + (1 if not part.endswith(".") else 0)
        bounds.append((start, min(end, len(text))))
        start = end + 1
    return Passage(doc_id="d", position=key, paragraph=1, start=0, end=len(text), text=text,
                   sentences=tuple(bounds))


def _reading(question: Question, read: list[Passage], cosines: list[list[float]],
             lexical: list[Passage]) -> Reading:
    """The pool `read` with its sentences' cosines; the BM25 top `lexical`."""
    wanted = frozenset(question.search_terms)
    pool = tuple(Evidence(p.position, p, np.array(c), wanted)
                 for p, c in zip(read, cosines, strict=True))
    held = tuple(frozenset(t.term for t in found(p, wanted)) for p in lexical)
    return Reading(hits=pool, pool=pool, held=held)


def _ranking(cosine: float, bm25: float = 3.0, agree: bool = True) -> Ranking:
    """One candidate: the best by cosine, and by BM25 too when they `agree`."""
    return Ranking(np.array([0]), np.array([1.0]), np.array([cosine]), np.array([bm25]),
                   TopList(np.array([0]), np.array([cosine])),
                   TopList(np.array([0 if agree else 9]), np.array([bm25])))


def test_signals_read_types_names_and_missing_words() -> None:
    rail = _passage("The North plans to resume rail traffic. Trade halted in 2020.", 0)
    lavrov = _passage("Sergey Lavrov met Rex Tillerson. They talked", 1)
    choe = _passage("Choe Son Hui wrote letters. The letters were sent", 2)
    question = question_of(
        "How many trains did Choe Son Hui and Sergey Lavrov count in Vostochny?",
        dfs={"vostochni": 0})
    reading = _reading(question, [rail, lavrov], [[0.7, 0.3], [0.5, 0.4]], [rail, lavrov, choe])
    values = signals(question, _ranking(0.6), reading, 41)
    # The closest sentence (0.7) and the one within 0.05 of it hold no number: the 2020 one
    # is 0.3, too far.
    assert values["type_missing"] == 1.0
    # Choe and Lavrov are in the articles but in no one passage together; Vostochny in none.
    assert values["names_apart"] == 1.0 and values["names_missing"] == 1.0
    assert values["cos_passage"] == 0.6 and values["cos_sentence"] == pytest.approx(0.7)
    assert (values["bm25_top"], values["agree"]) == (3.0, 1.0)
    together = question_of("What did Sergey Lavrov tell Rex Tillerson?")
    reading = _reading(together, [rail, lavrov], [[0.7, 0.3], [0.5, 0.4]], [rail, lavrov, choe])
    values = signals(together, _ranking(0.6, agree=False), reading, 41)
    assert (values["type_missing"], values["names_apart"], values["names_missing"]) == (0, 0, 0)
    assert values["agree"] == 0.0


DECISION = Decision(
    model="all-MiniLM-L6-v2",
    topic=Logit(features=("cos_passage",), mean=(0.5,), scale=(0.2,), coef=(2.0,),
                intercept=1.0),
    answer=Logit(features=("type_missing", "names_apart"), mean=(0.1, 0.1), scale=(0.3, 0.3),
                 coef=(-1.0, -0.5), intercept=0.2),
    threshold=0.4)


def test_the_probability_is_the_product_of_the_two_regressions() -> None:
    values = {"cos_passage": 0.7, "type_missing": 1.0, "names_apart": 0.0}
    topic = 1 / (1 + math.exp(-(1.0 + 2.0 * (0.7 - 0.5) / 0.2)))
    answer = 1 / (1 + math.exp(-(0.2 - 1.0 * 0.9 / 0.3 - 0.5 * -0.1 / 0.3)))
    assert DECISION.probability(values) == pytest.approx(topic * answer)
    assert DECISION.applies_to("all-MiniLM-L6-v2@openvino")
    assert not DECISION.applies_to("hash:64")
    assert Decision.model_validate_json(DECISION.model_dump_json()) == DECISION


def test_judge_falls_back_to_the_cosine_rule_and_needs_content_words() -> None:
    rail = _passage("The North plans to resume rail traffic. Trade halted in 2020.", 0)
    question = question_of("Will rail traffic resume?")
    ranking = _ranking(0.7)
    reading = _reading(question, [rail], [[0.7, 0.3]], [rail])

    def judged(rule: Rule, asked: Question = question) -> Judgement:
        return judge(asked, ranking, reading, 41, rule)

    # No decision: the cosine rule, whatever the setting (0.7 against the threshold).
    assert judged(Rule(None, True, 0.5)) == judged(Rule(None, False, 0.5))
    assert judged(Rule(None, False, 0.5)).answerable is True
    plain = judged(Rule(None, False, 0.8))
    assert (plain.answerable, plain.probability) == (False, None)
    fitted = judged(Rule(DECISION, True, 0.8))
    assert fitted.probability == pytest.approx(DECISION.probability(fitted.signals))
    assert fitted.answerable is (fitted.probability >= DECISION.threshold) is True
    reported = judged(Rule(DECISION, False, 0.8))
    assert (reported.answerable, reported.probability) == (False, fitted.probability)
    empty = judged(Rule(DECISION, True, 0.5), question_of("the of and"))
    assert (empty.answerable, empty.probability) == (False, 0.0)
    # A decision fitted to need the cosine rule too: answerable only where both agree.
    guarded = DECISION.model_copy(update={"with_cosine": True})
    assert judged(Rule(guarded, True, 0.5)).answerable is True  # cosine 0.7 >= 0.5
    both = judged(Rule(guarded, True, 0.8))  # cosine 0.7 < 0.8, probability as before
    assert (both.answerable, both.probability) == (False, fitted.probability)


def test_logistic_recovers_a_known_model() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4000, 2))
    p = 1 / (1 + np.exp(-(0.5 + 2.0 * x[:, 0] - 1.0 * x[:, 1])))
    y = (rng.uniform(size=4000) < p).astype(float)
    model = Logistic(x, y, l2=0.0)
    raw = model.coef / model.scale  # back to unstandardised units
    assert raw == pytest.approx([2.0, -1.0], abs=0.15)
    assert model.intercept - (model.coef * model.mean / model.scale).sum() == pytest.approx(
        0.5, abs=0.15)


def _examples() -> list[Example]:
    """Answerable questions with flags clear, on-topic ones mostly flagged, off-topic far."""
    out = []
    for i in range(20):
        out.append(Example(f"a{i}", "answerable", {"cos_passage": 0.55 + 0.01 * (i % 5),
                                                   "type_missing": float(i == 0)}))
    for i in range(10):
        out.append(Example(f"n{i}", "number", {"cos_passage": 0.6,
                                               "type_missing": float(i < 7)}))
    for i in range(5):
        out.append(Example(f"o{i}", "off-topic", {"cos_passage": 0.1 + 0.02 * i,
                                                  "type_missing": 0.0}))
    return out


def test_fit_abstains_on_flagged_questions_within_the_false_abstention_limit() -> None:
    examples = _examples()
    decision, _ = fit(examples, "m@openvino", parts=Parts(("cos_passage",), ("type_missing",)),
                      max_false=0.05)
    assert decision.model == "m" and decision.answer.coef[0] < 0 < decision.topic.coef[0]
    about = decision.about["leave_one_out"]
    assert about["answerable"] == {"abstained": 1, "questions": 20}  # a0 is flagged: 5%
    assert about["on-topic"] == {"abstained": 7, "questions": 10}
    assert about["off-topic"] == {"abstained": 5, "questions": 5}
    probabilities = [decision.probability(e.signals) for e in examples]
    assert sum(p < decision.threshold for p in probabilities[:20]) == 1
    with pytest.raises(ValueError, match="type_missing came out with coefficient"):
        flipped = [Example(e.id, e.kind, {**e.signals,
                                          "type_missing": 1.0 - e.signals["type_missing"]})
                   for e in examples]
        fit(flipped, "m", parts=Parts(("cos_passage",), ("type_missing",)))


def test_news_questions_join_the_answer_part_only() -> None:
    """Our news questions are on their own pages' subject, none off-topic: the topic part
    stays the gold questions'; the answer part learns from them too."""
    parts = Parts(("cos_passage",), ("type_missing",))
    gold_only, _ = fit(_examples(), "m", parts=parts)
    news = [Example(f"x{i}", "answerable" if i % 2 else "nearby",
                    {"cos_passage": 0.05, "type_missing": float(i % 4 == 0)}, "news")
            for i in range(12)]
    both, _ = fit(_examples() + news, "m", parts=parts)
    assert both.topic == gold_only.topic
    assert both.answer.coef != gold_only.answer.coef and both.answer.coef[0] < 0
    assert (both.about["news_questions"], both.about["questions"]) == (12, len(_examples()) + 12)


def test_the_cosine_guard_is_kept_only_where_it_abstains_on_more_within_the_bound() -> None:
    def ex(id_: str, kind: str, cosine: float) -> Example:
        return Example(id_, kind, {}, best_cosine=cosine)

    answerable = [ex(f"a{i}", "answerable", 0.6) for i in range(20)]
    on_topic = [ex("n1", "nearby", 0.6), ex("n2", "number", 0.6)]
    p = np.array([0.9] * 20 + [0.1, 0.9] + [0.9, 0.2])
    # An off-topic question the probability cannot tell from the answerable ones (0.9) and
    # the cosine can (0.2 against 0.6).
    examples = answerable + on_topic + [ex("o1", "off-topic", 0.2), ex("o2", "off-topic", 0.1)]
    assert with_cosine(p, examples, 0.3, MAX_FALSE_ABSTAIN)
    assert not with_cosine(p, examples, None, MAX_FALSE_ABSTAIN)
    assert guarded(p, examples, 0.3).tolist()[-2:] == [-1.0, -1.0]
    # The same guard where it would also abstain on two answerable questions (10% > 5%).
    low = [ex("a0", "answerable", 0.2), ex("a1", "answerable", 0.2), *answerable[2:]]
    assert not with_cosine(p, low + examples[20:], 0.3, MAX_FALSE_ABSTAIN)
    # Nothing gained (every off-topic question already below the cut): not kept.
    p_low = p.copy()
    p_low[-2] = 0.05
    assert not with_cosine(p_low, examples, 0.3, MAX_FALSE_ABSTAIN)


def test_the_cosine_guard_is_kept_where_only_with_it_the_rule_beats_the_cosine_rule() -> None:
    def ex(id_: str, kind: str, cosine: float) -> Example:
        return Example(id_, kind, {}, best_cosine=cosine)

    # One answerable question the cosine rule abstains on (a0, cosine 0.2): with the guard
    # the bound (1 of 20) is spent on it, so the cut must stay at or below a1's 0.35 and
    # on-topic n2 (0.36) goes through; without the guard, off-topic o1 (0.9) goes through,
    # which the cosine rule catches. Fewer on-topic with the guard, but only with it does
    # the rule beat the cosine rule.
    answerable = [ex("a0", "answerable", 0.2)] + [ex(f"a{i}", "answerable", 0.6)
                                                  for i in range(1, 20)]
    examples = [*answerable, ex("n1", "nearby", 0.6), ex("n2", "number", 0.6),
                ex("o1", "off-topic", 0.2)]
    p = np.array([0.9] + [0.35] + [0.9] * 18 + [0.1, 0.36, 0.9])
    plain_cut = operating_point(p, examples, MAX_FALSE_ABSTAIN)
    assert not beats_cosine(p, plain_cut, examples, 0.3, MAX_FALSE_ABSTAIN)
    both = guarded(p, examples, 0.3)
    assert beats_cosine(both, operating_point(both, examples, MAX_FALSE_ABSTAIN), examples,
                        0.3, MAX_FALSE_ABSTAIN)
    assert with_cosine(p, examples, 0.3, MAX_FALSE_ABSTAIN)


def test_auto_prefers_a_decision_only_where_it_beat_the_cosine_rule() -> None:
    def ex(id_: str, kind: str, cosine: float) -> Example:
        return Example(id_, kind, {}, best_cosine=cosine)

    examples = [ex(f"a{i}", "answerable", 0.6) for i in range(20)] + [
        ex("n1", "nearby", 0.6), ex("n2", "number", 0.6), ex("o1", "off-topic", 0.2)]
    p = np.array([0.9] * 20 + [0.1, 0.9, 0.1])
    assert beats_cosine(p, 0.5, examples, 0.3, MAX_FALSE_ABSTAIN)  # on-topic 1/2 against 0/2
    # The off-topic question let through where the cosine rule catches it: not preferred.
    assert not beats_cosine(np.array([*p[:-1], 0.9]), 0.5, examples, 0.3, MAX_FALSE_ABSTAIN)
    # Past the false-abstention bound (2 of 20 answerable): not preferred.
    assert not beats_cosine(np.array([0.1, 0.1, *p[2:]]), 0.5, examples, 0.3,
                            MAX_FALSE_ABSTAIN)
    # The setting: auto takes a preferred decision, never one that is not.
    settings = Settings(model="hash:64")
    for preferred, rule, fitted in ((True, "auto", True), (False, "auto", False),
                                    (False, "fitted", True), (True, "cosine", False)):
        decision = DECISION.model_copy(update={"preferred": preferred})
        chosen = settings.model_copy(update={"answerable_rule": rule})
        assert Rule(decision, fitted, settings.abstain_threshold) == _rule_of(chosen, decision)


def _rule_of(settings: Settings, decision: Decision) -> Rule:
    from unittest import mock

    with mock.patch("korea_qa.reading.answerability.decision_for", return_value=decision):
        return Rule.of(settings)


def test_operating_point_never_exceeds_the_false_abstention_limit() -> None:
    examples = [Example("a1", "answerable", {}), Example("a2", "answerable", {}),
                Example("n1", "nearby", {}), Example("n2", "entity", {})]
    p = np.array([0.2, 0.8, 0.1, 0.5])
    assert operating_point(p, examples, max_false=0.0) == pytest.approx(0.15)  # between 0.1/0.2
    assert operating_point(p, examples, max_false=0.5) == pytest.approx(0.65)  # between 0.5/0.8


def test_search_reports_probability_only_with_a_decision_for_its_model(
        built: Settings, tmp_path: Path) -> None:
    embedder = HashEmbedder(64)
    view = open_view(built)
    plain = Searcher(view, lambda q: embedder.encode([q])[0], built)
    result = plain.search("When will rail traffic resume?")
    assert plain.rule.decision is None and result.probability is None  # fitted for MiniLM only
    assert set(result.signals) >= {"cos_passage", "type_missing", "names_apart",
                                   "names_missing"}
    path = tmp_path / "decision.json"
    path.write_text(DECISION.model_copy(update={"model": "hash:64"}).model_dump_json())
    for rule in ("cosine", "fitted"):
        settings = built.model_copy(update={"answerability_file": path, "answerable_rule": rule})
        fitted = Searcher(view, lambda q: embedder.encode([q])[0], settings)
        again = fitted.search("When will rail traffic resume?")
        assert again.probability == pytest.approx(DECISION.probability(again.signals))
        expected = (again.probability >= DECISION.threshold if rule == "fitted"
                    else again.best_cosine >= built.abstain_threshold)
        assert again.answerable is bool(expected)
    assert fitted.search("the of and").probability == 0.0


def test_the_rule_is_the_one_for_the_reader_that_runs(built: Settings, tmp_path: Path) -> None:
    # A bench runs the sentence reader beside settings that name the trained one: the trained
    # reader's decision needs `read_best`, which the sentence reader never gives.
    from korea_qa.reading.reader import load_reader

    embedder = HashEmbedder(64)
    reads = DECISION.answer.model_copy(update={
        "features": ("read_best",), "mean": (0.0,), "scale": (1.0,), "coef": (1.0,)})
    path = tmp_path / "decision-trained.json"
    path.write_text(DECISION.model_copy(update={"model": "hash:64", "reader": "trained",
                                                "answer": reads}).model_dump_json())
    settings = built.model_copy(update={"answerability_file": path, "reader": "trained",
                                        "answerable_rule": "fitted"})
    plain = Searcher(open_view(built), lambda q: embedder.encode([q])[0], settings,
                     reader=load_reader("sentence"))
    assert plain.rule.decision is None
    result = plain.search("When will rail traffic resume?")
    assert result.probability is None and "read_best" not in result.signals
