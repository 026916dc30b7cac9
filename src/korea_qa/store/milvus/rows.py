"""What korea-qa keeps in Milvus, row by row: the two collections of one index version, and
how records become rows and rows records.

    <name>_p   passages: one row per passage (auto int64 pk, never updated in place)
               doc_id, stamp, position, paragraph, page, start, end, text (analysed: BM25
               function -> sparse), vector (dense), spans and sentence_vectors (answer
               choice), and the filter fields source_lc, author_lc, published
    <name>_a   articles: "m" the version's meta row (model, dim, fingerprint, generation,
               counts, pending writes); "a:<doc_id>" one head per article (metadata, hashes,
               file state, the stamp of its live passages); "t:<doc_id>:<stamp>:<n>" the
               article text in pieces of at most 60,000 bytes (a VARCHAR holds 65,535)

Every collection needs a vector field, so the articles collection has a constant 2-d one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from korea_qa.analysis.tokenize import STOPWORDS
from korea_qa.errors import KoreaQAError
from korea_qa.index.lexical import Bm25Params
from korea_qa.records import Article, Filters, Passage

VARCHAR_MAX = 65_535
TEXT_PIECE_CHARS = 15_000
META_KEY = "m"
# Metadata is at most 500 characters (korea_qa.library.metadata); 4 bytes each at worst.
LABEL_BYTES = 2_048
# Milvus's analyser for the BM25 function, as close to korea_qa.analysis.tokenize as it offers: the
# standard tokenizer, lowercase, Lucene's English stopwords, the Snowball English stemmer.
# milvus-lite 3 applies the tokenizer, lowercase and stopwords, and ignores the stemmer.
ANALYZER: dict[str, Any] = {
    "tokenizer": "standard",
    "filter": ["lowercase", {"type": "stop", "stop_words": sorted(STOPWORDS)},
               {"type": "stemmer", "language": "english"}],
}
PASSAGE_FIELDS = ("doc_id", "stamp", "position", "paragraph", "page", "start", "end", "text",
                  "spans", "sentence_vectors")


def passages_schema(client: Any, dim: int) -> Any:
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=True, enable_dynamic_field=False)
    schema.add_field("pk", DataType.INT64, is_primary=True)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=128)
    schema.add_field("stamp", DataType.VARCHAR, max_length=64)
    for name in ("position", "paragraph", "page", "start", "end"):
        schema.add_field(name, DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=VARCHAR_MAX, enable_analyzer=True,
                     analyzer_params=ANALYZER)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("spans", DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field("sentence_vectors", DataType.VARCHAR, max_length=VARCHAR_MAX)
    for name in ("source_lc", "author_lc"):
        schema.add_field(name, DataType.VARCHAR, max_length=LABEL_BYTES)
    schema.add_field("published", DataType.VARCHAR, max_length=16)
    schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                 input_field_names=["text"], output_field_names=["sparse"]))
    return schema


def passages_index(client: Any, index_type: str, bm25: Bm25Params) -> Any:
    params = client.prepare_index_params()
    # Vectors are normalised: inner product is the cosine, as in the local store.
    params.add_index("vector", index_type=index_type, metric_type="IP")
    params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                     params={"bm25_k1": bm25.k1, "bm25_b": bm25.b})
    return params


def articles_schema(client: Any) -> Any:
    from pymilvus import DataType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=256)
    schema.add_field("kind", DataType.VARCHAR, max_length=8)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=128)
    schema.add_field("stamp", DataType.VARCHAR, max_length=64)
    for name in ("source_lc", "author_lc"):
        schema.add_field(name, DataType.VARCHAR, max_length=LABEL_BYTES)
    schema.add_field("published", DataType.VARCHAR, max_length=16)
    schema.add_field("info", DataType.JSON)
    schema.add_field("body", DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)
    return schema


def articles_index(client: Any) -> Any:
    params = client.prepare_index_params()
    params.add_index("v", index_type="FLAT", metric_type="IP")
    return params


# ---------------------------------------------------------------- filters


def literal(value: str) -> str:
    """A string as a Milvus expression literal (double quotes, C escapes)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
        .replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


def literals(values: Sequence[str]) -> str:
    return "[" + ", ".join(literal(v) for v in values) + "]"


def label(value: str | None) -> str:
    """The case-folded value filters compare (as the local catalog's COLLATE NOCASE)."""
    return _clip((value or "").lower(), LABEL_BYTES)


def filter_expr(filters: Filters | None) -> str:
    """The filters as a Milvus boolean expression over the passage or article fields."""
    if not filters:
        return ""
    parts = []
    if filters.doc_ids:
        parts.append(f"doc_id in {literals(filters.doc_ids)}")
    if filters.source:
        parts.append(f"source_lc == {literal(label(filters.source))}")
    if filters.author:
        parts.append(f"author_lc == {literal(label(filters.author))}")
    # ISO dates compare as strings; an article without a date ("") has none to compare.
    if filters.published_from:
        parts.append(f'published != "" and published >= {literal(filters.published_from)}')
    if filters.published_to:
        parts.append(f'published != "" and published <= {literal(filters.published_to)}')
    return " and ".join(f"({p})" for p in parts)


def both(*exprs: str) -> str:
    return " and ".join(f"({e})" for e in exprs if e)


# ---------------------------------------------------------------- passages


