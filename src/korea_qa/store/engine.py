"""Choosing the store engine from the settings (`KOREA_QA_STORE`)."""

from __future__ import annotations

from korea_qa.settings import Settings
from korea_qa.store.base import Engine
from korea_qa.store.folder import LocalEngine
from korea_qa.store.local import StoreOptions
from korea_qa.vector import AnnParams


def store_options(settings: Settings) -> StoreOptions:
    return StoreOptions(
        ann=AnnParams(min_rows=settings.ann_min_rows, nprobe=settings.ann_nprobe),
        bm25=settings.bm25_params(), merge_factor=settings.merge_factor,
        merge_inline_rows=settings.merge_inline_rows)


def open_engine(settings: Settings) -> Engine:
    return LocalEngine(settings.index_dir, store_options(settings))
