"""The answerability decision's parts, with hand-made inputs: question types, the signals read
from a pool of passages, the fitted model's arithmetic, fitting, and the search wiring."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from conftest import open_view
from korea_qa import answer_types
from korea_qa.answerability import Decision, Logit, Pool, judge, signals
from korea_qa.embed import HashEmbedder
from korea_qa.evaluate.fit import Example, Logistic, Parts, fit, operating_point
from korea_qa.explain import QuestionTerm
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
    question = "How many tons of cargo passed through Rajin in 2019?"
    assert answer_types.holds("number", "In 2015, 1,200,000 tons went through.", question)
    assert not answer_types.holds("number", "Cargo went through Rajin in 2019.", question)
    assert answer_types.holds("number", "The fifteen members approved it.", question)
    assert answer_types.holds("date", "Until the 1970s it grew.", "When did it grow?")
    assert answer_types.holds("date", "It reopened in September.", "When did it reopen?")
    assert not answer_types.holds("date", "It reopened after a while.", "When did it reopen?")
    who = "Who is Moscow's envoy in Pyongyang?"
    assert answer_types.holds("person", "Ambassador Alexander Matsegora said so.", who)
    assert not answer_types.holds("person", "The North Korean side and the Soviet Union.", who)
    assert answer_types.holds("other", "anything", "Why?")


def _passage(text: str, key: int) -> Passage:
    bounds, start = [], 0
    for part in text.split(". "):
        end = start + len(part) + (1 if not part.endswith(".") else 0)
        bounds.append((start, min(end, len(text))))
        start = end + 1
    return Passage(doc_id="d", position=key, paragraph=1, start=0, end=len(text), text=text,
                   sentences=tuple(bounds))


def _terms(question: str, dfs: dict[str, int]) -> list[QuestionTerm]:
    from korea_qa.tokenize import token_spans

    return [QuestionTerm(t.term, question[t.start:t.end], t.start, t.end, dfs.get(t.term, 3))
            for t in token_spans(question)]


def test_signals_read_types_names_and_missing_words() -> None:
    rail = _passage("The North plans to resume rail traffic. Trade halted in 2020.", 0)
    lavrov = _passage("Sergey Lavrov met Rex Tillerson. They talked", 1)
    choe = _passage("Choe Son Hui wrote letters. The letters were sent", 2)
    pool = Pool(read=[rail, lavrov], sentence_cosines=[np.array([0.7, 0.3]),
                                                       np.array([0.5, 0.4])],
                lexical=[rail, lavrov, choe], best_cosine=0.6, best_bm25=3.0, agree=True)
    question = "How many trains did Choe Son Hui and Sergey Lavrov count in Vostochny?"
    values = signals(question, _terms(question, {"vostochni": 0}), pool, 41)
    # The closest sentence (0.7) and the one within 0.05 of it hold no number: the 2020 one
    # is 0.3, too far.
    assert values["type_missing"] == 1.0
    # Choe and Lavrov are in the articles but in no one passage together; Vostochny in none.
    assert values["names_apart"] == 1.0 and values["names_missing"] == 1.0
    assert values["cos_passage"] == 0.6 and values["cos_sentence"] == pytest.approx(0.7)
    together = "What did Sergey Lavrov tell Rex Tillerson?"
    values = signals(together, _terms(together, {}), pool, 41)
    assert (values["type_missing"], values["names_apart"], values["names_missing"]) == (0, 0, 0)


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
    pool = Pool([rail], [np.array([0.7, 0.3])], [rail], 0.7, 3.0, True)
    terms = _terms("Will rail traffic resume?", {})
    common = {"question": "Will rail traffic resume?", "terms": terms, "pool": pool,
              "n_passages": 41}
    assert judge(**common, decision=None, use_decision=True, has_terms=True,
                 cosine_rule=True) == judge(**common, decision=None, use_decision=False,
                                            has_terms=True, cosine_rule=True)
    plain = judge(**common, decision=None, use_decision=False, has_terms=True, cosine_rule=False)
    assert (plain.answerable, plain.probability) == (False, None)
    fitted = judge(**common, decision=DECISION, use_decision=True, has_terms=True,
                   cosine_rule=False)
    assert fitted.probability == pytest.approx(DECISION.probability(fitted.signals))
    assert fitted.answerable is (fitted.probability >= DECISION.threshold) is True
    reported = judge(**common, decision=DECISION, use_decision=False, has_terms=True,
                     cosine_rule=False)
    assert (reported.answerable, reported.probability) == (False, fitted.probability)
    empty = judge(**common, decision=DECISION, use_decision=True, has_terms=False,
                  cosine_rule=True)
    assert (empty.answerable, empty.probability) == (False, 0.0)


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
    assert plain.decision is None and result.probability is None  # fitted for MiniLM only
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
                    else again.confidence >= built.abstain_threshold)
        assert again.answerable is bool(expected)
    assert fitted.search("the of and").probability == 0.0
