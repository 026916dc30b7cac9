"""Questions of our own over real news pages, in the reading task's records.

The pages are the article-extraction benchmark's (`../shared/benchmarks/article-extraction`,
the article body a person marked on each saved page); the questions, in
`eval/news_qa/<page id>.jsonl`, were written for korea-qa (eval/news_qa/README.md says by
whom and how they were checked): answerable ones with an answer that is the page's own
characters inside an evidence sentence, and on-topic unanswerable ones of the gold set's
kinds. They are what SQuAD is not: news text, questions reworded away from the sentence.

Each page becomes the passages the service's own chunker cuts from it (`chunk_article`),
and each passage a `squad.Paragraph`, so every SQuAD tool reads them (pairs to learn from,
the reading task, the corpus run):
- an answerable question belongs to the passage holding its answer (the evidence sentence
  located in the page, the answer inside it);
- an unanswerable one to the passage sharing most of its words (ties: the earlier), the
  passage a search would most likely put before it.

The split is by page, like SQuAD's by article: the pages ordered by the sha256 of their id;
the first TEST_PAGES are the test part (nothing is tuned or trained on them), the next
VALIDATION_PAGES validation, the rest training.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from korea_qa.analysis.tokenize import tokenize
from korea_qa.errors import KoreaQAError
from korea_qa.evaluate.squad import Paragraph, Question
from korea_qa.library.chunk import chunk_article
from korea_qa.records import Article, Passage

TEST_PAGES = 6
VALIDATION_PAGES = 4
PAGES_FILE = "ground-truth.json"
QUESTIONS = Path(__file__).resolve().parents[3] / "eval" / "news_qa"


@dataclass(frozen=True, slots=True)
class Loaded:
    """The pages as paragraphs, by page id, and the questions that could not be placed."""

    pages: dict[str, list[Paragraph]]
    dropped: tuple[str, ...]
    kinds: dict[str, str]  # question id -> "answerable" or its on-topic kind


def load(benchmark: Path, questions: Path = QUESTIONS) -> Loaded:
    """Every page that has a question file, cut into passages with its questions placed."""
    bodies = json.loads((benchmark / PAGES_FILE).read_text(encoding="utf-8"))
    pages: dict[str, list[Paragraph]] = {}
    dropped: list[str] = []
    kinds: dict[str, str] = {}
    for path in sorted(questions.glob("*.jsonl")):
        if path.stem not in bodies:
            raise KoreaQAError(f"{path}: no page {path.stem} in {benchmark / PAGES_FILE}")
        body = bodies[path.stem]["articleBody"]
        passages = chunk_article(Article(doc_id=path.stem, title=path.stem, text=body))
        placed: list[list[Question]] = [[] for _ in passages]
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                kinds[item["id"]] = item["kind"]
                where = _place(item, body, passages)
                if where is None:
                    dropped.append(item["id"])
                else:
                    placed[where[0]].append(where[1])
        pages[path.stem] = [Paragraph(path.stem, p.position, p.text, tuple(qs))
                            for p, qs in zip(passages, placed, strict=True)]
    return Loaded(pages, tuple(dropped), kinds)


def _place(item: dict[str, Any], body: str,
           passages: Sequence[Passage]) -> tuple[int, Question] | None:
    if item["kind"] != "answerable":
        asked = set(tokenize(item["question"]))
        best = max(range(len(passages)),
                   key=lambda i: (len(asked & set(tokenize(passages[i].text))), -i))
        return best, Question(item["id"], item["question"], (), True)
    found = body.find(item["evidence"])
    start = found + item["evidence"].find(item["answer"]) if found >= 0 else -1
    end = start + len(item["answer"])
    for i, p in enumerate(passages):
        if start >= 0 and p.start <= start and end <= p.end:
            return i, Question(item["id"], item["question"],
                               ((item["answer"], start - p.start),), True)
    return None  # the answer crosses two passages (or its evidence is not in the page)


def split(pages: Sequence[str]) -> dict[str, list[str]]:
    """Page ids of each part, by the rule in this module's docstring."""
    ordered = sorted(pages, key=lambda p: hashlib.sha256(p.encode()).hexdigest())
    return {"test": sorted(ordered[:TEST_PAGES]),
            "validation": sorted(ordered[TEST_PAGES:TEST_PAGES + VALIDATION_PAGES]),
            "train": sorted(ordered[TEST_PAGES + VALIDATION_PAGES:])}
