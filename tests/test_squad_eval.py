"""The SQuAD evaluation through the service (`korea-qa eval squad`): the hit and span rules,
abstention, calibration arithmetic by hand, and a whole run over a tiny SQuAD-shaped folder
with the hash embedder (its index cached and reused)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from korea_qa.cli import main
from korea_qa.evaluate import calibration, squad, squad_command, squad_corpus
from korea_qa.evaluate.squad_corpus import Asked, Where
from korea_qa.models.embed import HashEmbedder
from korea_qa.reading.reader import load_reader
from korea_qa.reading_model.decode import Reading
from korea_qa.reading_model.pairs import Pair, sentence_units
from korea_qa.records import Hit, Passage, SearchResult, Span
from korea_qa.settings import Settings

RIVER = ("The Tiny River is 42 kilometres long. It rises in the Green Hills. Its mouth lies "
         "at Port Small.")
PORT = "Port Small was founded in 1811 by fishermen. The town has a lighthouse of red stone."
MILL = "The Old Mill grinds wheat with water power. It was restored in 1975 after a flood."
# (context, [(id, question, answer or None)]) per paragraph, by title.
ARTICLES = {
    "Tiny_River": [(RIVER, [("r1", "How long is the Tiny River?", "42 kilometres"),
                            ("r2", "How deep is the Tiny River?", None)]),
                   (PORT, [("p1", " When was Port Small founded?", "1811")])],
    "Old_Mill": [(MILL, [("m1", "When was the Old Mill restored?", "1975"),
                         ("m2", "Who owns the Old Mill?", None)])],
}


def squad_folder(folder: Path) -> Path:
    """The articles above in the official layout, both files (1.1 without unanswerable)."""
    folder.mkdir(parents=True, exist_ok=True)
    for version, name in squad.FILES.items():
        data = [{"title": title, "paragraphs": [
            {"context": context, "qas": [
                {"id": qid, "question": q, "is_impossible": answer is None,
                 "answers": [] if answer is None else
                 [{"text": answer, "answer_start": context.index(answer)}]}
                for qid, q, answer in qas if version == "2.0" or answer is not None]}
            for context, qas in paragraphs]} for title, paragraphs in ARTICLES.items()]
        with gzip.open(folder / name, "wt", encoding="utf-8") as f:
            json.dump({"version": version, "data": data}, f)
    return folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return squad_folder(tmp_path / "squad")


def question(answers: Sequence[str] = ("1811",), qid: str = "p1") -> squad.Question:
    return squad.Question(qid, "When was Port Small founded?",
                          tuple((a, 0) for a in answers), True)


# ---------------------------------------------------------------- articles and rules


def test_each_article_is_its_paragraphs_and_each_paragraph_is_found(folder: Path) -> None:
    articles, where = squad_corpus.as_articles(squad.load(folder))
    assert [a.doc_id for a in articles] == ["old-mill", "tiny-river"]
    river = articles[1]
    assert river.title == "Tiny River" and river.text == RIVER + "\n\n" + PORT
    assert where[("Tiny_River", 1)] == Where("tiny-river", len(RIVER) + 2, len(river.text))
    for (title, index), w in where.items():
        text = next(a.text for a in articles if a.doc_id == w.doc_id)
        assert text[w.start:w.end] == ARTICLES[title][index][0]


def passage(text: str, start: int, doc_id: str = "tiny-river") -> Passage:
    return Passage(doc_id, 0, 1, start, start + len(text), text, ((0, len(text)),))


PORT_AT = Where("tiny-river", len(RIVER) + 2, len(RIVER) + 2 + len(PORT))


def test_a_hit_comes_from_the_paragraph_and_holds_a_gold_answer() -> None:
    q = question()
    assert squad_corpus.is_hit(passage(PORT, PORT_AT.start), PORT_AT, q)
    # The same text from another article, or from elsewhere in this one: no.
    assert not squad_corpus.is_hit(passage(PORT, PORT_AT.start, "old-mill"), PORT_AT, q)
    assert not squad_corpus.is_hit(passage(PORT, 0), PORT_AT, q)
    # A passage that only overlaps the paragraph counts when it holds the answer.
    both = RIVER + "\n\n" + PORT[:44]
    assert squad_corpus.is_hit(passage(both, 0), PORT_AT, q)
    assert not squad_corpus.is_hit(passage(RIVER + "\n\nPort Small", 0), PORT_AT, q)


def test_answers_match_normalised_on_word_boundaries() -> None:
    assert squad_corpus.contains("It was founded in 1811, by fishermen.", "1811")
    assert squad_corpus.contains("THE Port Small, harbour", "port small")  # case, punctuation
    assert not squad_corpus.contains("founded in 18110", "1811")
    assert not squad_corpus.contains("anything", "the")  # normalises to nothing


def result(hits: Sequence[tuple[Passage, str, str | None]], *, answerable: bool = True,
           probability: float | None = 0.8) -> SearchResult:
    """A search result: each hit's passage, answer sentence and span (None: no span)."""
    return SearchResult(
        query="q", mode="hybrid", answerable=answerable, best_cosine=0.5, took_ms=1.0,
        probability=probability, hits=tuple(
            Hit(passage=p, rank=i + 1, score=1.0, dense_score=None, lexical_score=None,
                answer=Span(sentence, 0, len(sentence)),
                span=None if span is None else Span(span, 0, len(span)))
            for i, (p, sentence, span) in enumerate(hits)))


