"""Issue 22's target table (`korea-qa eval targets`): each target's verdict at, above and
below its bound, n/a for what a reader without spans cannot do, missing results never a
pass; and the gold run's new fields (the first result's span, the calibration)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from korea_qa.cli import main
from korea_qa.evaluate import gold, report, targets
from korea_qa.evaluate.gold import GoldItem, GoldRun, QuestionResult, Response, Returned
from korea_qa.settings import Settings

GOLD = Path(__file__).resolve().parents[1] / "eval" / "gold.jsonl"


def kind(abstained: int, questions: int) -> dict[str, Any]:
    return {"abstained": abstained, "questions": questions, "rate": abstained / questions}


def cal(brier: float) -> dict[str, Any]:
    return {"brier": brier, "brier_base_rate": 0.25, "questions": 4, "answerable": 2,
            "bins": []}


def sources_at_bounds() -> dict[str, Any]:
    """Every figure exactly at its bound, from a reader that reads spans."""
    span_ok = [True] * 7 + [False] * 3  # 70%
    return {
        "gold": {"split": "test", "reader": {"name": "trained", "reads_spans": True},
                 "summary": {"hybrid": {
                     "answerable": 20, "hit_at": {"1": 0.75, "5": 0.9},
                     "abstention_by_kind": {"on-topic": kind(27, 45), "off-topic": kind(19, 20),
                                            "answerable": kind(1, 20)}}},
                 "questions": [{"mode": "hybrid", "answerable": True, "first_span_ok": ok}
                               for ok in span_ok] + [
                     {"mode": "dense", "answerable": True, "first_span_ok": False}],
                 "calibration": {"hybrid": cal(0.1)}},
        "squad": {"reader": {"name": "trained", "reads_spans": True},
                  "reading": {"f1": 65.0, "no_ans_accuracy": 70.0},
                  "corpus": {"k": 5, "hit_at": {"1": 50.0, "5": 80.0}, "span_f1": 40.0,
                             "abstained_unanswerable": 60.0, "abstained_answerable": 10.0,
                             "calibration": cal(0.2)},
                  "news": {"reading": {"f1": 70.0, "no_ans_accuracy": 80.0},
                           "corpus": {"k": 5, "hit_at": {"1": 90.0}, "span_f1": 50.0,
                                      "abstained_unanswerable": 30.0,
                                      "abstained_answerable": 5.0}}},
        "scifact": {"split": "test", "modes": {"hybrid": {"ndcg@10": 0.7394}}},
        "reader_cost": {"reader": {"name": "trained", "p50_ms": 30.0},
                        "baseline": {"name": "sentence", "p50_ms": 10.0}, "ratio": 3.0},
        "bench": {"date": "2026-12-07T01:00:00+00:00", "reader": "trained",
                  "_path": "bench/results/bench-2026-12-07.json",
                  "http": {"cache_off": {"16": {"requests_per_s": 100.0, "errors": 0}},
                           "cache_on": {"16": {"requests_per_s": 200.0, "errors": 0}}}},
    }


def verdicts(sources: dict[str, Any]) -> dict[str, str]:
    return {t.name: t.verdict for t in targets.all_targets(sources)}


def test_every_target_at_its_bound_passes() -> None:
    found = verdicts(sources_at_bounds())
    assert len(found) == 18
    bounded = {name: v for name, v in found.items() if v != "reported"}
    assert len(bounded) == 11 and set(bounded.values()) == {"pass"}
    assert [n for n, v in found.items() if v == "reported"] == [
        "SQuAD test as a corpus: hit@1, hit@5", "SQuAD test as a corpus: span F1 of the first "
        "result", "SQuAD test as a corpus: abstained, unanswerable vs answerable",
        "news test (ours), gold passage: reading task", "news test (ours) as a corpus: hit@1, "
        "span F1, abstained unanswerable vs answerable",
        "calibration, gold test (hybrid): Brier and reliability table",
        "calibration, SQuAD test: Brier and reliability table"]


@pytest.mark.parametrize(("path", "value", "name"), [
    (("squad", "reading", "f1"), 64.9, "SQuAD test, gold paragraph: F1 >= 65"),
    (("squad", "reading", "no_ans_accuracy"), 69.9,
     "SQuAD test, gold paragraph: NoAns accuracy >= 70%"),
    (("gold", "summary", "hybrid", "abstention_by_kind", "on-topic"), kind(26, 45),
     "gold test: on-topic unanswerable abstained >= 60%"),
    (("gold", "summary", "hybrid", "abstention_by_kind", "answerable"), kind(2, 20),
     "gold test: false abstention <= 5%"),
    (("gold", "summary", "hybrid", "abstention_by_kind", "off-topic"), kind(18, 20),
     "gold test: off-topic abstained >= 95%"),
    (("gold", "summary", "hybrid", "hit_at", "1"), 0.7499, "gold test: hybrid hit@1 >= 75%"),
    (("gold", "summary", "hybrid", "hit_at", "5"), 0.8999, "gold test: hybrid hit@5 >= 90%"),
    (("scifact", "modes", "hybrid", "ndcg@10"), 0.7393,
     "SciFact test hybrid nDCG@10 >= 0.7444 - 0.005"),
    (("reader_cost", "ratio"), 3.01, "cost: in-process p50 <= 3x the sentence reader's"),
    (("bench", "http", "cache_off", "16", "requests_per_s"), 99.0,
     "cost: 16 clients, query cache off >= half of cache on, 0 errors"),
    (("bench", "http", "cache_on", "16", "errors"), 1,
     "cost: 16 clients, query cache off >= half of cache on, 0 errors"),
])
def test_a_figure_past_its_bound_fails(path: tuple[str, ...], value: Any, name: str) -> None:
    sources = copy.deepcopy(sources_at_bounds())
    place = sources
    for key in path[:-1]:
        place = place[key]
    place[path[-1]] = value
    found = verdicts(sources)
    assert found[name] == "FAIL"
    assert list(found.values()).count("FAIL") == 1


def test_a_span_below_seventy_percent_fails() -> None:
    sources = sources_at_bounds()
    sources["gold"]["questions"][0]["first_span_ok"] = False
    assert verdicts(sources)["gold test: first result's span holds the answer >= 70%"] == "FAIL"


def test_a_reader_without_spans_is_not_applicable_where_spans_are_needed() -> None:
    sources = sources_at_bounds()
    sources["squad"]["reading"] = {"na": "reader sentence reads no spans"}
    sources["gold"]["reader"] = {"name": "sentence", "reads_spans": False}
    table = {t.name: t for t in targets.all_targets(sources)}
    for name in ("SQuAD test, gold paragraph: F1 >= 65",
                 "SQuAD test, gold paragraph: NoAns accuracy >= 70%"):
        assert table[name].verdict == "n/a: reader sentence reads no spans"
    span = table["gold test: first result's span holds the answer >= 70%"]
    assert span.verdict == "n/a: reader sentence reads no spans"
    assert span.figure == "70.0% (7/10) with answer sentences"  # the baseline, still shown


def test_missing_results_are_not_measured_never_a_pass() -> None:
    found = verdicts({})
    assert len(found) == 15  # the corpus rows collapse into one while SQuAD is missing
    assert all(v.startswith("not measured: run `") for v in found.values())
    # A gold run of the train part does not count for the test part's targets.
    sources = sources_at_bounds()
    sources["gold"]["split"] = "train"
    gold_rows = {n: v for n, v in verdicts(sources).items() if n.startswith("gold test")}
    assert len(gold_rows) == 6
    assert all("the train part" in v for v in gold_rows.values())
    sources["gold"]["split"] = "test"
    sources["gold"]["calibration"] = {"hybrid": None}  # run, but no probability
    assert verdicts(sources)["calibration, gold test (hybrid): Brier and reliability table"] \
        == "FAIL"


def test_throughput_from_two_load_runs_without_a_bench() -> None:
    sources = sources_at_bounds()
    del sources["bench"]
    name = "cost: 16 clients, query cache off >= half of cache on, 0 errors"

    def load(cache: bool, rate: float, date: str, reader: str = "trained") -> dict[str, Any]:
        return {"date": f"2026120{date}T011628Z", "query_cache": cache,
                "_path": f"b/load-{date}.json", "reader": reader,
                "levels": {"16": {"requests_per_s": rate, "errors": 0}}}

    sources["loads"] = [load(True, 900.0, "4", "sentence"), load(True, 300.0, "3"),
                        load(False, 140.0, "2"), load(False, 1.0, "1")]
    table = {t.name: t for t in targets.all_targets(sources)}
    # The newest of each kind with the same reader: 140 vs 300 (not the sentence reader's).
    assert table[name].verdict == "FAIL"
    assert table[name].figure == \
        "140 vs 300 req/s (47%), 0 errors; make load 20261202, reader trained"
    assert table[name].source == "load-*.json, newest of each"
    sources["loads"][1]["levels"]["16"]["requests_per_s"] = 280.0
    assert verdicts(sources)[name] == "pass"
    sources["loads"] = sources["loads"][2:]  # no cache-on run
    assert verdicts(sources)[name].startswith("not measured")


def test_the_table_and_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sources = sources_at_bounds()
    results, bench = tmp_path / "results", tmp_path / "bench"
    results.mkdir()
    bench.mkdir()
    names = {"gold": results / "latest.json", "squad": results / "squad-test.json",
             "scifact": results / "beir-scifact-test.json",
             "reader_cost": bench / "reader-cost.json", "bench": bench / "bench-2026-12-07.json"}
    for key, path in names.items():
        path.write_text(json.dumps(sources[key]))
    sources["scifact"]["modes"]["hybrid"]["ndcg@10"] = 0.7
    (results / "beir-scifact-test.json").write_text(json.dumps(sources["scifact"]))
    args = ["eval", "targets", "--results", str(results), "--bench", str(bench)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert re.search(r"\nSciFact test hybrid nDCG@10 >= 0\.7444 - 0\.005 +0\.7000 \(-0\.0444\) +"
                     r"FAIL +beir-scifact-test\.json\n", printed)
    assert "gold test: hybrid hit@1 >= 75%" in printed and "75.0% of 20" in printed
    assert printed.count("FAIL") == 1
    written = json.loads((results / "targets.json").read_text())
    assert len(written) == 18 and written[0]["verdict"] == "pass"
    assert main([*args, "--strict"]) == 1


# ---------------------------------------------------------------- the gold run's new fields


ITEM = GoldItem(id="thaw-03", style="direct", doc_id="russia-dprk-thaw",
                question="What happened to Russia's trade with the North?",
                answer="a nearly complete halt", evidence="Trade came to a nearly complete halt.")


def response(span: str | None, spans: bool) -> Response:
    first = Returned("1", "russia-dprk-thaw", 1, ITEM.evidence or "",
                     "Trade came to a nearly complete halt.", span)
    return Response((first,), True, 0.6, 1.0, 0.7, spans)


@pytest.mark.parametrize(("span", "spans", "ok"), [
    ("a nearly complete halt", True, True),
    ("complete halt", True, False),
    ("nearly complete halt", True, True),  # SQuAD's normalisation drops the article
    ("nearly complete halted", True, False),  # on word boundaries
    (None, True, False),  # a span reader that found nothing in the first result
    (None, False, True),  # the sentence reader: its sentence stands in
])
def test_the_first_results_span_holds_the_answer(span: str | None, spans: bool,
                                                  ok: bool) -> None:
    assert gold.judge(ITEM, response(span, spans), "hybrid", 5, {"1": 1}).first_span_ok is ok


@pytest.mark.parametrize(("span", "spans", "f1"), [
    ("a nearly complete halt", True, 100.0),
    ("complete halt", True, 80.0),  # 2 of 3 normalised words: precision 1, recall 2/3
    ("the trade", True, 0.0),
    (None, True, 0.0),  # a span reader that found nothing offers nothing
    (None, False, 200 / 3),  # the sentence stands in: 3 of its 6 words, all of the answer's
])
def test_the_first_results_span_f1(span: str | None, spans: bool, f1: float) -> None:
    got = gold.judge(ITEM, response(span, spans), "hybrid", 5, {"1": 1}).first_span_f1
    assert got == pytest.approx(f1)


def test_the_span_target_reports_the_mean_span_f1_beside_the_share() -> None:
    sources = sources_at_bounds()
    for q, f1 in zip(sources["gold"]["questions"], [100.0] * 7 + [0.0, 50.0, 0.0] + [10.0],
                     strict=True):
        q["first_span_f1"] = f1
    table = {t.name: t for t in targets.all_targets(sources)}
    span = table["gold test: first result's span holds the answer >= 70%"]
    assert span.figure == "70.0% (7/10); span F1 75.0"  # hybrid only: 750 / 10
    assert span.verdict == "pass"


def test_the_gold_record_carries_the_reader_and_a_ten_bin_calibration() -> None:
    rows = [QuestionResult(
        id=f"q{i}", mode="hybrid", style="direct", question="?", expected="x",
        answerable=i < 2, kind=None if i < 2 else "nearby", split="test",
        predicted_answerable=True, best_cosine=0.5, latency_ms=1.0, relevant=1, first_hit=1,
        reciprocal_rank=1.0, ndcg=1.0, answer_ok=True, top=None, probability=p)
        for i, p in enumerate((0.9, 0.6, 0.3, 0.05))]
    run = GoldRun(target="in-process", k=5, modes=("hybrid",), questions=rows, reads_spans=True)
    record = report.build_record(run, Settings(model="hash:64"), gold_path=GOLD,
                                 target="in-process, local store", split="test")
    assert record["reader"] == {"name": "sentence", "reads_spans": True}
    result = record["calibration"]["hybrid"]
    assert result["brier"] == pytest.approx((0.01 + 0.16 + 0.09 + 0.0025) / 4)
    assert [b["questions"] for b in result["bins"]] == [1, 0, 0, 1, 0, 0, 1, 0, 0, 1]
    page = report.render_html(record)
    assert "Calibration of the probability (10 bins)" in page
    assert "<td>0.3–0.4</td><td>0.300</td><td>0.000</td><td>1</td>" in page
    assert "Brier" not in report.render_summary(record)  # the printed summary is as it was
