"""SQuAD test articles as a corpus for the service: every paragraph indexed, every question
asked through the real `Searcher` (the setting's reader and answerability rule), and judged.

Articles: each SQuAD article is one document (doc_id the slug of its title), its paragraphs
joined by blank lines and cut into passages by the service's own chunker, as any article
added to the service is, so the figures say what the service does with such text; paragraphs
of about 120 words often become two passages. The index is built with the real embedder
into `<cache_dir>/squad-index/<hash of the articles>/` (its own corpus and index folders) and
reused while the articles and the index settings stay the same; passage vectors go through
the benchmark embedding cache, so a rebuild after a settings change embeds nothing new.

The rules (written to the result, `RULES`):
- A passage is a **hit** for an answerable question when it comes from the question's
  paragraph (its characters overlap that paragraph's) and holds one of the question's gold
  answers (SQuAD-normalised text, matched on word boundaries). hit@n is over answerable
  questions.
- **Span F1** of the first result: SQuAD's official F1 of its answer text against the gold
  answers (best over them), over answerable questions, whether or not the service
  abstained. The answer text is the result's span; a reader that reads no spans (`sentence`)
  offers its answer sentence instead, and a span reader that found none offers "" (scored 0).
  No result at all scores 0.
- **F1, SQuAD 2.0 rules**, over every question: an abstention is the empty answer (1 on an
  unanswerable question, 0 on an answerable one); otherwise the first result's answer text.
- **Abstained**: `answerable` false, as a share of unanswerable and of answerable questions.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from korea_qa.evaluate import calibration, metrics, squad
from korea_qa.evaluate.spans import answer_text
from korea_qa.library.lifecycle import Library, Pending
from korea_qa.records import Article, Passage, SearchResult
from korea_qa.settings import Settings
from korea_qa.store.base import StoreView

RULES = {
    "hit": "passage overlaps the question's paragraph and holds a gold answer (SQuAD-"
           "normalised, on word boundaries)",
    "span_f1": "official F1 of the first result's span (its answer sentence for a reader that "
               "reads no spans; '' for a span reader that found none) vs the gold answers, "
               "answerable questions",
    "f1_v2": "SQuAD 2.0 rules, every question: an abstention is the empty answer",
    "abstained": "answerable false, share of unanswerable and of answerable questions",
}


@dataclass(frozen=True, slots=True)
class Where:
    """A SQuAD paragraph's place in its article: `article.text[start:end]` is its context."""

    doc_id: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Asked:
    """One question asked through the service, judged."""

    id: str
    answerable: bool
    abstained: bool
    probability: float | None
    first_hit: int | None  # 1-based rank of the first hit among the results (answerable)
    span_f1: float  # of the first result's answer text (0 without results)
    f1_v2: float  # SQuAD 2.0 rules: abstained is the empty answer


def as_articles(paragraphs: Mapping[str, Sequence[squad.Paragraph]]
                ) -> tuple[list[Article], dict[tuple[str, int], Where]]:
    """One article per title, paragraphs joined by blank lines; and where each paragraph
    (by title and index) lies in its article."""
    articles, where = [], {}
    for title, paras in sorted(paragraphs.items()):
        doc_id = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:80]
        parts, start = [], 0
        for p in paras:
            where[(title, p.index)] = Where(doc_id, start, start + len(p.context))
            parts.append(p.context)
            start += len(p.context) + 2
        articles.append(Article(doc_id=doc_id, title=title.replace("_", " "),
                                text="\n\n".join(parts), title_is_descriptive=True))
    return articles, where


def content_key(articles: Sequence[Article]) -> str:
    blob = json.dumps([[a.doc_id, a.title, a.text] for a in articles], ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]