FOUNDED = "Port Small was founded in 1811 by fishermen."


def test_span_f1_of_the_first_result_by_reader_kind() -> None:
    q = question(("1811", "in 1811"))
    other = passage(RIVER, 0)
    right = passage(PORT, PORT_AT.start)
    served = result([(other, "It rises in the Green Hills.", None), (right, FOUNDED, "1811")])
    asked = squad_corpus.judge(q, PORT_AT, served, reads_spans=True)
    assert asked.first_hit == 2
    assert asked.span_f1 == 0.0  # a span reader found nothing in the first passage
    served = result([(right, FOUNDED, "in 1811")])
    assert squad_corpus.judge(q, PORT_AT, served, reads_spans=True).span_f1 == 1.0
    # The sentence reader's sentence stands in: "port small was founded in 1811 by
    # fishermen" (8 tokens) against "in 1811" (2): precision 2/8, recall 1.
    served = result([(right, FOUNDED, None)])
    asked = squad_corpus.judge(q, PORT_AT, served, reads_spans=False)
    assert asked.span_f1 == pytest.approx(2 * 0.25 / 1.25)
    assert (asked.first_hit, asked.abstained, asked.probability) == (1, False, 0.8)
    assert squad_corpus.judge(q, PORT_AT, result([]), reads_spans=False).span_f1 == 0.0


def test_abstention_scores_by_squad_2_rules() -> None:
    answerable, unanswerable = question(), squad.Question("r2", "How deep?", (), True)
    right = passage(PORT, PORT_AT.start)
    abstained = result([(right, FOUNDED, "1811")], answerable=False)
    asked = squad_corpus.judge(answerable, PORT_AT, abstained, reads_spans=True)
    # Abstaining costs the answerable question its 2.0 score, not its span F1.
    assert (asked.abstained, asked.span_f1, asked.f1_v2) == (True, 1.0, 0.0)
    asked = squad_corpus.judge(unanswerable, PORT_AT, abstained, reads_spans=True)
    assert (asked.first_hit, asked.f1_v2, asked.span_f1) == (None, 1.0, 0.0)
    answered = result([(right, FOUNDED, "1811")])
    assert squad_corpus.judge(unanswerable, PORT_AT, answered, reads_spans=True).f1_v2 == 0.0


def test_summary_by_hand() -> None:
    asked = [Asked("a", True, False, 0.9, 1, 1.0, 1.0), Asked("b", True, True, 0.2, 3, 0.5, 0.0),
             Asked("c", True, False, 0.7, None, 0.0, 0.0),
             Asked("d", False, True, 0.1, None, 0.0, 1.0),
             Asked("e", False, False, 0.6, None, 0.0, 0.0)]
    s = squad_corpus.summarise(asked, 5)
    assert (s["questions"], s["answerable"], s["unanswerable"]) == (5, 3, 2)
    assert s["hit_at"]["1"] == pytest.approx(100 / 3)
    assert s["hit_at"]["2"] == pytest.approx(100 / 3)
    assert s["hit_at"]["5"] == pytest.approx(200 / 3)
    assert s["span_f1"] == pytest.approx(50.0)
    assert s["f1_v2"] == pytest.approx(40.0)
    assert s["abstained_unanswerable"] == 50.0
    assert s["abstained_answerable"] == pytest.approx(100 / 3)
    # Brier: (0.1² + 0.8² + 0.3² + 0.1² + 0.6²) / 5
    assert s["calibration"]["brier"] == pytest.approx((0.01 + 0.64 + 0.09 + 0.01 + 0.36) / 5)


