"""The gold question set: judge hits, run the questions against a search target, summarise.

A passage is a hit when it holds the expected answer and most of the evidence sentence
(eval/README.md, "Judging a hit"); the rule reads passage text only, so it holds for any
chunking. A search target is either the in-process `Searcher` or a running server (`--url`).
Loading and validating the file, and its train/test split, are in `goldfile`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from korea_qa.errors import KoreaQAError
from korea_qa.evaluate import metrics, squad
from korea_qa.evaluate.goldfile import KINDS, ON_TOPIC_KINDS, GoldItem, GoldSetError

# The gold file's loader, re-exported: callers import it from here as before.
from korea_qa.evaluate.goldfile import STYLES as STYLES
from korea_qa.evaluate.goldfile import load_gold as load_gold
from korea_qa.evaluate.goldfile import select_split as select_split
from korea_qa.evaluate.spans import answer_text, reads_spans
from korea_qa.records import Article

EVIDENCE_SHARE = 0.6
_WORD_RE = re.compile(r"[^\W_]+")
# Fixed here, not borrowed from a library, so that a library upgrade cannot move the figures.
# Only words longer than 3 characters can be content words, so shorter ones are not listed.
_STOPWORD_TEXT = """
about above after again against also because been before being below between both could
does doing down during each even from further have having here hers herself himself into
itself just many more most much must only other ours over same should some still such than
that their theirs them themselves then there these they this those through under until upon
very were what when where which while whom whose will with would your yours
"""
STOPWORDS: frozenset[str] = frozenset(_STOPWORD_TEXT.split())


def check_against_corpus(items: Sequence[GoldItem], articles: Mapping[str, Article],
                         path: Path) -> None:
    """Every answerable item names a loaded article whose text holds its evidence."""
    for item in items:
        if not item.answerable:
            continue
        article = articles.get(item.doc_id or "")
        if article is None:
            raise GoldSetError(path, item.line, f"doc_id {item.doc_id!r} is not in the index "
                               f"(have {', '.join(sorted(articles))})")
        if normalise(item.evidence or "") not in normalise(article.text):
            raise GoldSetError(path, item.line,
                               f"evidence of {item.id} is not in the text of {item.doc_id}")


# ---------------------------------------------------------------- judging


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def content_words(text: str) -> set[str]:
    """Lowercased alphanumeric tokens longer than 3 characters, minus STOPWORDS."""
    return {w for w in _WORD_RE.findall(text.lower()) if len(w) > 3 and w not in STOPWORDS}


def evidence_share(passage_text: str, evidence: str) -> float:
    wanted = content_words(evidence)
    if not wanted:
        return 1.0
    return len(wanted & content_words(passage_text)) / len(wanted)


def is_hit(passage_text: str, item: GoldItem) -> bool:
    if item.answer is None or item.evidence is None:
        return False
    return (normalise(item.answer) in normalise(passage_text)
            and evidence_share(passage_text, item.evidence) >= EVIDENCE_SHARE)


def answer_in(span: str, item: GoldItem) -> bool:
    return item.answer is not None and normalise(item.answer) in normalise(span)


def span_holds(span: str, item: GoldItem) -> bool:
    """A span holds the gold answer when it does once both are normalised as SQuAD's official
    script normalises answers (articles and punctuation dropped): the span "Vietnam War"
    holds the answer "the Vietnam War", as it scores an exact match there."""
    wanted = squad.normalize(item.answer or "")
    return bool(wanted) and f" {wanted} " in f" {squad.normalize(span)} "


# ---------------------------------------------------------------- search targets


@dataclass(frozen=True, slots=True)
class Returned:
    key: str  # identifies the passage across questions (its key, or doc_id:start over HTTP)
    doc_id: str
    paragraph: int
    text: str
    answer: str  # the answer sentence the service picked in this passage
    span: str | None = None  # the answer inside it, when the reader points at one


@dataclass(frozen=True, slots=True)
class Response:
    passages: tuple[Returned, ...]
    answerable: bool
    best_cosine: float | None  # best dense cosine; None when the target does not expose it (HTTP)
    latency_ms: float
    probability: float | None = None  # the fitted answerability probability (API `confidence`)
    reads_spans: bool = False  # the reader points at spans (`korea_qa.evaluate.spans`)


class SearchTarget(Protocol):
    """Where the gold questions are asked (not to be confused with the inference backend)."""

    name: str

    def search(self, question: str, k: int, mode: str) -> Response: ...

    def qrels(self, item: GoldItem) -> dict[str, int] | None:
        """Every passage of the index judged a hit, or None when the target cannot list them."""
        ...


class InProcess:
    """The `Searcher` of this process; latency is the wall time of `Searcher.search`."""

    name = "in-process"

    def __init__(self, searcher: Any) -> None:
        self.searcher = searcher

    def search(self, question: str, k: int, mode: str) -> Response:
        started = time.perf_counter()
        result = self.searcher.search(question, k=k, mode=mode)
        latency = (time.perf_counter() - started) * 1000.0
        passages = tuple(
            Returned(h.passage.key, h.passage.doc_id, h.passage.paragraph, h.passage.text,
                     h.answer.text, None if h.span is None else h.span.text)
            for h in result.hits)
        return Response(passages, result.answerable, result.best_cosine, latency,
                        result.probability, reads_spans(self.searcher.reader))

    def qrels(self, item: GoldItem) -> dict[str, int]:
        return {p.key: 1 for p in self.searcher.view.iter_passages() if is_hit(p.text, item)}


class OverHttp:
    """A running server's GET /api/search; latency is client-side wall time per request."""

    name = "http"

    def __init__(self, client: Any) -> None:
        self.client = client  # an httpx.Client with base_url (FastAPI's TestClient is one)

    def search(self, question: str, k: int, mode: str) -> Response:
        started = time.perf_counter()
        reply = self.client.get("/api/search", params={"q": question, "k": k, "mode": mode})
        latency = (time.perf_counter() - started) * 1000.0
        body = reply.json()
        if reply.status_code != 200:
            message = body.get("error", {}).get("message", reply.text[:200])
            raise KoreaQAError(f"server answered {reply.status_code} to {question!r}: {message}")
        passages = tuple(
            Returned(f"{r['citation']['doc_id']}:{r['citation']['start']}",
                     r["citation"]["doc_id"], r["citation"]["paragraph"], r["text"],
                     r["answer"]["text"], (r["answer"].get("span") or {}).get("text"))
            for r in body["results"])
        # A server does not say which reader it runs: any span shows one that reads spans.
        return Response(passages, bool(body["answerable"]), None, latency,
                        body.get("confidence"), any(p.span is not None for p in passages))

    def qrels(self, item: GoldItem) -> None:
        return None