def passage_rows(article: Article, stamp: str, passages: Sequence[Passage],
                 vectors: np.ndarray, sentence_vectors: np.ndarray) -> list[dict[str, Any]]:
    labels = {"source_lc": label(article.source), "author_lc": label(article.author),
              "published": article.published or ""}
    rows, first = [], 0
    for passage, vector in zip(passages, vectors, strict=True):
        count = len(passage.sentences)
        rows.append({
            "doc_id": article.doc_id, "stamp": stamp, "position": passage.position,
            "paragraph": passage.paragraph, "page": passage.page or 0,
            "start": passage.start, "end": passage.end, "text": passage.text,
            "vector": np.asarray(vector, dtype=np.float32).tolist(),
            "spans": json.dumps([list(s) for s in passage.sentences]),
            "sentence_vectors": encode_vectors(sentence_vectors[first:first + count]),
            **labels})
        first += count
    return rows


def row_passage(row: dict[str, Any]) -> Passage:
    return Passage(doc_id=row["doc_id"], position=int(row["position"]),
                   paragraph=int(row["paragraph"]), start=int(row["start"]),
                   end=int(row["end"]), text=row["text"],
                   sentences=tuple((int(a), int(b)) for a, b in json.loads(row["spans"])),
                   page=int(row["page"]) or None)


def encode_vectors(vectors: np.ndarray) -> str:
    """Sentence vectors in one VARCHAR: float32, or float16 when float32 does not fit."""
    for kind, dtype in (("f4", "<f4"), ("f2", "<f2")):
        blob = kind + ":" + base64.b64encode(np.asarray(vectors, dtype=dtype).tobytes()
                                             ).decode("ascii")
        if len(blob) <= VARCHAR_MAX:
            return blob
    raise KoreaQAError(f"a passage has {len(vectors)} sentences; the Milvus store keeps the "
                       "vectors of at most about 60 per passage")


def decode_vectors(blob: str, dim: int) -> np.ndarray:
    kind, _, data = blob.partition(":")
    dtype = "<f4" if kind == "f4" else "<f2"
    raw = np.frombuffer(base64.b64decode(data), dtype=dtype)
    return raw.astype(np.float32).reshape(-1, dim)


# ---------------------------------------------------------------- articles


def head_row(article: Article, stamp: str, passages: int,
             file: tuple[str, int, int] | None) -> dict[str, Any]:
    pieces = list(text_pieces(article.text))
    info = {"title": article.title, "title_is_descriptive": article.title_is_descriptive,
            "author": article.author, "source": article.source, "url": article.url,
            "references": list(article.references), "format": article.format,
            "page_starts": list(article.page_starts), "original": article.original,
            "content_hash": article.content_hash(), "meta_hash": article.meta_hash(),
            "passages": passages, "characters": len(article.text), "pieces": len(pieces),
            "file": list(file) if file else None}
    return {"key": f"a:{article.doc_id}", "kind": "article", "doc_id": article.doc_id,
            "stamp": stamp, "source_lc": label(article.source),
            "author_lc": label(article.author), "published": article.published or "",
            "info": info, "body": "", "v": [1.0, 0.0]}


def piece_rows(article: Article, stamp: str) -> list[dict[str, Any]]:
    return [{"key": f"t:{article.doc_id}:{stamp}:{n}", "kind": "text",
             "doc_id": article.doc_id, "stamp": stamp, "source_lc": "", "author_lc": "",
             "published": "", "info": {"n": n}, "body": piece, "v": [1.0, 0.0]}
            for n, piece in enumerate(text_pieces(article.text))]


def meta_row(meta: dict[str, Any]) -> dict[str, Any]:
    return {"key": META_KEY, "kind": "meta", "doc_id": "", "stamp": "", "source_lc": "",
            "author_lc": "", "published": "", "info": meta, "body": "", "v": [1.0, 0.0]}


def head_article(row: dict[str, Any], text: str) -> Article:
    info = row["info"]
    return Article(doc_id=row["doc_id"], title=info["title"], text=text,
                   title_is_descriptive=bool(info["title_is_descriptive"]),
                   author=info["author"], published=row["published"] or None,
                   source=info["source"], url=info["url"],
                   references=tuple(info["references"]), format=info["format"],
                   page_starts=tuple(info["page_starts"]), original=info["original"])


def head_summary(row: dict[str, Any]) -> dict[str, Any]:
    """An article as `StoreView.articles` lists it (the local catalog's keys)."""
    info = row["info"]
    return {"doc_id": row["doc_id"], "title": info["title"],
            "title_is_descriptive": bool(info["title_is_descriptive"]),
            "author": info["author"], "published": row["published"] or None,
            "source": info["source"], "url": info["url"], "format": info["format"],
            "original": info["original"], "passages": int(info["passages"]),
            "characters": int(info["characters"]),
            "page_starts": tuple(info["page_starts"]),
            "references": tuple(info["references"]),
            "content_hash": info["content_hash"], "meta_hash": info["meta_hash"]}


def text_pieces(text: str) -> Iterator[str]:
    """The text in consecutive pieces that fit a VARCHAR whatever the script (at most
    TEXT_PIECE_CHARS characters, 4 bytes each at worst); at least one piece."""
    yield text[:TEXT_PIECE_CHARS]
    for start in range(TEXT_PIECE_CHARS, len(text), TEXT_PIECE_CHARS):
        yield text[start:start + TEXT_PIECE_CHARS]


def _clip(value: str, limit: int) -> str:
    data = value.encode()
    return value if len(data) <= limit else data[:limit].decode(errors="ignore")
