"""Retrieval metrics against values computed by hand (shown in the comments)."""

import math

import pytest

from korea_qa.evaluate.metrics import (
    best_threshold,
    brier,
    dcg,
    first_relevant_rank,
    hit_at_k,
    mean,
    ndcg_at_k,
    percentile,
    recall_at_k,
    reciprocal_rank,
    reliability,
    roc_auc,
    tradeoff,
)

LOG2_3 = math.log2(3)  # 1.5849625
LOG2_5 = math.log2(5)  # 2.3219281


def test_hit_at_k_needs_a_relevant_document_inside_the_cut() -> None:
    ranked = ["x", "y", "a"]
    assert hit_at_k(ranked, {"a": 1}, 2) == 0.0
    assert hit_at_k(ranked, {"a": 1}, 3) == 1.0
    assert hit_at_k(ranked, {"a": 1}, 10) == 1.0  # k beyond the list is fine
    assert hit_at_k(ranked, {"x": 0, "y": -1}, 3) == 0.0  # judged but not relevant


def test_reciprocal_rank_is_one_over_the_first_relevant_rank() -> None:
    assert reciprocal_rank(["x", "y", "a", "b"], {"a": 1, "b": 2}, 10) == pytest.approx(1 / 3)
    assert reciprocal_rank(["x", "a"], {"x": 0, "a": 1}, 10) == 0.5
    assert reciprocal_rank(["x", "y", "a"], {"a": 1}, 2) == 0.0  # MRR@2 cuts rank 3 off
    assert first_relevant_rank(["a"], {"a": 1}, 1) == 1
    assert first_relevant_rank([], {"a": 1}, 5) is None


def test_recall_counts_relevant_documents_found() -> None:
    qrels = {"a": 1, "b": 2, "c": 0}
    assert recall_at_k(["a", "c", "z"], qrels, 3) == 0.5
    assert recall_at_k(["z", "b", "a"], qrels, 3) == 1.0
    assert recall_at_k(["z", "b", "a"], qrels, 2) == 0.5
    assert recall_at_k(["a"], {"c": 0}, 1) == 0.0  # nothing relevant: 0, not a division error


def test_dcg_uses_linear_gain_and_log2_of_position_plus_one() -> None:
    # 3/log2(2) + 2/log2(3) + 1/log2(4) = 3 + 1.2618595 + 0.5
    assert dcg([3, 2, 1]) == pytest.approx(4.7618595, abs=1e-6)


def test_ndcg_with_graded_relevance() -> None:
    qrels = {"d1": 3, "d2": 2, "d3": 0, "d4": 1}
    ranked = ["d3", "d1", "x", "d4"]
    # DCG@4 = 0 + 3/log2(3) + 0 + 1/log2(5) = 1.8927893 + 0.4306766 = 2.3234659
    # IDCG@4 (ideal 3, 2, 1) = 3 + 2/log2(3) + 1/2 = 4.7618595
    assert ndcg_at_k(ranked, qrels, 4) == pytest.approx(2.3234659 / 4.7618595, abs=1e-6)
    assert ndcg_at_k(ranked, qrels, 4) == pytest.approx(0.48793, abs=1e-5)
    # At k=2: DCG = 3/log2(3); IDCG = 3 + 2/log2(3) (only the ideal top two count).
    assert ndcg_at_k(ranked, qrels, 2) == pytest.approx((3 / LOG2_3) / (3 + 2 / LOG2_3))


def test_ndcg_ideal_includes_relevant_documents_never_retrieved() -> None:
    # One of two relevant documents found at rank 1: 1 / (1 + 1/log2(3)) = 0.6131472
    assert ndcg_at_k(["a", "x"], {"a": 1, "b": 1}, 10) == pytest.approx(0.6131472, abs=1e-6)
    assert ndcg_at_k(["b", "a"], {"a": 1, "b": 1}, 10) == pytest.approx(1.0)
    # A relevant document at rank 5 alone: 1/log2(6) = 0.3868528
    assert ndcg_at_k(["v", "w", "x", "y", "a"], {"a": 1}, 5) == pytest.approx(0.3868528, abs=1e-6)


def test_ndcg_edge_cases() -> None:
    assert ndcg_at_k(["a", "b"], {"c": 0}, 10) == 0.0  # nothing relevant
    assert ndcg_at_k([], {"a": 1}, 10) == 0.0
    # A repeated document gains once: DCG = 1, IDCG = 1 + 1/log2(3)
    assert ndcg_at_k(["a", "a"], {"a": 1, "b": 1}, 2) == pytest.approx(1 / (1 + 1 / LOG2_3))
    with pytest.raises(ValueError, match="k must be at least 1"):
        ndcg_at_k(["a"], {"a": 1}, 0)


def test_mean_and_percentiles() -> None:
    assert mean([1.0, 0.0, 0.5]) == 0.5
    assert mean([]) == 0.0
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 50) == 2.5
    assert percentile(values, 95) == pytest.approx(3.85)  # position 0.95 * 3 = 2.85
    assert percentile([7.0], 95) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile(values, 101)


def test_best_threshold_maximises_balanced_accuracy() -> None:
    # Cuts between 0.1 .4 .5 .8 .9: at 0.65 all negatives fall below and 2 of 3 positives
    # stay above: (2/3 + 1) / 2 = 5/6, better than 0.25's (1 + 1/2) / 2.
    choice = best_threshold([0.9, 0.8, 0.4], [0.1, 0.5])
    assert choice.threshold == pytest.approx(0.65)
    assert choice.balanced_accuracy == pytest.approx(5 / 6)
    assert choice.positive_rate == pytest.approx(2 / 3)
    assert choice.negative_rate == 1.0


def test_best_threshold_prefers_the_widest_gap_among_ties() -> None:
    # 0.2 (gap 0.2) and 0.75 (gap 0.3) both give (1 + 1/2) / 2 = 0.75.
    choice = best_threshold([0.3, 0.9], [0.1, 0.6])
    assert choice.balanced_accuracy == pytest.approx(0.75)
    assert choice.threshold == pytest.approx(0.75)
    with pytest.raises(ValueError):
        best_threshold([0.5], [])


def test_roc_auc_counts_pairs_and_half_ties() -> None:
    # Pairs (pos, neg): (3,1) win, (3,2) win, (2,1) win, (2,2) tie -> 3.5 of 4.
    assert roc_auc([3.0, 2.0], [1.0, 2.0]) == 0.875
    assert roc_auc([1.0], [2.0]) == 0.0
    assert roc_auc([], [1.0]) is None


def test_tradeoff_goes_from_keeping_all_to_abstaining_on_all() -> None:
    curve = tradeoff([0.9, 0.5], [0.2, 0.6])
    assert curve == [(0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0)]


def test_reliability_bins_and_brier() -> None:
    bins = reliability([0.1, 0.15, 0.9, 0.5], [False, True, True, True], bins=2)
    assert [(b.questions, b.observed) for b in bins] == [(2, 0.5), (2, 1.0)]
    assert bins[0].mean_probability == pytest.approx(0.125)
    assert reliability([1.0], [True], bins=4)[3].questions == 1  # 1.0 is in the last bin
    assert reliability([0.3], [True], bins=4)[0].mean_probability is None
    assert brier([1.0, 0.0, 0.5], [True, False, True]) == pytest.approx(0.25 / 3)