def open_view(articles: Sequence[Article], settings: Settings, embedder: Any) -> StoreView:
    """The cached index of these articles (built on first use, brought in step with the
    index settings after), on the local store."""
    folder = settings.cache_dir / "squad-index" / content_key(articles)
    here = settings.model_copy(update={"corpus_dir": folder / "corpus",
                                       "index_dir": folder / "index", "store": "local"})
    library = Library(here, embedder)
    if library.engine.current() is None:
        library.put_batch([Pending(a) for a in articles])
    elif library.plan().reason() is not None:
        library.sync()
    view = library.view()
    for article in articles:  # offsets are judged on our text: the index must hold it exactly
        stored = view.article(article.doc_id)
        if stored is None or stored.article.text != article.text:
            raise RuntimeError(f"{folder}: {article.doc_id} is not stored as written")
    return view


def contains(text: str, answer: str) -> bool:
    """`answer` in `text`, both SQuAD-normalised, on word boundaries ("" never matches)."""
    wanted = squad.normalize(answer)
    return bool(wanted) and f" {wanted} " in f" {squad.normalize(text)} "


def is_hit(passage: Passage, where: Where, question: squad.Question) -> bool:
    return (passage.doc_id == where.doc_id and passage.start < where.end
            and passage.end > where.start
            and any(contains(passage.text, gold) for gold, _ in question.answers))


def judge(question: squad.Question, where: Where, result: SearchResult,
          reads_spans: bool) -> Asked:
    answerable = bool(question.answers)
    first = result.hits[0] if result.hits else None
    text = "" if first is None else answer_text(
        None if first.span is None else first.span.text, first.answer.text, reads_spans)
    hits = [h.rank for h in result.hits if is_hit(h.passage, where, question)]
    span_f1 = squad.scores(text, question)[1] if answerable else 0.0
    return Asked(id=question.id, answerable=answerable, abstained=not result.answerable,
                 probability=result.probability,
                 first_hit=min(hits) if hits and answerable else None, span_f1=span_f1,
                 f1_v2=squad.scores("" if not result.answerable else text, question)[1])


def summarise(asked: Sequence[Asked], k: int) -> dict[str, Any]:
    """hit@1, hit@n, span F1, F1 by SQuAD 2.0 rules (in %), abstention, calibration."""
    yes = [a for a in asked if a.answerable]
    no = [a for a in asked if not a.answerable]
    pct = 100.0
    return {
        "questions": len(asked), "answerable": len(yes), "unanswerable": len(no), "k": k,
        "hit_at": {str(n): pct * metrics.mean(float(a.first_hit is not None
                                                    and a.first_hit <= n) for a in yes)
                   for n in range(1, k + 1)},
        "span_f1": pct * metrics.mean(a.span_f1 for a in yes),
        "f1_v2": pct * metrics.mean(a.f1_v2 for a in asked),
        "abstained_unanswerable": pct * metrics.mean(float(a.abstained) for a in no),
        "abstained_answerable": pct * metrics.mean(float(a.abstained) for a in yes),
        "calibration": calibration.calibration([a.probability for a in asked],
                                               [a.answerable for a in asked]),
        "rules": RULES,
    }


def ask_all(searcher: Any, paragraphs: Mapping[str, Sequence[squad.Paragraph]],
            where: Mapping[tuple[str, int], Where], vectors: Mapping[str, np.ndarray],
            *, k: int, reads_spans: bool) -> list[Asked]:
    """Every SQuAD 2.0 question of these paragraphs through `searcher.search_vector`, with
    its question vector computed beforehand (`vectors`, by question text)."""
    out = []
    for title, paras in sorted(paragraphs.items()):
        for p in paras:
            for q in p.questions:
                if not q.v2:
                    continue
                text = q.text.strip()
                result = searcher.search_vector(text, vectors[text], k=k)
                out.append(judge(q, where[(title, p.index)], result, reads_spans))
    return out


def questions_of(paragraphs: Mapping[str, Sequence[squad.Paragraph]]) -> list[str]:
    """The SQuAD 2.0 questions' texts, trimmed as the service trims them, once each."""
    return list(dict.fromkeys(q.text.strip() for paras in paragraphs.values()
                              for p in paras for q in p.questions if q.v2))