# ---------------------------------------------------------------- calibration


def test_brier_and_ten_bins_by_hand() -> None:
    p = [0.05, 0.15, 0.15, 0.55, 0.95, 1.0]
    outcome = [False, False, True, True, True, False]
    result_ = calibration.calibration(p, outcome)
    assert result_ is not None
    assert result_["brier"] == pytest.approx(
        (0.05**2 + 0.15**2 + 0.85**2 + 0.45**2 + 0.05**2 + 1.0) / 6)
    assert result_["brier_base_rate"] == pytest.approx(0.25)  # base rate 1/2
    bins = result_["bins"]
    assert len(bins) == 10
    assert [b["questions"] for b in bins] == [1, 2, 0, 0, 0, 1, 0, 0, 0, 2]
    assert bins[1]["observed"] == 0.5 and bins[1]["mean_probability"] == pytest.approx(0.15)
    assert bins[9]["mean_probability"] == pytest.approx(0.975)  # 1.0 is in the last bin
    assert bins[2]["observed"] is None
    rows = calibration.reliability_rows(result_)
    assert rows[2] == ["0.1–0.2", "0.150", "0.500", "2"]
    assert rows[3] == ["0.2–0.3", "–", "–", "0"]
    text = calibration.format_text("part", result_)
    assert text.startswith("part: Brier 0.3254 (always the base rate 0.50: 0.2500), 6 ")
    assert len(text.splitlines()) == 12


def test_no_calibration_without_every_probability() -> None:
    assert calibration.calibration([0.5, None], [True, False]) is None
    assert calibration.calibration([], []) is None
    assert "no probability" in calibration.format_text("part", None)


# ---------------------------------------------------------------- a whole run


def hash_settings(tmp_path: Path) -> Settings:
    return Settings(model="hash:64", cache_dir=tmp_path / "cache", batch_wait_ms=0.0)


def test_a_run_over_a_tiny_squad_folder_and_its_cached_index(folder: Path,
                                                             tmp_path: Path) -> None:
    settings = hash_settings(tmp_path)
    embedder = HashEmbedder(64)
    record = squad_command.evaluate(folder, settings, embedder, load_reader("sentence"), k=5,
                                    mode="hybrid")
    c = record["corpus"]
    assert (c["articles"], c["paragraphs"], c["questions"], c["answerable"]) == (2, 3, 5, 3)
    assert c["passages"] >= 2
    assert record["split"]["test"] == ["Old_Mill", "Tiny_River"]
    assert record["reading"] == {"na": "reader sentence reads no spans"}
    assert record["reader"] == {"name": "sentence", "reads_spans": False}
    by_id = {q["id"]: q for q in record["questions"]}
    assert set(by_id) == {"r1", "r2", "p1", "m1", "m2"}
    assert by_id["r2"]["first_hit"] is None
    # Three answerable questions: each figure is a share of them.
    assert c["hit_at"]["5"] * 3 / 100 == pytest.approx(
        sum(by_id[i]["first_hit"] is not None for i in ("r1", "p1", "m1")))
    assert c["calibration"] is None  # no fitted decision for the hash embedder
    versions = sorted((settings.cache_dir / "squad-index").glob("*/index/versions/*"))
    assert len(versions) == 1
    again = squad_command.evaluate(folder, settings, embedder, load_reader("sentence"), k=5,
                                   mode="hybrid")
    assert again["questions"] == record["questions"]
    assert sorted((settings.cache_dir / "squad-index").glob("*/index/versions/*")) == versions
    text = squad_command.format_text(record)
    assert "3 paragraphs" in text and "n/a: reader sentence reads no spans" in text


class SpanReader:
    """Reads a pair as answering when the sentence holds its question's answer."""

    name = "fake-spans"
    no_answer_threshold = 0.5
    units = staticmethod(sentence_units)

    def read_pairs(self, pairs: Sequence[Pair]) -> list[Reading]:
        answers = {q: a for paras in ARTICLES.values() for _, qas in paras
                   for _, q, a in qas if a is not None}
        out = []
        for pair in pairs:
            answer = answers.get(pair.question)
            at = pair.sentence.find(answer) if answer else -1
            out.append(Reading(0.9, at, at + len(answer or ""), 1.0) if at >= 0
                       else Reading(0.1, 0, 0, 0.0))
        return out