# ---------------------------------------------------------------- running


@dataclass(frozen=True, slots=True)
class QuestionResult:
    id: str
    mode: str
    style: str
    question: str
    expected: str | None
    answerable: bool  # what the gold set says
    kind: str | None  # unanswerable items: why (goldfile.KINDS)
    split: str | None  # the part of the gold set the item is in
    predicted_answerable: bool  # what the service said
    best_cosine: float | None  # the service's best dense cosine (not the API's `confidence`)
    latency_ms: float
    relevant: int  # passages of the index judged hits (returned hits when unknown)
    first_hit: int | None  # 1-based rank of the first hit in the top k
    reciprocal_rank: float
    ndcg: float
    answer_ok: bool  # expected answer inside the answer span of the first hit passage
    top: dict[str, Any] | None  # rank 1: doc_id, paragraph, first 100 characters
    probability: float | None = None  # the fitted answerability probability, when known
    # Answerable items: the rank-1 result's span (its answer sentence when the reader reads
    # no spans, `korea_qa.evaluate.spans`) holds the expected answer.
    first_span_ok: bool | None = None
    # ... and its official SQuAD F1 (0-100) against the expected answer: credit for "five"
    # where the gold set wrote "the five countries", which holding it does not give.
    first_span_f1: float | None = None


@dataclass
class GoldRun:
    target: str
    k: int
    modes: tuple[str, ...]
    questions: list[QuestionResult] = field(default_factory=list)
    reads_spans: bool = False  # some response came from a reader that points at spans


def run_gold(items: Sequence[GoldItem], target: SearchTarget, *, modes: Sequence[str],
             k: int = 10) -> GoldRun:
    run = GoldRun(target=target.name, k=k, modes=tuple(modes))
    if items:
        target.search(items[0].question, k, modes[0])  # warm-up, untimed: lazy model init
    judged = {item.id: target.qrels(item) for item in items if item.answerable}
    for mode in modes:
        for item in items:
            response = target.search(item.question, k, mode)
            run.reads_spans = run.reads_spans or response.reads_spans
            run.questions.append(judge(item, response, mode, k, judged.get(item.id)))
    return run


def judge(item: GoldItem, response: Response, mode: str, k: int,
          qrels: dict[str, int] | None) -> QuestionResult:
    passages = response.passages[:k]
    hits = [p for p in passages if is_hit(p.text, item)]
    if qrels is None:
        # Without the full index, count the returned hits as all there are (at least one):
        # nDCG is then exact whenever only one passage holds the evidence.
        qrels = {p.key: 1 for p in hits} or {"(not returned)": 1}
    ranked = [p.key for p in passages]
    first = passages[0] if passages else None
    text = None if first is None else answer_text(first.span, first.answer, response.reads_spans)
    return QuestionResult(
        id=item.id, mode=mode, style=item.style, question=item.question,
        expected=item.answer, answerable=item.answerable, kind=item.kind, split=item.split,
        predicted_answerable=response.answerable, best_cosine=response.best_cosine,
        latency_ms=response.latency_ms, relevant=sum(1 for r in qrels.values() if r > 0),
        first_hit=metrics.first_relevant_rank(ranked, qrels, k) if item.answerable else None,
        reciprocal_rank=metrics.reciprocal_rank(ranked, qrels, k) if item.answerable else 0.0,
        ndcg=metrics.ndcg_at_k(ranked, qrels, k) if item.answerable else 0.0,
        answer_ok=bool(hits) and answer_in(hits[0].answer, item),
        top=None if first is None else {"doc_id": first.doc_id, "paragraph": first.paragraph,
                                        "text": first.text[:100]},
        probability=response.probability,
        first_span_ok=None if not item.answerable else text is not None and span_holds(
            text, item),
        first_span_f1=None if not item.answerable else 0.0 if text is None else 100.0 * squad.f1(
            text, item.answer or ""),
    )


