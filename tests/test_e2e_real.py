"""End to end with the real model on the real corpus, through the HTTP API."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from korea_qa.api import create_app
from korea_qa.settings import Settings

pytestmark = pytest.mark.real_model

# (question, doc_id, a phrase the answering passage contains)
QUESTIONS = [
    ("When is North Korea expected to restart rail freight to Russia?", "russia-dprk-thaw",
     "resume rail traffic with Russia in September"),
    ("Which countries joined North Korea in opposing the UN demand that Russia leave Ukraine?",
     "russia-dprk-thaw", "Belarus, Eritrea and Syria"),
    ("How did Kyiv respond when Pyongyang recognised the Donbas republics?", "russia-dprk-thaw",
     "severed diplomatic relations"),
    ("How many North Korean labourers might Russia invite to build in its Far East?",
     "russia-dprk-thaw", "between 20,000 and 50,000"),
    ("Where might Russian tourists holiday in North Korea instead of Spain?", "russia-dprk-thaw",
     "beaches of Wonsan"),
    ("What debt did Putin forgive North Korea, and when?", "russia-last-lifeline",
     "$10bln debt"),
    ("What did the Soviet air force do during the Korean War?", "russia-last-lifeline",
     "sent its aviation to attack American bombers"),
    ("How much did it cost to rebuild the railway between Khasan and Rajin?",
     "russia-last-lifeline", "nearly $300 million"),
    ("How many North Korean guest workers were in Russia in 2017?", "russia-last-lifeline",
     "roughly 30,000 North Korean gastarbeiters"),
    ("Who carried a message from Pyongyang to Rex Tillerson?", "russia-last-lifeline",
     "delivered a memo to Rex Tillerson"),
]
OFF_TOPIC = [
    "What is a good recipe for sourdough pizza?",
    "Who won the 2018 FIFA World Cup final?",
    "How do I change the oil in a diesel car?",
]


@pytest.fixture(scope="module")
def real_client(real_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(real_settings)) as client:
        yield client


@pytest.mark.parametrize(("question", "doc_id", "phrase"), QUESTIONS)
def test_answering_passage_is_in_the_top_three(real_client: TestClient, question: str,
                                               doc_id: str, phrase: str) -> None:
    body = real_client.get("/api/search", params={"q": question, "k": 3}).json()
    found = [r for r in body["results"]
             if r["citation"]["doc_id"] == doc_id and phrase in r["text"]]
    assert found, [r["text"][:80] for r in body["results"]]
    assert body["answerable"] is True


@pytest.mark.parametrize("question", OFF_TOPIC)
def test_off_topic_questions_are_not_answerable(real_client: TestClient, question: str) -> None:
    body = real_client.get("/api/search", params={"q": question}).json()
    assert body["answerable"] is False
    assert len(body["results"]) == 5  # the closest passages are still shown
