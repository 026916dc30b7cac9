"""The BEIR harness: retrieval quality on any folder in BEIR layout (e.g. SciFact), through
the service's own ranking. The command is `korea_qa.evaluate.beir_command`.

Layout: `corpus.jsonl` or `corpus.jsonl.gz` ({"_id", "title", "text"} a line),
`queries.jsonl` ({"_id", "text"}), `qrels/<split>.tsv` (query-id, corpus-id, score, with a
header line). Only queries judged in the split are evaluated.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from korea_qa.analysis.tokenize import tokenize
from korea_qa.errors import KoreaQAError
from korea_qa.evaluate import metrics
from korea_qa.index.lexical import Bm25Params, TextIndex
from korea_qa.library.chunk import split_sentences
from korea_qa.models.embed import Embedder
from korea_qa.ranking.rank import RankParams, rank
from korea_qa.settings import Settings
from korea_qa.store.arrays import ArrayRetrieval


class BeirData(NamedTuple):
    name: str
    doc_ids: list[str]
    titles: list[str]
    texts: list[str]
    queries: dict[str, str]  # only the queries judged in the split
    qrels: dict[str, dict[str, int]]  # query id -> {document id: graded relevance}


def load_beir(folder: Path, split: str) -> BeirData:
    if not folder.is_dir():
        raise KoreaQAError(f"BEIR folder not found: {folder}")
    qrels = load_qrels(folder / "qrels" / f"{split}.tsv")
    doc_ids: list[str] = []
    titles: list[str] = []
    texts: list[str] = []
    for row in _jsonl(_corpus_path(folder)):
        doc_ids.append(str(row["_id"]))
        titles.append(row.get("title") or "")
        texts.append(row.get("text") or "")
    all_queries = {str(r["_id"]): r["text"] for r in _jsonl(folder / "queries.jsonl")}
    unknown = sorted(set(qrels) - set(all_queries))
    if unknown:
        raise KoreaQAError(f"qrels name {len(unknown)} queries missing from queries.jsonl, "
                           f"e.g. {unknown[0]!r}")
    queries = {qid: all_queries[qid] for qid in qrels}
    return BeirData(folder.resolve().name, doc_ids, titles, texts, queries, qrels)


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    if not path.exists():
        choices = sorted(p.stem for p in path.parent.glob("*.tsv"))
        raise KoreaQAError(f"no judgements at {path}; splits here: {', '.join(choices) or 'none'}")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            fields = line.rstrip("\n").split("\t")
            if number == 0 and not fields[-1].lstrip("-").isdigit():
                continue  # the header line
            if len(fields) < 3:
                if line.strip():
                    raise KoreaQAError(f"{path}:{number + 1}: expected 3 tab-separated fields")
                continue
            qrels.setdefault(fields[0], {})[fields[1]] = int(fields[2])
    return qrels


def doc_text(title: str, text: str) -> str:
    """One document as the models read it: "Title. Abstract" (title gets a full stop)."""
    title = title.strip()
    if not title:
        return text
    return f"{title} {text}" if re.search(r"[.!?]$", title) else f"{title}. {text}"


def doc_windows(title: str, text: str, max_words: int) -> list[str]:
    """The abstract in windows of whole sentences (up to `max_words`), each led by the title.

    MiniLM reads 256 word pieces, about 160 words of scientific English, so most abstracts
    would be cut short; each window fits, and consecutive windows share one sentence.
    """
    sentences = [text[a:b] for a, b in split_sentences(text)] or [text]
    windows: list[list[str]] = [[]]
    words = 0
    for sentence in sentences:
        size = len(sentence.split())
        if windows[-1] and words + size > max_words:
            # Carry the last sentence over, unless it alone would fill half the window.
            last = windows[-1][-1]
            windows.append([last] if len(last.split()) <= max_words // 2 else [])
            words = sum(len(s.split()) for s in windows[-1])
        windows[-1].append(sentence)
        words += size
    return [doc_text(title, " ".join(w)) for w in windows]


def _corpus_path(folder: Path) -> Path:
    for name in ("corpus.jsonl", "corpus.jsonl.gz"):
        if (folder / name).exists():
            return folder / name
    raise KoreaQAError(f"no corpus.jsonl or corpus.jsonl.gz in {folder}")


def _jsonl(path: Path) -> Iterator[dict[str, str]]:
    if not path.exists():
        raise KoreaQAError(f"missing {path}")
    gz = path.suffix == ".gz"
    with gzip.open(path, "rt", encoding="utf-8") if gz else path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise KoreaQAError(f"{path}:{number}: not JSON ({exc.msg})") from None


# ---------------------------------------------------------------- dense side


class MaxSimVectors:
    """Documents as several vectors each (the whole text, then later windows); a document's
    dense score is its best window's cosine."""

    def __init__(self, vectors: np.ndarray, owners: np.ndarray, size: int) -> None:
        order = np.argsort(owners, kind="stable")
        self.vectors = np.ascontiguousarray(vectors[order], dtype=np.float32)
        owners = owners[order]
        if size and (len(owners) == 0 or owners[0] != 0 or owners[-1] != size - 1
                     or not np.all(np.diff(owners) <= 1)):
            raise ValueError("every document needs at least one vector")
        self._starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
        self.size = size
        # A sweep ranks each query many times: remember each query's scores.
        self._memo: dict[bytes, np.ndarray] = {}

    def all_scores(self, query: np.ndarray) -> np.ndarray:
        if self.size == 0:
            return np.zeros(0, dtype=np.float32)
        query = query.astype(np.float32)
        key = query.tobytes()
        if key not in self._memo:
            self._memo[key] = np.maximum.reduceat(self.vectors @ query, self._starts)
        return self._memo[key]


