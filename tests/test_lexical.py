"""BM25 from raw term counts: hand-checked on a tiny corpus, then against bm25s itself."""

from __future__ import annotations

import math
from pathlib import Path

import bm25s
import numpy as np
import pytest

from korea_qa.analysis.tokenize import tokenize
from korea_qa.index.lexical import Bm25Params, CollectionStats, Forward, Postings, TextIndex, idf
from korea_qa.library.corpus import load_corpus

ROOT = Path(__file__).resolve().parents[1]


def test_forward_and_inverted_lists_hold_the_counts() -> None:
    forward = Forward.from_token_ids([[3, 1, 3], [], [1, 2]])
    assert forward.ptr.tolist() == [0, 2, 2, 4]
    assert forward.terms.tolist() == [1, 3, 1, 2]
    assert forward.counts.tolist() == [1, 2, 1, 1]
    assert forward.lengths().tolist() == [3, 0, 2]
    postings = Postings.invert(forward)
    assert postings.terms.tolist() == [1, 2, 3]
    assert postings.ptr.tolist() == [0, 2, 3, 4]
    assert postings.rows.tolist() == [0, 2, 2, 0]
    assert postings.tf.tolist() == [1, 1, 1, 2]
    merged = Forward.concat([forward.take(2, 3), forward.take(0, 1)])
    assert merged.ptr.tolist() == [0, 2, 4]
    assert merged.terms.tolist() == [1, 2, 1, 3]


def test_scores_match_the_formula_by_hand() -> None:
    # Three documents: "apple apple pear", "pear", "plum plum plum plum".
    n, avgdl, k1, b = 3, 8 / 3, 1.2, 0.75
    index = TextIndex(["apple apple pear", "pear", "plum plum plum plum"], Bm25Params(k1, b))

    def term(tf: float, df: int, dl: int) -> float:
        return math.log(1 + (n - df + 0.5) / (df + 0.5)) * tf / (
            tf + k1 * (1 - b + b * dl / avgdl))

    got = index.scores(tokenize("apple pear"))
    expected = [term(2, 1, 3) + term(1, 2, 3), term(1, 2, 1), 0.0]
    assert got.tolist() == pytest.approx(expected, rel=1e-6)
    # A repeated query word counts twice, as in bm25s.
    assert index.scores(tokenize("pear pear"))[1] == pytest.approx(2 * term(1, 2, 1), rel=1e-6)
    assert index.scores(["unknownword"]).tolist() == [0.0, 0.0, 0.0]


def test_statistics_passed_in_decide_the_scores() -> None:
    # The same postings scored under other collection statistics: what an index that
    # grows article by article relies on.
    postings = Postings.invert(Forward.from_token_ids([[0, 0, 1], [1]]))
    stats = CollectionStats(passages=10, total_length=40)
    weight = idf(np.array([5]), 10)
    got = postings.scores([1], weight, stats, Bm25Params(k1=1.2, b=0.75))
    norm = 1.2 * (1 - 0.75 + 0.75 * np.array([3, 1]) / 4.0)
    assert got.tolist() == pytest.approx((weight[0] / (1 + norm)).tolist(), rel=1e-6)


def _reference(texts: list[str], queries: list[str], k1: float, b: float) -> None:
    ours = TextIndex(texts, Bm25Params(k1=k1, b=b))
    theirs = bm25s.BM25(k1=k1, b=b, method="lucene")
    theirs.index([tokenize(t) for t in texts], show_progress=False)
    for query in queries:
        tokens = tokenize(query)
        known = [t for t in tokens if t in theirs.vocab_dict]
        expected = theirs.get_scores(known) if known else np.zeros(len(texts))
        assert ours.scores(tokens) == pytest.approx(np.asarray(expected), rel=2e-5, abs=1e-6)


@pytest.mark.parametrize(("k1", "b"), [(1.2, 0.75), (0.9, 0.4), (2.0, 1.0)])
def test_scores_equal_bm25s_on_the_seed_passages(k1: float, b: float) -> None:
    texts = [p for a in load_corpus(ROOT / "corpus") for p in a.text.split("\n\n")]
    queries = ["Why did Russia write off North Korea's debt?", "Wonsan beaches",
               "North Korean workers in the Russian Far East", "Khusnullin construction",
               "the of and", "sanctions sanctions UN Security Council"]
    _reference(texts, queries, k1, b)


def test_scores_equal_bm25s_on_scifact_abstracts() -> None:
    import gzip
    import json

    path = ROOT.parent / "shared" / "benchmarks" / "scifact" / "corpus.jsonl.gz"
    if not path.exists():
        pytest.skip(f"{path} is not here (the shared benchmarks sit beside the repository)")
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for _, line in zip(range(1500), handle, strict=False)]
    texts = [f"{r['title']}. {r['text']}" for r in rows]
    queries = [r["title"] for r in rows[::150]] + ["protein kinase inhibitor", "cell"]
    _reference(texts, queries, 1.2, 0.75)
