"""`korea-qa eval squad FOLDER`: the SQuAD 2.0 test articles (the split of
`korea_qa.evaluate.squad`) as a corpus for the service (`korea_qa.evaluate.squad_corpus`),
and, when the setting's reader reads spans, the standard reading task (each question with its
gold paragraph, SQuAD 2.0's official metric). Writes eval/results/squad-test.json and prints
the figures with the calibration table.

`--part validation` asks the validation articles (and news pages) instead, the same way, into
squad-validation.json: what a search setting is tuned on beside the gold set's train part,
so that nothing is chosen on a test part.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from korea_qa.evaluate import calibration, news_qa, squad, squad_corpus
from korea_qa.evaluate.embed_cache import CachedEmbedder
from korea_qa.evaluate.provenance import git_commit
from korea_qa.evaluate.spans import reads_spans
from korea_qa.settings import Settings
from korea_qa.util.files import sha256

Parts = dict[str, list[squad.Paragraph]]


def evaluate(folder: Path, settings: Settings, embedder: Any, reader: Any, *, k: int,
             mode: str, news: Path | None = None, part: str = "test") -> dict[str, Any]:
    """Everything `korea-qa eval squad` reports, as JSON-ready data; with `news` (the
    article-extraction benchmark's folder), our own news questions' pages of `part` too."""
    data = squad.load(folder)
    parts = squad.split(folder)
    test: Parts = {t: data[t] for t in parts[part]}
    validation: Parts = {t: data[t] for t in parts["validation"]}
    return {
        "part": part,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "data": {"folder": str(folder), **{name: sha256(folder / name)
                                           for name in squad.FILES.values()}},
        "split": {"test": parts["test"], "validation": parts["validation"]},
        "settings": {"model": settings.model_id(), "reader": reader.name, "mode": mode, "k": k,
                     "answerable_rule": settings.answerable_rule,
                     "chunk_max_words": settings.chunk_max_words},
        "reader": {"name": reader.name, "reads_spans": reads_spans(reader)},
        **corpus_run(test, settings, embedder, reader, k=k, mode=mode),
        "reading": reading_task(reader, test, validation),
        **({"news": news_run(news, settings, embedder, reader, k=k, mode=mode, part=part)}
           if news is not None else {}),
    }


def news_run(benchmark: Path, settings: Settings, embedder: Any, reader: Any, *, k: int,
             mode: str, part: str = "test") -> dict[str, Any]:
    """Our own questions over news pages (`korea_qa.evaluate.news_qa`), the pages of `part`
    only: the same corpus run and reading task as SQuAD's articles."""
    loaded = news_qa.load(benchmark)
    parts = news_qa.split(list(loaded.pages))
    test: Parts = {page: loaded.pages[page] for page in parts[part]}
    validation: Parts = {page: loaded.pages[page] for page in parts["validation"]}
    return {"data": {"pages": sha256(benchmark / news_qa.PAGES_FILE),
                     "questions": str(news_qa.QUESTIONS)},
            "split": {"test": parts["test"], "validation": parts["validation"]},
            "dropped": list(loaded.dropped),
            **corpus_run(test, settings, embedder, reader, k=k, mode=mode),
            "reading": reading_task(reader, test, validation)}


def corpus_run(test: Parts, settings: Settings, embedder: Any, reader: Any, *, k: int,
               mode: str) -> dict[str, Any]:
    """The test articles indexed (cached), every question asked, judged and summarised."""
    from korea_qa.search import Searcher

    started = time.perf_counter()
    articles, where = squad_corpus.as_articles(test)
    cached = CachedEmbedder(embedder, settings.cache_dir)
    view = squad_corpus.open_view(articles, settings, cached)
    texts = squad_corpus.questions_of(test)
    vectors = dict(zip(texts, cached.encode(texts, batch_size=settings.embed_batch_size),
                       strict=True))
    prepared = time.perf_counter()
    searcher = Searcher(view, lambda q: embedder.encode([q])[0],
                        settings.model_copy(update={"default_mode": mode}), reader=reader)
    asked = squad_corpus.ask_all(searcher, test, where, vectors, k=k,
                                 reads_spans=reads_spans(reader))
    done = time.perf_counter()
    summary = {"articles": len(articles), "paragraphs": len(where),
               "passages": view.count_passages(),
               **squad_corpus.summarise(asked, k),
               "seconds": {"index_and_question_vectors": round(prepared - started, 1),
                           "questions": round(done - prepared, 1),
                           "per_question_ms": round(1000 * (done - prepared) / len(asked), 2)}}
    view.close()
    return {"corpus": summary, "questions": [asdict(a) for a in asked]}


def reading_task(reader: Any, test: Parts, validation: Parts) -> dict[str, Any]:
    """The standard task: every unit of the gold paragraph read, the most probable kept,
    no answer below the threshold (the reader's own operating point, or else the one with
    the best F1 on the validation part). Only a reader that reads spans can do it."""
    if not reads_spans(reader):
        return {"na": f"reader {reader.name} reads no spans"}
    started = time.perf_counter()
    threshold = getattr(reader, "no_answer_threshold", None)
    chosen = "the reader's own"
    if threshold is None:
        threshold = squad.best_threshold(
            squad.predict([p for ps in validation.values() for p in ps], reader.read_pairs,
                          units=reader.units))
        chosen = "best F1 on the validation part"
    predicted = squad.predict([p for ps in test.values() for p in ps], reader.read_pairs,
                              units=reader.units)
    return {**squad.summary(predicted, float(threshold)), "threshold_from": chosen,
            "seconds": round(time.perf_counter() - started, 1)}


def format_text(record: dict[str, Any]) -> str:
    part = record.get("part", "test")
    lines = [_format_part(f"SQuAD 2.0 {part} articles", record, record["settings"])]
    if "news" in record:
        lines.append(_format_part(f"Our news questions, {part} pages", record["news"],
                                  record["settings"]))
    return "\n".join(lines)


def _format_part(name: str, record: dict[str, Any], s: dict[str, Any]) -> str:
    c = record["corpus"]
    hit = c["hit_at"]
    lines = [
        f"{name} as a corpus: {c['articles']} articles, {c['paragraphs']} "
        f"paragraphs, {c['passages']} passages; {c['questions']} questions "
        f"({c['answerable']} answerable, {c['unanswerable']} unanswerable); {s['mode']}, "
        f"k={c['k']}, reader {s['reader']}, {s['model']}",
        f"    hit@1 {hit['1']:.1f}%  hit@{c['k']} {hit[str(c['k'])]:.1f}%  span F1 "
        f"{c['span_f1']:.1f}  F1 by SQuAD 2.0 rules {c['f1_v2']:.1f}",
        f"    abstained: unanswerable {c['abstained_unanswerable']:.1f}%, answerable "
        f"{c['abstained_answerable']:.1f}%; {c['seconds']['per_question_ms']:.1f} ms a question",
        calibration.format_text(f"Calibration of the probability, {name}",
                                c["calibration"]),
        "Reading task (gold paragraph given): " + format_reading(record["reading"]),
    ]
    return "\n".join(lines)


def format_reading(reading: dict[str, Any]) -> str:
    if "na" in reading:
        return f"n/a: {reading['na']}"
    return (f"F1 {reading['f1']:.1f}, EM {reading['exact']:.1f}, HasAns F1 "
            f"{reading['has_ans_f1']:.1f}, NoAns accuracy {reading['no_ans_accuracy']:.1f}% "
            f"({reading['n']} questions; no-answer threshold {reading['threshold']:.3f}, "
            f"{reading['threshold_from']})")