def sentence_vectors(data: BeirData, embedder: Embedder, *, batch_size: int,
                     progress: bool) -> MaxSimVectors:
    """Each abstract's sentences, embedded bare (as the index embeds a passage's sentences):
    a document's sentence score is its best sentence's cosine. The title is not a sentence."""
    texts: list[str] = []
    owners: list[int] = []
    for row, text in enumerate(data.texts):
        sentences = [text[a:b] for a, b in split_sentences(text)] or [text]
        texts.extend(sentences)
        owners.extend([row] * len(sentences))
    vectors = embedder.encode(texts, batch_size=batch_size, progress=progress)
    return MaxSimVectors(vectors, np.asarray(owners, dtype=np.int64), len(data.doc_ids))


def document_vectors(data: BeirData, embedder: Embedder, *, window_words: int,
                     batch_size: int, progress: bool) -> MaxSimVectors:
    """Embed each document whole (as the model truncates it) and, when `window_words` > 0,
    its later windows too, so text past the truncation point can still match."""
    texts: list[str] = []
    owners: list[int] = []
    for row, (title, text) in enumerate(zip(data.titles, data.texts, strict=True)):
        texts.append(doc_text(title, text))
        owners.append(row)
        if window_words > 0:
            later = doc_windows(title, text, window_words)[1:]
            texts.extend(later)
            owners.extend([row] * len(later))
    vectors = embedder.encode(texts, batch_size=batch_size, progress=progress)
    return MaxSimVectors(vectors, np.asarray(owners, dtype=np.int64), len(data.doc_ids))


# ---------------------------------------------------------------- ranking and scoring


METRICS: tuple[str, ...] = ("ndcg@10", "recall@100", "mrr@10")


class MemoLexical(TextIndex):
    """BM25 whose scores are remembered per query, for the same reason."""

    def __init__(self, texts: list[str], params: Bm25Params) -> None:
        super().__init__(texts, params)
        self._memo: dict[tuple[str, ...], np.ndarray] = {}

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        key = tuple(terms)
        if key not in self._memo:
            self._memo[key] = super().scores(terms)
        return self._memo[key]

    def query_scores(self, text: str) -> np.ndarray:
        return self.scores(tokenize(text))


class Retrievers(NamedTuple):
    vectors: MaxSimVectors
    lexical: Any  # MemoLexical, or beir_milvus.MilvusLexical: query_scores(text)
    query_ids: list[str]
    query_vectors: np.ndarray
    sentences: MaxSimVectors | None = None  # None: no sentence evidence (sentence_weight 0)


def build_retrievers(data: BeirData, embedder: Embedder, settings: Settings, *,
                     window_words: int, k1: float, b: float, progress: bool,
                     sentences: bool | None = None, lexical_store: str = "local") -> Retrievers:
    """`sentences`: embed the abstracts' sentences too (default: when sentence evidence is on);
    `lexical_store`: BM25 from korea-qa (`local`) or from Milvus's BM25 function."""
    vectors = document_vectors(data, embedder, window_words=window_words,
                               batch_size=settings.embed_batch_size, progress=progress)
    texts = [doc_text(t, x) for t, x in zip(data.titles, data.texts, strict=True)]
    lexical: Any
    if lexical_store == "milvus":
        from korea_qa.evaluate.beir_milvus import milvus_lexical

        lexical = milvus_lexical(texts, Bm25Params(k1=k1, b=b), settings.cache_dir,
                                 settings.milvus_uri)
    else:
        lexical = MemoLexical(texts, Bm25Params(k1=k1, b=b))
    query_ids = list(data.queries)
    query_vectors = embedder.encode([data.queries[q] for q in query_ids],
                                    batch_size=settings.embed_batch_size, progress=progress)
    if sentences is None:
        sentences = settings.sentence_weight > 0
    sentence = sentence_vectors(data, embedder, batch_size=settings.embed_batch_size,
                                progress=progress) if sentences else None
    return Retrievers(vectors, lexical, query_ids, query_vectors, sentence)


def ranked_lists(data: BeirData, retrievers: Retrievers, mode: str,
                 params: RankParams) -> list[list[str]]:
    """Each query's ranked document ids, through the service's own ranking path."""
    out = []
    for qid, vector in zip(retrievers.query_ids, retrievers.query_vectors, strict=True):
        sentences = retrievers.sentences
        retrieval = ArrayRetrieval(retrievers.vectors.all_scores(vector),
                                   retrievers.lexical.query_scores(data.queries[qid]),
                                   data.doc_ids,
                                   None if sentences is None else sentences.all_scores(vector))
        ranked = rank(retrieval, mode, params)
        out.append([data.doc_ids[int(i)] for i in ranked.refs])
    return out


def score_lists(data: BeirData, query_ids: list[str], lists: list[list[str]]) -> dict[str, float]:
    per_query = [(metrics.ndcg_at_k(ranked, data.qrels[q], 10),
                  metrics.recall_at_k(ranked, data.qrels[q], 100),
                  metrics.reciprocal_rank(ranked, data.qrels[q], 10))
                 for q, ranked in zip(query_ids, lists, strict=True)]
    return {name: metrics.mean(row[i] for row in per_query) for i, name in enumerate(METRICS)}
