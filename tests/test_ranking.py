"""Sentence evidence in ranking (`korea_qa.ranking.rank`), against hand-computed cases.

Three candidates, scored by both retrievers and by their best sentence:

    row  cosine  best sentence  evidence (weight 0.5)  BM25
    0    0.9     0.6            0.75                   0.0
    1    0.5     0.95           0.725                  3.0
    2    0.7     0.7            0.7                    6.0
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from korea_qa.library.lifecycle import Library
from korea_qa.ranking.rank import RankParams, rank, sentence_evidence
from korea_qa.records import Article, Filters
from korea_qa.settings import Settings
from korea_qa.store.arrays import ArrayRetrieval

DENSE = np.array([0.9, 0.5, 0.7])
SENTENCE = np.array([0.6, 0.95, 0.7])
LEXICAL = np.array([0.0, 3.0, 6.0])
KEYS = ["d#0", "d#1", "d#2"]


def _params(**kwargs: object) -> RankParams:
    return RankParams.of(Settings(model="hash:8", candidates=3, **kwargs))  # type: ignore[arg-type]


def _retrieval() -> ArrayRetrieval:
    return ArrayRetrieval(DENSE, LEXICAL, KEYS, SENTENCE)


def test_evidence_mixes_the_cosine_with_the_best_sentence() -> None:
    refs = np.arange(3)
    evidence = sentence_evidence(_retrieval(), refs, DENSE, 0.5)
    assert evidence == pytest.approx([0.75, 0.725, 0.7])
    evidence = sentence_evidence(_retrieval(), refs, DENSE, 1.0)
    assert evidence == pytest.approx([0.6, 0.95, 0.7])


class _NoSentences(ArrayRetrieval):
    def sentence_scores(self, refs: np.ndarray) -> np.ndarray:
        raise AssertionError("sentence scores read with sentence_weight 0")


def test_weight_zero_is_the_cosine_alone_and_reads_no_sentences() -> None:
    retrieval = _NoSentences(DENSE, LEXICAL, KEYS, SENTENCE)
    ranked = rank(retrieval, "dense", _params(sentence_weight=0.0))
    assert ranked.refs.tolist() == [0, 2, 1]
    assert ranked.scores == pytest.approx([0.9, 0.7, 0.5])


def test_dense_mode_orders_by_evidence_and_keeps_the_cosine() -> None:
    ranked = rank(_retrieval(), "dense", _params(sentence_weight=0.5))
    assert ranked.refs.tolist() == [0, 1, 2]  # row 1's sentence lifts it over row 2
    assert ranked.scores == pytest.approx([0.75, 0.725, 0.7])
    # The cosine (what abstention reads) is untouched.
    assert ranked.dense == pytest.approx([0.9, 0.5, 0.7])


def test_hybrid_fuses_the_evidence_with_bm25() -> None:
    # Min-max: evidence (0.75, 0.725, 0.7) -> (1, 0.5, 0); BM25 (0, 3, 6) -> (0, 0.5, 1).
    # Convex, dense weight 0.7: 0.7, 0.5, 0.3. Without sentences the cosine (0.9, 0.5, 0.7)
    # -> (1, 0, 0.5) gives 0.7, 0.15, 0.65: rows 1 and 2 the other way round.
    ranked = rank(_retrieval(), "hybrid",
                  _params(sentence_weight=0.5, dense_weight=0.7))
    assert ranked.refs.tolist() == [0, 1, 2]
    assert ranked.scores == pytest.approx([0.7, 0.5, 0.3])
    ranked = rank(_retrieval(), "hybrid",
                  _params(sentence_weight=0.0, dense_weight=0.7))
    assert ranked.refs.tolist() == [0, 2, 1]
    assert ranked.scores == pytest.approx([0.7, 0.65, 0.15])


def test_array_retrieval_without_sentences_counts_a_row_as_one_sentence() -> None:
    retrieval = ArrayRetrieval(DENSE, LEXICAL, KEYS)
    assert retrieval.sentence_scores(np.array([2, 0])) == pytest.approx([0.7, 0.9])


# ---------------------------------------------------------------- the store's retrieval


class KeywordEmbedder:
    """Counts of three keywords, normalised: vectors one can compute by hand."""

    model_id = "hash:3"
    dim = 3
    WORDS = ("alpha", "beta", "gamma")

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: bool = False) -> np.ndarray:
        counts = np.array([[t.lower().split().count(w) + t.lower().split().count(w + ".")
                            for w in self.WORDS] for t in texts], dtype=np.float32)
        return counts / np.linalg.norm(counts, axis=1, keepdims=True)


def test_the_store_scores_a_passage_by_its_best_sentence(tmp_path: Path) -> None:
    # Passage 0: "Beta beta here." (0, 1, 0) and "Alpha alpha alpha." (1, 0, 0); as a whole
    # (3, 2, 0) / sqrt(13). Passage 1: "Beta gamma." and "Gamma beta.", both (0, 1, 1) /
    # sqrt(2). The question "beta" is (0, 1, 0): cosines 2 / sqrt(13) = 0.5547 and 0.7071,
    # best sentences 1.0 and 0.7071.
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index",
                        model="hash:3", chunk_min_words=1, chunk_max_words=10, candidates=5)
    library = Library(settings, KeywordEmbedder())
    library.put(Article(doc_id="keys", title="Keys",
                        text="Beta beta here. Alpha alpha alpha.\n\nBeta gamma. Gamma beta."))
    view = library.view()
    retrieval = view.retrieval(np.array([0.0, 1.0, 0.0], dtype=np.float32), ["beta"], Filters())
    refs = retrieval.dense_top(5).refs
    refs = refs[np.argsort(retrieval.keys(refs))]  # keys#0, keys#1
    assert retrieval.keys(refs) == ["keys#0", "keys#1"]
    assert retrieval.dense_scores(refs) == pytest.approx([2 / np.sqrt(13), 1 / np.sqrt(2)])
    # Sentence vectors are stored in float16 (korea_qa.store.layout): cosines to about 1e-4.
    assert retrieval.sentence_scores(refs) == pytest.approx([1.0, 1 / np.sqrt(2)], abs=5e-4)
    assert retrieval.sentence_scores(refs[::-1]) == pytest.approx([1 / np.sqrt(2), 1.0],
                                                                  abs=5e-4)
    # Dense mode: the cosine alone puts passage 1 first; with its best sentence, passage 0
    # (0.5 * 0.5547 + 0.5 * 1.0 = 0.7774 against 0.7071).
    for weight, first in ((0.0, "keys#1"), (0.5, "keys#0")):
        ranked = rank(retrieval, "dense", RankParams.of(settings.model_copy(
            update={"sentence_weight": weight})))
        assert retrieval.keys(ranked.refs[:1]) == [first]
    view.close()
    library.close()
