"""BM25 from Milvus for `korea-qa eval beir --lexical milvus`: the documents go into a Milvus
collection with the Milvus store's analyser and BM25 function (`store.milvus_rows`), and
each query's scores come from one Milvus search over all of them. The dense side and the
fusion are unchanged, so the difference to the default run is Milvus's BM25 alone."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from korea_qa.index.lexical import Bm25Params
from korea_qa.store.milvus import rows
from korea_qa.store.milvus.engine import connect, disconnect

COLLECTION = "korea_qa_beir"
MAX_LIMIT = 16_384


class MilvusLexical:
    """BM25 scores of every document for a query's text, from Milvus; remembered per query
    (a sweep ranks each query many times)."""

    def __init__(self, texts: Sequence[str], params: Bm25Params, uri: str) -> None:
        if len(texts) > MAX_LIMIT:
            raise ValueError(f"at most {MAX_LIMIT} documents (one Milvus search each)")
        self.uri = uri
        self.size = len(texts)
        self.client = connect(uri, None)
        client = self.client
        if client.has_collection(COLLECTION):
            client.drop_collection(COLLECTION)
        schema = rows.passages_schema(client, 2)
        client.create_collection(COLLECTION, schema=schema,
                                 index_params=rows.passages_index(client, "FLAT", params),
                                 consistency_level="Strong")
        batch = []
        for row, text in enumerate(texts):
            batch.append({"doc_id": str(row), "stamp": "", "position": row, "paragraph": 1,
                          "page": 0, "start": 0, "end": len(text), "text": text,
                          "vector": [1.0, 0.0], "spans": "[]", "sentence_vectors": "f4:",
                          "source_lc": "", "author_lc": "", "published": ""})
            if len(batch) == 500:
                client.insert(COLLECTION, batch)
                batch = []
        if batch:
            client.insert(COLLECTION, batch)
        client.flush(COLLECTION)
        self._memo: dict[str, np.ndarray] = {}

    def query_scores(self, text: str) -> np.ndarray:
        if text not in self._memo:
            scores = np.zeros(self.size, dtype=np.float32)
            found = self.client.search(COLLECTION, data=[text], anns_field="sparse",
                                       limit=self.size, output_fields=["position"],
                                       search_params={"metric_type": "BM25"})
            for hit in found[0] if found else []:
                scores[int(hit["entity"]["position"])] = abs(float(hit["distance"]))
            self._memo[text] = scores
        return self._memo[text]

    def close(self) -> None:
        disconnect(self.client, self.uri)


def milvus_lexical(texts: Sequence[str], params: Bm25Params, cache_dir: Path,
                   uri: str = "") -> Any:
    return MilvusLexical(texts, params, uri or str(cache_dir / "beir-milvus.db"))
