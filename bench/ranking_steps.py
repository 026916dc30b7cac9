"""Every ranking step tried for issue 11, measured in one run: eval/README.md, "Ranking steps".

    .venv/bin/python bench/ranking_steps.py [--scifact ../shared/benchmarks/scifact]

Prints one markdown row per step: hybrid hit@1 / hit@5 / MRR@10 on the gold set's train and
test parts, and hybrid nDCG@10 on SciFact train and test. Research code, not the service:
it ranks cached vectors with numpy (every passage of the gold index, or SciFact's union of
each retriever's top 200, min-max convex fusion as `korea_qa.ranking.fusion`), so that a step the
service does not have (RM3, Rocchio, neighbours, ...) costs no code in `korea_qa`. The seed
and final rows equal what `make eval` and `make bench-quality` print. Needs the gold index
(built if stale) and SciFact's vectors in the embedding cache (`make bench-quality` fills it;
set KOREA_QA_CACHE_DIR to share it); the variants it embeds (titles, overlapping passages,
untitled abstracts) go into the same cache.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ranking_data import (
    ROOT,
    Data,
    Result,
    Scorer,
    convex,
    evidence,
    gold_data,
    measure,
    scifact_data,
)
from ranking_variants import (
    best_two,
    comb_mnz,
    neighbour_scorer,
    regularised,
    rm3,
    rocchio,
    sentence_bm25,
    theoretical_bound,
    tokenizer,
)

from korea_qa.evaluate.beir import MaxSimVectors, doc_windows
from korea_qa.evaluate.embed_cache import CachedEmbedder
from korea_qa.index.lexical import Bm25Params
from korea_qa.models.embed import load_embedder
from korea_qa.ranking import fusion
from korea_qa.settings import Settings
from korea_qa.startup import resolve

SEED_BM25, FINAL_BM25 = Bm25Params(1.2, 0.75), Bm25Params(0.6, 0.75)
Maker = Callable[[Data], tuple[np.ndarray, Scorer]]  # a collection -> its BM25, its scorer


def row(step: str, what: str, kept: str, gold: dict[str, Result] | None,
        sci: dict[str, Result] | None) -> None:
    def g(part: str) -> str:
        if gold is None:
            return "—"
        r = gold[part]
        return f"{r['hit1']:.1f} / {r['hit5']:.1f} / {r['mrr']:.3f}"

    def s(part: str) -> str:
        return "—" if sci is None else f"{sci[part]['ndcg']:.4f}"
    print(f"| {step} | {what} | {kept} | {g('train')} | {g('test')} | {s('train')} "
          f"| {s('test')} |", flush=True)


def both(sci: Sequence[Data], make: Callable[[Data], tuple[np.ndarray, Scorer]]
         ) -> dict[str, Result]:
    out: dict[str, Result] = {}
    for data in sci:
        lexical, scorer = make(data)
        out.update(measure(data, lexical, scorer))
    return out


class Steps:
    """The collections, their BM25 scores (seed and final parameters), and one method per
    group of steps; each prints its rows."""

    def __init__(self, scifact: Path) -> None:
        self.settings = resolve(Settings()).settings
        self.embedder = CachedEmbedder(load_embedder(self.settings), self.settings.cache_dir)
        self.gold = gold_data(self.settings, self.embedder)
        self.pairs = [scifact_data(scifact, s, self.embedder, self.settings)
                      for s in ("train", "test")]
        self.sci = [d for d, _ in self.pairs]
        self.lex = {id(d): d.lexical(FINAL_BM25) for d in self.everything}
        self.seed = {id(d): d.lexical(SEED_BM25) for d in self.everything}

    @property
    def everything(self) -> list[Data]:
        return [self.gold, *self.sci]

    def run(self, make: Maker, *, gold: bool = True, sci: bool = True
            ) -> tuple[dict[str, Result] | None, dict[str, Result] | None]:
        return (both([self.gold], make) if gold else None,
                both(self.sci, make) if sci else None)

    def kept(self) -> None:
        seed, lex = self.seed, self.lex
        row("0", "seed: cosine + BM25 (k1 1.2), min-max convex, dense weight 0.6", "—",
            *self.run(lambda d: (seed[id(d)], convex(d, seed[id(d)], 0.0, 0.6))))
        row("0", "seed, dense mode", "—", *self.run(dense_mode(seed, 0.0)))
        row("0", "seed, lexical mode", "—", *self.run(lexical_mode(seed)))
        for a in (0.3, 0.5):
            row("1", f"sentence evidence, weight {a}: dense mode", "kept" if a == 0.5 else "",
                *self.run(dense_mode(seed, a)))
        row("1", "sentence evidence 0.5, hybrid, dense weight 0.6", "kept",
            *self.run(lambda d: (seed[id(d)], convex(d, seed[id(d)], 0.5, 0.6))))
        row("1", "+ fusion re-tuned: dense weight 0.7", "kept",
            *self.run(lambda d: (seed[id(d)], convex(d, seed[id(d)], 0.5, 0.7))))
        row("3a", "+ BM25 k1 0.6 (b 0.75): **final**", "kept", *self.run(fused_with(lex)))
        row("3a", "final, dense mode", "", *self.run(dense_mode(lex, 0.5)))
        row("3a", "final, lexical mode", "", *self.run(lexical_mode(lex)))
        alt = {id(d): d.lexical(Bm25Params(0.9, 0.4)) for d in self.everything}
        row("3a", "BM25 k1 0.9, b 0.4 (Anserini's BEIR setting) instead", "dropped",
            *self.run(fused_with(alt)))

    def context(self) -> None:
        titled = gold_data(self.settings, self.embedder, titled=True)
        untitled = []
        for data, (beir, _found) in self.pairs:
            texts, owners = [], []
            for j, body in enumerate(beir.texts):
                windows = doc_windows("", body, 128)
                texts += windows
                owners += [j] * len(windows)
            bare = MaxSimVectors(self.embedder.encode(texts, progress=True), np.asarray(owners),
                                 len(beir.doc_ids))
            dense = np.stack([bare.all_scores(q.astype(np.float32)) for q in data.query_vectors])
            untitled.append(replace(data, dense=dense.astype(np.float64)))
            self.lex[id(untitled[-1])] = self.lex[id(data)]
        self.lex[id(titled)] = self.lex[id(self.gold)]
        row("2", "gold: passage vector of 'Title. passage'; SciFact: abstracts *without* their "
            "title (the contrast)", "dropped", both([titled], fused_with(self.lex)),
            both(untitled, fused_with(self.lex)))

    def lexical_side(self) -> None:
        lex = self.lex
        for label, tok in (("stopwords kept", tokenizer(stopwords=True, one_letter=False)),
                           ("one-letter tokens kept",
                            tokenizer(stopwords=False, one_letter=True))):
            variant = {id(d): d.lexical(FINAL_BM25, tok) for d in self.everything}
            row("3b", f"tokenizer: {label}", "dropped", *self.run(fused_with(variant)))
        expanded = {id(d): rm3(d, FINAL_BM25, convex(d, lex[id(d)]), lex[id(d)])
                    for d in self.everything}
        row("3c", "RM3: 30 terms from the hybrid top 3, mixed half and half", "dropped",
            *self.run(lambda d: (lex[id(d)], convex(d, expanded[id(d)]))))
        row("3d", "Rocchio: query + 0.2 x the top passage's vector, all cosines again",
            "dropped", *self.run(lambda d: (lex[id(d)], rocchio(d, lex[id(d)]))))
        row("3e", "theoretical bounds: cosine + BM25 / sum of query idf, sentence 0.3, "
            "dense weight 0.6", "dropped",
            *self.run(lambda d: (lex[id(d)], theoretical_bound(d, lex[id(d)], 0.3, 0.6))))
        row("3e", "z-score normalisation", "dropped", *self.run(lambda d: (
            lex[id(d)], lambda i, r: 0.7 * _z(evidence(d, i, r, 0.5))
            + 0.3 * _z(lex[id(d)][i][r]))))
        row("3e", "RRF, k 10", "dropped", *self.run(lambda d: (lex[id(d)], lambda i, r: (
            fusion.rrf(evidence(d, i, r, 0.5), lex[id(d)][i][r], k=10)))))

    def neighbours(self) -> None:
        for beta in (0.05, 0.1):
            row("4a", f"neighbours: + {beta} x the better neighbour's fused score", "dropped",
                both([self.gold], with_neighbours(self.lex, beta)), None)
        for overlap in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                varied = gold_data(self.settings.model_copy(update={
                    "chunk_overlap_sentences": overlap, "index_dir": Path(tmp)}),
                    self.embedder)
            row("4b", f"overlapping passages: chunk_overlap_sentences={overlap}", "dropped",
                both([varied], fused_with({id(varied): varied.lexical(FINAL_BM25)})), None)

    def literature(self) -> None:
        lex = self.lex
        by_sentence = {id(d): sentence_bm25(d, FINAL_BM25) for d in self.everything}
        row("5a", "the best sentence's BM25 as a third signal (0.6 / 0.3 / 0.1)", "dropped",
            *self.run(lambda d: (lex[id(d)], lambda i, r: (
                0.6 * fusion.minmax(evidence(d, i, r, 0.5))
                + 0.3 * fusion.minmax(lex[id(d)][i][r])
                + 0.1 * fusion.minmax(by_sentence[id(d)][i][r])))))
        row("5b", "score regularisation: + 0.1 x the most similar candidate's score",
            "dropped", *self.run(lambda d: (lex[id(d)], regularised(d, lex[id(d)]))))
        two = {id(d): best_two(d) for d in self.everything}
        row("5c", "mean of the two best sentences instead of the best", "dropped",
            *self.run(lambda d: (lex[id(d)], lambda i, r: fusion.convex(
                0.5 * d.dense[i][r] + 0.5 * two[id(d)][i][r], lex[id(d)][i][r], weight=0.7))))
        titles = {}
        for data, (beir, _found) in self.pairs:
            vectors = self.embedder.encode([t or "" for t in beir.titles]).astype(np.float64)
            titles[id(data)] = data.query_vectors @ vectors.T
        row("5d", "the title's own vector as a third dense signal (0.45 / 0.45 / 0.1)",
            "dropped", None, both(self.sci, lambda d: (lex[id(d)], lambda i, r: fusion.convex(
                0.45 * d.dense[i][r] + 0.45 * d.sentence[i][r] + 0.1 * titles[id(d)][i][r],
                lex[id(d)][i][r], weight=0.7))))
        row("5e", "CombMNZ over each retriever's top 100", "dropped",
            None, both(self.sci, lambda d: (lex[id(d)], comb_mnz(d, lex[id(d)]))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scifact", type=Path,
                        default=ROOT.parent / "shared" / "benchmarks" / "scifact")
    steps = Steps(parser.parse_args().scifact)
    print("| step | what | kept | gold train: hybrid hit@1 / hit@5 / MRR@10 | gold test "
          "| SciFact train: hybrid nDCG@10 | SciFact test |")
    print("|---|---|---|---|---|---|---|")
    steps.kept()
    steps.context()
    steps.lexical_side()
    steps.neighbours()
    steps.literature()
    return 0


def dense_mode(lexical: dict[int, np.ndarray], weight: float, n: int = 200) -> Maker:
    """Dense mode ranks the dense top `n` alone, as the service does."""
    def make(d: Data) -> tuple[np.ndarray, Scorer]:
        def score(i: int, rows: np.ndarray) -> np.ndarray:
            nth = np.sort(d.dense[i])[-n] if d.dense.shape[1] > n else -np.inf
            return np.where(d.dense[i][rows] >= nth, evidence(d, i, rows, weight), -np.inf)
        return lexical[id(d)], score
    return make


def lexical_mode(lexical: dict[int, np.ndarray]) -> Maker:
    """Only rows sharing a term with the question are listed, as in the service."""
    return lambda d: (lexical[id(d)], lambda i, r: np.where(
        lexical[id(d)][i][r] > 0, lexical[id(d)][i][r], -np.inf))


def fused_with(lexical: dict[int, np.ndarray]) -> Maker:
    return lambda d: (lexical[id(d)], convex(d, lexical[id(d)]))


def with_neighbours(lexical: dict[int, np.ndarray], beta: float) -> Maker:
    return lambda d: (lexical[id(d)], neighbour_scorer(d, lexical[id(d)], beta))


def _z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-9)


if __name__ == "__main__":
    sys.exit(main())
