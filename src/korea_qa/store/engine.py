"""Choosing the store engine from the settings (`KOREA_QA_STORE`)."""

from __future__ import annotations

from korea_qa.index.lexical import Bm25Params
from korea_qa.index.vector import AnnParams
from korea_qa.settings import Settings
from korea_qa.store.base import Engine
from korea_qa.store.folder import LocalEngine
from korea_qa.store.local import StoreOptions


def store_options(settings: Settings) -> StoreOptions:
    return StoreOptions(
        ann=AnnParams(min_rows=settings.ann_min_rows, nprobe=settings.ann_nprobe,
                      refine=settings.ann_refine, kind=settings.ann_kind),
        bm25=bm25_params(settings), merge_factor=settings.merge_factor,
        merge_inline_rows=settings.merge_inline_rows)


def bm25_params(settings: Settings) -> Bm25Params:
    return Bm25Params(k1=settings.bm25_k1, b=settings.bm25_b)


def open_engine(settings: Settings) -> Engine:
    if settings.store == "milvus":
        # Imported here: pymilvus is the optional `scale` extra.
        from korea_qa.store.milvus.engine import MilvusEngine

        token = settings.milvus_token.get_secret_value() if settings.milvus_token else None
        return MilvusEngine(uri=settings.milvus_address(), token=token,
                            prefix=settings.milvus_collection, index_type=settings.milvus_index,
                            bm25=bm25_params(settings), lock_dir=settings.index_dir)
    return LocalEngine(settings.index_dir, store_options(settings))
