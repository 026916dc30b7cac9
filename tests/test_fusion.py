"""Fusion against a hand-computed table, and the shared ranking path built on it.

Four candidates, scored by both retrievers:

    row  dense  dense rank  BM25  BM25 rank
    0    0.9    1           0.0   (none: no query term)
    1    0.8    2           3.0   2 (tied)
    2    0.5    4           6.0   1
    3    0.7    3           3.0   2 (tied)
"""

from __future__ import annotations

import numpy as np
import pytest

from korea_qa.analysis.tokenize import tokenize
from korea_qa.index.lexical import TextIndex
from korea_qa.ranking import fusion
from korea_qa.ranking.rank import RankParams, rank
from korea_qa.settings import Settings
from korea_qa.store.arrays import ArrayRetrieval

DENSE = np.array([0.9, 0.8, 0.5, 0.7])
LEXICAL = np.array([0.0, 3.0, 6.0, 3.0])


def test_ranks_share_the_best_rank_on_ties() -> None:
    assert fusion.ranks(DENSE).tolist() == [1, 2, 4, 3]
    assert fusion.ranks(LEXICAL).tolist() == [4, 2, 1, 2]
    assert fusion.ranks(np.array([])).tolist() == []


def test_rrf_matches_the_table() -> None:
    fused = fusion.rrf(DENSE, LEXICAL, k=10)
    expected = [1 / 11, 1 / 12 + 1 / 12, 1 / 14 + 1 / 11, 1 / 13 + 1 / 12]
    assert fused == pytest.approx(expected)
    assert np.argsort(-fused).tolist() == [1, 2, 3, 0]


def test_rrf_gives_nothing_for_a_zero_bm25_score() -> None:
    fused = fusion.rrf(DENSE, np.zeros(4), k=60)
    assert fused == pytest.approx([1 / 61, 1 / 62, 1 / 64, 1 / 63])


def test_minmax() -> None:
    assert fusion.minmax(DENSE) == pytest.approx([1.0, 0.75, 0.0, 0.5])
    assert fusion.minmax(LEXICAL) == pytest.approx([0.0, 0.5, 1.0, 0.5])
    # No spread: nothing to tell the candidates apart, so nobody gets credit.
    assert fusion.minmax(np.array([2.0, 2.0])).tolist() == [0.0, 0.0]


def test_convex_matches_the_table() -> None:
    assert fusion.convex(DENSE, LEXICAL, weight=0.3) == pytest.approx([0.3, 0.575, 0.7, 0.5])
    assert fusion.convex(DENSE, LEXICAL, weight=1.0) == pytest.approx(fusion.minmax(DENSE))
    assert fusion.convex(DENSE, LEXICAL, weight=0.0) == pytest.approx(fusion.minmax(LEXICAL))


def test_convex_with_no_lexical_evidence_keeps_dense_order() -> None:
    fused = fusion.convex(DENSE, np.zeros(4), weight=0.5)
    assert fused == pytest.approx([0.5, 0.375, 0.0, 0.25])


def test_fuse_dispatches_and_names_the_choices() -> None:
    assert fusion.fuse(DENSE, LEXICAL, method="rrf", rrf_k=10, dense_weight=0.3) == (
        pytest.approx(fusion.rrf(DENSE, LEXICAL, k=10)))
    assert fusion.fuse(DENSE, LEXICAL, method="convex", rrf_k=10, dense_weight=0.3) == (
        pytest.approx([0.3, 0.575, 0.7, 0.5]))
    with pytest.raises(ValueError, match="rrf, convex"):
        fusion.fuse(DENSE, LEXICAL, method="max", rrf_k=10, dense_weight=0.3)
    with pytest.raises(ValueError, match="same candidates"):
        fusion.fuse(DENSE, LEXICAL[:3], method="rrf", rrf_k=10, dense_weight=0.3)


# ---------------------------------------------------------------- the shared ranking path


TEXTS = ["apples and pears and plums", "pears only", "nothing in common", "apples apples apples"]


def _retrieval(query: str) -> ArrayRetrieval:
    # Query vector (1, 0): cosines 0.6, 0.8, 0.0, 1.0 -> dense order 3, 1, 0, 2.
    rows = np.array([[0.6, 0.8], [0.8, 0.6], [0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    lexical = TextIndex(TEXTS).scores(tokenize(query))
    return ArrayRetrieval(rows @ np.array([1.0, 0.0], dtype=np.float32), lexical,
                          [f"t#{i}" for i in range(len(TEXTS))])


def _rank(mode: str, query: str = "pears") -> np.ndarray:
    settings = Settings(model="hash:8", candidates=2)
    return rank(_retrieval(query), mode, RankParams.of(settings)).refs


def test_rank_dense_and_lexical_modes_take_each_retrievers_top() -> None:
    assert _rank("dense").tolist() == [3, 1]
    # Only rows 0 and 1 contain "pears"; row 1 is shorter, so BM25 puts it first.
    assert _rank("lexical").tolist() == [1, 0]


def test_rank_hybrid_fuses_the_union_of_candidates() -> None:
    # Candidates: dense top 2 (3, 1), then lexical extras (0). Row 1 is in both lists.
    # Dense ranks 3, 1, 0 -> 1, 2, 3; BM25 ranks 1, 0 -> 1, 2 (row 3 has no "pears").
    # rrf_k=1: row 1 = 1/3 + 1/2, row 0 = 1/4 + 1/3, row 3 = 1/2 + 0.
    ranked = rank(_retrieval("pears"), "hybrid",
                  RankParams.of(Settings(model="hash:8", candidates=2, fusion="rrf", rrf_k=1)))
    assert ranked.refs.tolist() == [1, 0, 3]
    assert ranked.scores == pytest.approx([1 / 3 + 1 / 2, 1 / 4 + 1 / 3, 1 / 2])
    assert ranked.dense == pytest.approx([0.8, 0.6, 1.0])
    assert ranked.lexical[2] == 0.0


def test_rank_lexical_falls_back_to_dense_when_no_query_term_is_known() -> None:
    assert _rank("lexical", query="zebra").tolist() == [3, 1]
