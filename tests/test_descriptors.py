"""What the store holds open does not grow with segments, writes or searches: mapped arrays
keep no descriptor, a view's catalog connection closes with the view (without the garbage
collector's help), and a server's descriptors into its index stay at the bound of
docs/DESIGN.md, "Descriptors", however many writes and searches it answers."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from conftest import open_view
from korea_qa.api import create_app
from korea_qa.index.lexical import Forward
from korea_qa.index.vector import AnnParams
from korea_qa.settings import Settings
from korea_qa.store.mapping import create_npy, flush, map_npy
from korea_qa.store.segment import Segment, SegmentData, write_segment

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
KEY = "descriptors-key-0123456789"


def open_under(folder: Path) -> list[str]:
    """This process's open descriptors on files under `folder`."""
    out = []
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith(str(folder)):
            out.append(target)
    return out


def mapped(path: Path) -> bool:
    return str(path) in Path("/proc/self/maps").read_text()


def test_a_mapped_array_keeps_no_descriptor_and_is_unmapped_with_its_last_view(
        tmp_path: Path) -> None:
    values = np.arange(1000, dtype=np.int64).reshape(100, 10)
    np.save(tmp_path / "a.npy", values)
    array = map_npy(tmp_path / "a.npy")
    assert open_under(tmp_path) == []
    assert np.array_equal(array, values) and not array.flags.writeable
    rows = array[40:42]  # a view keeps the pages mapped
    del array
    gc.collect()
    assert mapped(tmp_path / "a.npy") and rows[1, 3] == 413
    del rows
    assert not mapped(tmp_path / "a.npy")  # unmapped by reference counting alone


def test_a_created_array_is_written_through_its_mapping(tmp_path: Path) -> None:
    out = create_npy(tmp_path / "b.npy", np.float32, (5,))
    assert open_under(tmp_path) == []
    out[2] = 1.5
    flush(out)
    del out
    assert np.load(tmp_path / "b.npy").tolist() == [0, 0, 1.5, 0, 0]


def _data(rows: int, dim: int = 8) -> SegmentData:
    rng = np.random.default_rng(rows)
    vectors = rng.standard_normal((rows, dim)).astype(np.float32)
    forward = Forward.from_token_ids([[i % 7, (i * 3) % 11] for i in range(rows)])
    return SegmentData(
        vectors=vectors, sentence_vectors=vectors.copy(), ords=np.arange(rows, dtype=np.int64),
        positions=np.zeros(rows, np.int32), paragraphs=np.ones(rows, np.int32),
        pages=np.zeros(rows, np.int32), starts=np.arange(rows, dtype=np.int64),
        ends=np.arange(rows, dtype=np.int64) + 1,
        sentence_ptr=np.arange(rows + 1, dtype=np.int64),
        sentence_spans=np.zeros((rows, 2), np.int32), fwd_ptr=forward.ptr,
        fwd_terms=forward.terms, fwd_counts=forward.counts)


@pytest.mark.parametrize("ivf", [None, "ivf-pq4fs", "ivf-flat", "ivf-sq8"])
def test_an_open_segment_holds_no_descriptor(tmp_path: Path, ivf: str | None) -> None:
    ann = AnnParams(min_rows=100, kind=ivf) if ivf else None  # type: ignore[arg-type]
    folders = [write_segment(tmp_path, f"s{i}", _data(300), ann) for i in range(5)]
    assert open_under(tmp_path) == []  # the writer closed everything
    segments = [Segment.open(f, dim=8, checksum_below=2**30) for f in folders]
    assert (segments[0].ivf is not None) == bool(ivf)
    assert open_under(tmp_path) == []
    assert np.array_equal(segments[3].data.vectors, _data(300).vectors)


def test_a_view_closes_its_connection_without_the_garbage_collector(built: Settings) -> None:
    gc.disable()  # a sqlite3.Connection sits in a cycle: only an explicit close is prompt
    try:
        before = len(open_under(built.index_dir))
        for _ in range(20):
            view = open_view(built)
            assert view.count_passages() > 0
            del view
        assert len(open_under(built.index_dir)) <= before + 1
    finally:
        gc.enable()


@pytest.fixture
def api(built: Settings) -> Iterator[TestClient]:
    settings = built.model_copy(update={"api_key": SecretStr(KEY)})
    with TestClient(create_app(settings)) as client:
        yield client


def _churn(api: TestClient, start: int, stop: int) -> None:
    for i in range(start, stop):
        text = f"Report {i} on the ferry at Rajin and its timber cargo. " * (5 + i % 7)
        reply = api.put(f"/api/documents/churn-{i}", json={"text": text, "title": f"R {i}"},
                        headers={"X-API-Key": KEY})
        assert reply.status_code == 201, reply.text
        if i % 3 == 2:
            assert api.delete(f"/api/documents/churn-{i - 1}",
                              headers={"X-API-Key": KEY}).status_code == 204
        assert api.get("/api/search", params={"q": f"timber report {i}"}).status_code == 200


def test_a_servers_descriptors_into_its_index_do_not_grow_with_writes(
        api: TestClient, built: Settings) -> None:
    gc.disable()  # the bound holds by design, not by the collector's timing
    try:
        _churn(api, 0, 10)
        early = open_under(built.index_dir)
        _churn(api, 10, 70)  # segments come and merge; a view per write
        late = open_under(built.index_dir)
    finally:
        gc.enable()
    # The writer's and the served view's connections (catalog and WAL each), the shared
    # memory index, and one descriptor SQLite keeps for reuse: DESIGN.md, "Descriptors".
    assert len(late) <= 6, sorted(late)
    assert len(late) <= len(early) + 1, (sorted(early), sorted(late))
    assert not any("/segments/" in target for target in late)
