"""Our own news questions as reading-task records (korea_qa.evaluate.news_qa)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from korea_qa.evaluate import news_qa

FIRST = ("The harbour authority opened a new ferry pier in March. It cost 40 million euros, "
         "paid by the regional government. Officials expect ten sailings a week.")
SECOND = ("Fishermen protested against the pier in April. They said the dredging had "
          "driven the cod away from the bay. The authority promised a study.")


def _benchmark(tmp: Path, lines: list[dict[str, object]]) -> tuple[Path, Path]:
    body = FIRST + "\n\n" + " ".join([SECOND] * 5)  # the second paragraph fills passages
    (tmp / news_qa.PAGES_FILE).write_text(json.dumps({"pg1": {"url": "u",
                                                              "articleBody": body}}))
    questions = tmp / "questions"
    questions.mkdir()
    (questions / "pg1.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return tmp, questions


def test_questions_go_to_the_passage_holding_the_answer_or_nearest_in_words(
        tmp_path: Path) -> None:
    folder, questions = _benchmark(tmp_path, [
        {"id": "a1", "page": "pg1", "kind": "answerable",
         "question": "How much did the harbour's new landing stage cost?",
         "answer": "40 million euros", "evidence": "It cost 40 million euros, paid by the "
         "regional government."},
        {"id": "a2", "page": "pg1", "kind": "answerable", "question": "What fish left?",
         "answer": "the cod", "evidence": "Not a sentence of the page."},
        {"id": "u1", "page": "pg1", "kind": "nearby", "answer": None, "evidence": None,
         "question": "What did the fishermen say the dredging did to the herring?",
         "checked": "herring 0"},
    ])
    loaded = news_qa.load(folder, questions)
    paragraphs = loaded.pages["pg1"]
    assert len(paragraphs) >= 2 and loaded.dropped == ("a2",)
    placed = {q.id: (p, q) for p in paragraphs for q in p.questions}
    paragraph, question = placed["a1"]
    (text, start), = question.answers
    assert paragraph.context[start:start + len(text)] == "40 million euros"
    paragraph, question = placed["u1"]
    assert question.answers == () and "dredging" in paragraph.context


def test_the_split_is_by_page_and_fixed_by_the_rule() -> None:
    pages = [f"page{i:02d}" for i in range(26)]
    parts = news_qa.split(pages)
    assert (len(parts["test"]), len(parts["validation"]), len(parts["train"])) == (6, 4, 16)
    assert sorted(p for part in parts.values() for p in part) == pages
    assert news_qa.split(list(reversed(pages))) == parts


PAGES = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / \
    "article-extraction"


@pytest.mark.skipif(not (PAGES / news_qa.PAGES_FILE).is_file(),
                    reason=f"the saved pages are not here: {PAGES}")
def test_every_question_written_is_well_formed_and_placed() -> None:
    checker = subprocess.run([sys.executable, str(news_qa.QUESTIONS / "check.py")],
                             capture_output=True, text=True, check=False)
    assert checker.returncode == 0, checker.stdout
    loaded = news_qa.load(PAGES)
    questions = [q for ps in loaded.pages.values() for p in ps for q in p.questions]
    assert len(loaded.pages) == 26 and loaded.dropped == () and len(questions) == 701
    for paragraphs in loaded.pages.values():
        for p in paragraphs:
            for q in p.questions:
                for text, start in q.answers:
                    assert p.context[start:start + len(text)] == text
