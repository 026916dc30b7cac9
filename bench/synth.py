"""A large corpus from real text, for benchmarks that need more passages than exist.

Sentences of the SciFact abstracts and of the seed articles are recombined, in a fixed
random order, into articles of realistic length (paragraphs of 3-6 sentences, about 1,000
words an article), so the lexical side sees real vocabulary and real document frequencies.
Their vectors come from `HashProjection`, a deterministic stand-in for the model that keeps
texts sharing words close (hashed bag of stems, projected to the model's dimension), at
thousands of passages a second; the real model would need hours for a million passages on
two cores. A benchmark prints the real model's own rate beside its figures.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import HashingVectorizer

from korea_qa.analysis.tokenize import tokenize
from korea_qa.library.chunk import chunk_article, split_sentences
from korea_qa.library.corpus import load_corpus
from korea_qa.records import Article
from korea_qa.settings import Settings
from korea_qa.store.base import Put

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "benchmarks" / "scifact"


def real_sentences(scifact: Path = SCIFACT) -> list[str]:
    """Every sentence of the SciFact abstracts and of the seed articles."""
    return [s for group in real_groups(scifact) for s in group]


def real_groups(scifact: Path = SCIFACT) -> list[list[str]]:
    """The sentences of each SciFact abstract and of each seed article, a list apiece."""
    out: list[list[str]] = []
    path = scifact / "corpus.jsonl.gz"
    texts: list[str] = []
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            texts = [json.loads(line)["text"] for line in handle]
    texts += [article.text for article in load_corpus(ROOT / "corpus")]
    for text in texts:
        group = [text[a:b] for a, b in split_sentences(text)]
        group = [s for s in group if len(s.split()) >= 4]
        if group:
            out.append(group)
    return out


def articles(count: int, sentences: Sequence[str], *, seed: int = 7, prefix: str = "synth",
             words: int = 1000) -> Iterator[Article]:
    """`count` articles of about `words` words, each a fresh draw of real sentences."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        yield _article(i, rng, sentences, prefix, words)


def topics(groups: Sequence[Sequence[str]], count: int = 256, seed: int = 7) -> list[list[str]]:
    """The sentences of `groups` (abstracts) in about `count` pools of one topic each: the
    groups clustered (k-means) by their hashed stems."""
    from sklearn.cluster import MiniBatchKMeans

    vectors = HashProjection().encode([" ".join(g) for g in groups])
    labels = MiniBatchKMeans(count, random_state=seed, n_init=1, batch_size=4096
                             ).fit_predict(vectors)
    pools: list[list[str]] = [[] for _ in range(count)]
    for group, label in zip(groups, labels, strict=True):
        pools[int(label)].extend(group)
    return [pool for pool in pools if len(pool) >= 30]


def topical_articles(count: int, pools: Sequence[Sequence[str]], *, seed: int = 7,
                     prefix: str = "synth", words: int = 1000) -> Iterator[Article]:
    """As `articles`, but each article keeps to one topic (its sentences all from one pool of
    `topics`), as a news article does: passages of one article, and of articles on one
    topic, are alike, which is what an approximate vector index relies on."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        yield _article(i, rng, pools[int(rng.integers(0, len(pools)))], prefix, words)


def _article(i: int, rng: np.random.Generator, sentences: Sequence[str], prefix: str,
             words: int) -> Article:
    paragraphs, total = [], 0
    while total < words:
        picked = rng.integers(0, len(sentences), int(rng.integers(3, 7)))
        paragraph = " ".join(sentences[int(j)] for j in picked)
        paragraphs.append(paragraph)
        total += len(paragraph.split())
    return Article(doc_id=f"{prefix}-{i:07d}", title=f"Synthetic article {i}",
                   text="\n\n".join(paragraphs), source=f"Source {i % 50}",
                   published=f"20{10 + i % 15}-0{1 + i % 9}-1{i % 10}")


class HashProjection:
    """Texts to unit vectors: hashed stems (2**15 buckets), times a fixed random matrix."""

    def __init__(self, dim: int = 384, seed: int = 11) -> None:
        self.dim = dim
        self.model_id = f"hash-projection:{dim}"
        self._hasher = HashingVectorizer(n_features=2**15, analyzer=tokenize,
                                         alternate_sign=True, norm=None)
        rng = np.random.default_rng(seed)
        self._matrix = rng.standard_normal((2**15, dim)).astype(np.float32)

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: bool = False) -> np.ndarray:
        return unit(self.raw(texts))

    def raw(self, texts: Sequence[str]) -> np.ndarray:
        """The projections before normalising: additive, a text's is its parts' summed."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        counts = self._hasher.transform(list(texts))
        return np.asarray(counts @ self._matrix, dtype=np.float32)


def unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def puts(batch: Sequence[Article], embedder: HashProjection, settings: Settings) -> list[Put]:
    """The store's puts for `batch`: chunked as the service chunks, vectors from `embedder`
    (one call for all the batch's passages and one for their sentences)."""
    chunked = [chunk_article(a, min_words=settings.chunk_min_words,
                             max_words=settings.chunk_max_words,
                             overlap_sentences=settings.chunk_overlap_sentences) for a in batch]
    flat = [p for passages in chunked for p in passages]
    raw = embedder.raw([p.text[a:b] for p in flat for a, b in p.sentences])
    counts = [len(p.sentences) for p in flat]
    if flat and min(counts) > 0:
        # A passage is its sentences with whitespace between, so its hashed stems are
        # theirs summed: half the tokenising of encoding passages and sentences apart.
        starts = np.r_[0, np.cumsum(counts)[:-1]]
        vectors = unit(np.add.reduceat(raw, starts, axis=0))
    else:
        vectors = embedder.encode([p.text for p in flat])
    sentence_vectors = unit(raw)
    out, row, srow = [], 0, 0
    for article, passages in zip(batch, chunked, strict=True):
        sentences = sum(len(p.sentences) for p in passages)
        out.append(Put(article, passages, vectors[row:row + len(passages)],
                       sentence_vectors[srow:srow + sentences]))
        row, srow = row + len(passages), srow + sentences
    return out