def summarise(run: GoldRun, mode: str) -> dict[str, Any]:
    """One mode's figures: retrieval over answerable items, abstention over both kinds."""
    rows = [q for q in run.questions if q.mode == mode]
    answerable = [q for q in rows if q.answerable]
    unanswerable = [q for q in rows if not q.answerable]
    ranks = [q.first_hit for q in answerable]
    summary: dict[str, Any] = {
        "mode": mode,
        "questions": len(rows),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "hit_at": {str(n): metrics.mean(1.0 if r is not None and r <= n else 0.0 for r in ranks)
                   for n in range(1, run.k + 1)},
        f"mrr@{run.k}": metrics.mean(q.reciprocal_rank for q in answerable),
        f"ndcg@{run.k}": metrics.mean(q.ndcg for q in answerable),
        "answer_accuracy": metrics.mean(float(q.answer_ok) for q in answerable),
        "hit@5_by_style": {
            style: metrics.mean(float(q.first_hit is not None and q.first_hit <= 5)
                                for q in answerable if q.style == style)
            for style in sorted({q.style for q in answerable})},
        "abstention_accuracy": metrics.mean(float(not q.predicted_answerable)
                                            for q in unanswerable),
        "false_abstain_rate": metrics.mean(float(not q.predicted_answerable)
                                           for q in answerable),
        "abstention_by_kind": abstention_by_kind(rows),
        "latency_ms": {"p50": metrics.percentile((q.latency_ms for q in rows), 50),
                       "p95": metrics.percentile((q.latency_ms for q in rows), 95)},
        "best_threshold": None,
    }
    pos = [q.best_cosine for q in answerable if q.best_cosine is not None]
    neg = [q.best_cosine for q in unanswerable if q.best_cosine is not None]
    if pos and neg:
        choice = metrics.best_threshold(pos, neg)
        summary["best_threshold"] = {
            "threshold": round(choice.threshold, 4),
            "balanced_accuracy": choice.balanced_accuracy,
            "answerable_kept": choice.positive_rate,
            "unanswerable_abstained": choice.negative_rate,
        }
    return summary


def abstention_by_kind(rows: Sequence[QuestionResult],
                       answerable: Callable[[QuestionResult], bool] | None = None,
                       ) -> dict[str, dict[str, Any]]:
    """How often the service abstained, per group of questions: each kind of unanswerable
    question, the on-topic kinds together, and the answerable questions (false abstention).
    A group without questions has rate None, not 0. `answerable` judges a question by another
    rule than the service's answer (e.g. a threshold on its best cosine)."""
    said = answerable or (lambda q: q.predicted_answerable)
    groups: dict[str, list[QuestionResult]] = {
        kind: [q for q in rows if not q.answerable and q.kind == kind] for kind in KINDS}
    groups["on-topic"] = [q for q in rows if not q.answerable and q.kind in ON_TOPIC_KINDS]
    groups["answerable"] = [q for q in rows if q.answerable]
    order = ("off-topic", "on-topic", *ON_TOPIC_KINDS, "answerable")
    out: dict[str, dict[str, Any]] = {}
    for name in order:
        abstained = sum(1 for q in groups[name] if not said(q))
        total = len(groups[name])
        out[name] = {"questions": total, "abstained": abstained,
                     "rate": abstained / total if total else None}
    return out


def misses(run: GoldRun, mode: str) -> list[QuestionResult]:
    """Answerable questions whose rank-1 passage is not a hit (first_hit says where it was)."""
    return [q for q in run.questions if q.mode == mode and q.answerable and q.first_hit != 1]


def indexed_articles(view: Any) -> dict[str, Article]:
    """Every article of a store view, by doc_id (the gold set is checked against them)."""
    return {row["doc_id"]: view.article(row["doc_id"]).article
            for row in view.articles(limit=max(view.count_articles(), 1))}


def open_searcher(settings: Any, *, build_if_stale: bool = True, embedder: Any = None) -> Any:
    """A Searcher over `settings.index_dir`, bringing the index in step with the corpus first.

    `embedder` reuses a model already loaded (tests share one); by default one is loaded.
    """
    from korea_qa.errors import IndexNotReady
    from korea_qa.library.lifecycle import Library
    from korea_qa.models.embed import load_embedder
    from korea_qa.reading.reader import reader_for
    from korea_qa.search import Searcher

    embedder = embedder or load_embedder(settings)
    reader = reader_for(settings)
    library = Library(settings, embedder)
    plan = library.plan()
    reason = plan.reason()
    if reason is not None and not build_if_stale:
        raise IndexNotReady(reason)
    if reason is not None:
        library.sync()
    return Searcher(library.view(), lambda q: embedder.encode([q])[0], settings, reader=reader)