def test_the_reading_task_runs_for_a_reader_that_reads_spans(folder: Path) -> None:
    data = squad.load(folder)
    reading = squad_command.reading_task(SpanReader(), data, {})
    assert (reading["f1"], reading["exact"], reading["no_ans_accuracy"]) == (100.0,) * 3
    assert (reading["n"], reading["threshold"]) == (5, 0.5)
    assert reading["threshold_from"] == "the reader's own"
    assert "F1 100.0" in squad_command.format_reading(reading)


def test_cli_eval_squad(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("KOREA_QA_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "squad-test.json"
    assert main(["--model", "hash:64", "eval", "squad", str(folder), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "SQuAD 2.0 test articles as a corpus: 2 articles, 3 paragraphs" in printed
    assert json.loads(out.read_text())["corpus"]["questions"] == 5


def test_the_cached_index_follows_the_chunking_setting(folder: Path, tmp_path: Path) -> None:
    articles, _ = squad_corpus.as_articles(squad.load(folder))
    settings = hash_settings(tmp_path)
    wide = squad_corpus.open_view(articles, settings, HashEmbedder(64))
    assert wide.count_passages() == 2  # Tiny River's two short paragraphs make one passage
    narrow = settings.model_copy(update={"chunk_max_words": 10, "chunk_min_words": 5})
    view = squad_corpus.open_view(articles, narrow, HashEmbedder(64))
    assert view.count_passages() > 3  # the index was brought in step: every sentence apart
    assert len(list((settings.cache_dir / "squad-index").iterdir())) == 1  # the same folder


NEWS = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / \
    "article-extraction"


@pytest.mark.skipif(not (NEWS / "ground-truth.json").is_file(),
                    reason=f"the saved pages are not here: {NEWS}")
def test_our_news_questions_test_pages_run_like_squads(tmp_path: Path) -> None:
    from korea_qa.evaluate import news_qa

    settings = hash_settings(tmp_path)
    record = squad_command.news_run(NEWS, settings, HashEmbedder(64), load_reader("sentence"),
                                    k=5, mode="hybrid")
    parts = news_qa.split(list(news_qa.load(NEWS).pages))
    assert record["split"]["test"] == parts["test"] and record["dropped"] == []
    c = record["corpus"]
    assert (c["articles"], c["questions"], c["answerable"]) == (6, 158, 90)
    assert {q["id"].split("-")[0] for q in record["questions"]} == set(parts["test"])
    text = squad_command._format_part("Our news questions, test pages", record,
                                      {"mode": "hybrid", "reader": "sentence", "model": "h"})
    assert "6 articles" in text and "158 questions (90 answerable, 68 unanswerable)" in text


def test_the_validation_part_is_asked_apart_and_written_beside_the_test_part(
        folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`--part validation` asks the validation articles only, into squad-validation.json,
    and the targets never read such a record as the test part's."""
    from korea_qa.evaluate import targets

    monkeypatch.setattr(squad, "split", lambda _folder: {
        "test": ["Old_Mill"], "validation": ["Tiny_River"], "train": []})
    monkeypatch.setenv("KOREA_QA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    assert main(["--model", "hash:64", "eval", "squad", str(folder), "--part",
                 "validation"]) == 0
    assert "SQuAD 2.0 validation articles as a corpus: 1 articles" in capsys.readouterr().out
    record = json.loads((tmp_path / "eval/results/squad-validation.json").read_text())
    assert record["part"] == "validation"
    assert {q["id"] for q in record["questions"]} == {"r1", "r2", "p1"}
    assert not (tmp_path / "eval/results/squad-test.json").exists()
    # Written where the test part's goes (--out), it is not taken for the test part.
    (tmp_path / "eval/results/squad-test.json").write_text(json.dumps(record))
    assert targets.load_sources(tmp_path / "eval/results", tmp_path / "bench")["squad"] is None
    record["part"] = "test"
    (tmp_path / "eval/results/squad-test.json").write_text(json.dumps(record))
    assert targets.load_sources(tmp_path / "eval/results", tmp_path / "bench")["squad"] \
        is not None
