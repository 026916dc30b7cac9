"""The answerability part of the gold report: both rules on the same responses; and, with the
real model, the shipped decision on the test part and its reproducibility from train."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import build_index, real_embedder
from korea_qa.evaluate import abstention, fit, gold, report
from korea_qa.evaluate.gold import GoldRun, QuestionResult
from korea_qa.models.cpu import cpu_info
from korea_qa.reading import answerability
from korea_qa.settings import Settings

GOLD = Path(__file__).resolve().parents[1] / "eval" / "gold.jsonl"


def _q(id_: str, kind: str | None, cosine: float, probability: float) -> QuestionResult:
    answerable = kind is None
    return QuestionResult(
        id=id_, mode="hybrid", style="direct" if answerable else "unanswerable", question="?",
        expected="x" if answerable else None, answerable=answerable, kind=kind, split="test",
        predicted_answerable=cosine >= 0.335, best_cosine=cosine, latency_ms=1.0,
        relevant=int(answerable), first_hit=1 if answerable else None,
        reciprocal_rank=float(answerable), ndcg=float(answerable), answer_ok=answerable,
        top=None, probability=probability)


RUN = GoldRun(target="fake", k=10, modes=("hybrid",), questions=[
    _q("a1", None, 0.60, 0.6), _q("a2", None, 0.50, 0.6), _q("a3", None, 0.30, 0.2),
    _q("n1", "nearby", 0.60, 0.1), _q("n2", "number", 0.55, 0.6),
    _q("o1", "off-topic", 0.10, 0.05),
])


def test_both_rules_are_judged_on_the_same_responses() -> None:
    both = abstention.compare(RUN, cosine_threshold=0.335, decision_threshold=0.4)["hybrid"]
    cosine, fitted = both["cosine"], both["fitted"]
    assert {k: g["abstained"] for k, g in cosine["by_kind"].items()} == {
        "off-topic": 1, "on-topic": 0, "nearby": 0, "combined": 0, "number": 0, "entity": 0,
        "answerable": 1}
    assert {k: g["abstained"] for k, g in fitted["by_kind"].items()} == {
        "off-topic": 1, "on-topic": 1, "nearby": 1, "combined": 0, "number": 0, "entity": 0,
        "answerable": 1}
    # Cosine: answerable (0.6, 0.5, 0.3) against on-topic (0.6, 0.55): 1.5 of 6 pairs won.
    assert cosine["auc_on_topic"] == pytest.approx(1.5 / 6)
    # Probability: (0.6, 0.6, 0.2) against (0.1, 0.6): wins 3, ties 2 -> 4 of 6.
    assert fitted["auc_on_topic"] == pytest.approx(4 / 6)
    # Bins of width 0.2, [0, 0.2) first: 0.1 and 0.05 (0.2 opens the next one).
    assert [b["questions"] for b in both["calibration"]["bins"]] == [2, 1, 0, 3, 0]
    rows = abstention.table_rows({"hybrid": both})
    assert rows[1][:4] == ["hybrid", "cosine ≥ 0.335 (today)", "100.0 (1/1)", "0.0 (0/2)"]
    assert rows[2][:4] == ["hybrid", "probability ≥ 0.400 (fitted)", "100.0 (1/1)",
                           "50.0 (1/2)"]
    # A decision that needs the cosine rule too: a2 (cosine 0.5, probability 0.6) passes both,
    # a3 neither; n2 (0.55, 0.6) passes both; nothing changes but the label at 0.335 ...
    guarded = abstention.compare(RUN, cosine_threshold=0.335, decision_threshold=0.4,
                                 with_cosine=True)["hybrid"]
    assert guarded["fitted"]["by_kind"] == fitted["by_kind"]
    assert abstention.table_rows({"hybrid": guarded})[2][1] == \
        "probability ≥ 0.400, cosine ≥ 0.335 (fitted)"
    # ... and at 0.52 a2 (answerable) and n2 stay answerable only by the cosine's leave.
    at = abstention.compare(RUN, cosine_threshold=0.52, decision_threshold=0.4,
                            with_cosine=True)["hybrid"]["fitted"]["by_kind"]
    assert (at["answerable"]["abstained"], at["number"]["abstained"]) == (2, 0)


def test_without_a_decision_only_the_cosine_rule_is_reported(tmp_path: Path) -> None:
    record = report.build_record(RUN, Settings(model="hash:64"), gold_path=GOLD,
                                 target="in-process", split="test")
    assert record["answerability"]["hybrid"]["fitted"] is None
    text = report.render_summary(record)
    assert "| hybrid | cosine ≥ 0.335 (today) | 100.0 (1/1) |" in text
    assert "(fitted)" not in text
    page = report.render_html(record)
    assert "Trade-off (hybrid)" in page and "Calibration of the probability (hybrid)" not in page
    # The ten-bin table reads the responses' probabilities, whatever gave them.
    assert "Calibration of the probability (10 bins)" in page


# ---------------------------------------------------------------- real model


@pytest.mark.real_model
def test_the_shipped_decision_is_what_fitting_on_train_gives(real_settings: Settings,
                                                             tmp_path: Path) -> None:
    """`korea-qa eval fit` run now on the train part reproduces the shipped coefficients and
    operating point: a change of features, tokenizer or aliases without a refit fails here.
    The refit runs on the backend the file was fitted with (`auto` picks per CPU, and
    backends agree within the quality bound, not bit for bit)."""
    shipped = answerability.load()
    assert shipped is not None and shipped.applies_to(real_settings.model_id())
    fitted_with = str(shipped.about.get("fitted_with", f"{shipped.model}@openvino"))
    backend = fitted_with.split("@")[1] if "@" in fitted_with else "torch"
    settings = real_settings.model_copy(update={"backend": backend,
                                                "index_dir": tmp_path / "index"})
    embedder = real_embedder(settings)
    build_index(settings, embedder)
    searcher = gold.open_searcher(settings, build_if_stale=False, embedder=embedder)
    train = gold.select_split(gold.load_gold(GOLD), "train")
    refit, _ = fit.fit(fit.collect(train, searcher), settings.model_id())
    for part in ("topic", "answer"):
        ours, theirs = getattr(refit, part), getattr(shipped, part)
        assert ours.features == theirs.features
        assert ours.coef == pytest.approx(theirs.coef, abs=1e-4)
        assert ours.intercept == pytest.approx(theirs.intercept, abs=1e-4)
    assert refit.threshold == pytest.approx(shipped.threshold, abs=1e-4)
    ours_loo, theirs_loo = refit.about["leave_one_out"], shipped.about["leave_one_out"]
    for key, value in theirs_loo.items():
        if isinstance(value, float):
            assert ours_loo[key] == pytest.approx(value, abs=1e-4), key
        else:
            assert ours_loo[key] == value, key


NEWS = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / \
    "article-extraction"


@pytest.mark.real_model
@pytest.mark.skipif(not (NEWS / "ground-truth.json").is_file(),
                    reason=f"the saved pages are not here: {NEWS}")
def test_the_trained_readers_decision_is_what_fitting_gives(real_settings: Settings,
                                                            tmp_path: Path) -> None:
    """The decision shipped for the trained reader (gold train part and our news questions'
    validation pages, `korea-qa eval fit --news`) is reproduced by fitting now, on the
    backends it was fitted with."""
    shipped = answerability.load(answerability.decision_path("trained"))
    assert shipped is not None and shipped.reader == "trained"
    if shipped.about["reader_backend"] == "openvino-int8" and not cpu_info().int8_dot_products:
        pytest.skip("fitted on int8 readings; this CPU has no int8 dot products")
    backend = str(shipped.about["fitted_with"]).split("@")[1]
    settings = real_settings.model_copy(update={
        "backend": backend, "reader": "trained", "index_dir": tmp_path / "index",
        "reader_backend": shipped.about["reader_backend"], "cache_dir": tmp_path / "cache"})
    embedder = real_embedder(settings)
    build_index(settings, embedder)
    searcher = gold.open_searcher(settings, build_if_stale=False, embedder=embedder)
    examples = fit.collect(gold.select_split(gold.load_gold(GOLD), "train"), searcher)
    examples += fit.collect_news(NEWS, settings, embedder, searcher.reader)
    refit, _ = fit.fit(examples, settings.model_id(), reader="trained",
                       cosine_threshold=settings.abstain_threshold)
    assert refit.answer.coef[0] > 0  # read_best: the more sure the reader, the likelier
    for part in ("topic", "answer"):
        ours, theirs = getattr(refit, part), getattr(shipped, part)
        assert ours.features == theirs.features
        assert ours.coef == pytest.approx(theirs.coef, abs=1e-3)
    assert refit.threshold == pytest.approx(shipped.threshold, abs=1e-3)
    assert (refit.with_cosine, refit.preferred) == (shipped.with_cosine, shipped.preferred)


# Measured on the test part (eval/README.md, "An answerability decision"); the bounds allow
# two questions of drift each way.
# eval/README.md, "An answerability decision": the test part at the final defaults.
TEST_FITTED = {"off-topic": (11, 12), "on-topic": (15, 45), "answerable": (7, 41)}


@pytest.mark.real_model
def test_the_fitted_decision_on_the_test_part(real_settings: Settings) -> None:
    searcher = gold.open_searcher(real_settings, build_if_stale=False,
                                  embedder=real_embedder(real_settings))
    decision = answerability.load()
    assert decision is not None
    items = gold.select_split(gold.load_gold(GOLD), "test")
    run = gold.run_gold(items, gold.InProcess(searcher), modes=("hybrid",), k=10)
    both = abstention.compare(run, cosine_threshold=real_settings.abstain_threshold,
                              decision_threshold=decision.threshold)["hybrid"]
    print(json.dumps({name: {k: (g["abstained"], g["questions"])
                             for k, g in both[name]["by_kind"].items()}
                      for name in ("cosine", "fitted")}))
    for group, (abstained, questions) in TEST_FITTED.items():
        measured = both["fitted"]["by_kind"][group]
        assert measured["questions"] == questions
        assert abs(measured["abstained"] - abstained) <= 2, group
    # The probability ranks answerable above on-topic unanswerable questions better than the
    # cosine does (0.623 against 0.549 measured), and is no worse against all unanswerable.
    assert both["fitted"]["auc_on_topic"] > both["cosine"]["auc_on_topic"] + 0.04
    assert both["fitted"]["auc_unanswerable"] >= both["cosine"]["auc_unanswerable"]
    # The service still answers by the cosine rule (answerable_rule="cosine"): unchanged.
    service = gold.abstention_by_kind([q for q in run.questions])
    assert service == both["cosine"]["by_kind"]
