"""`korea-qa add --ray ADDRESS PATH...`: extraction and embedding as a Ray Data job.

The files' bytes become a dataset; a pool of actors (`Embedder`, one CPU each, the model
loaded once per actor) extracts, chunks and embeds them batch by batch, wherever Ray places
the actors; this process then writes each prepared article into the configured store, one
at a time under the store's write lock, exactly as `korea-qa add` does (corpus file first,
then one store commit). So the job scales the expensive part, and writes stay single.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from korea_qa.errors import KoreaQAError
from korea_qa.library.metadata import Overrides
from korea_qa.settings import Settings


class Embedder:
    """One Ray actor: a loaded model and a library to prepare articles with (it never
    writes). Called with a batch of files; returns one prepared article per file."""

    def __init__(self, settings: Settings, overrides: Overrides | None = None) -> None:
        import ray

        from korea_qa.library.lifecycle import Library
        from korea_qa.models.embed import load_embedder

        self.settings = settings
        self.overrides = overrides
        # The store is not opened: the library only chunks and embeds here.
        self.library = Library.__new__(Library)
        self.library.settings = settings
        self.library._embedder = load_embedder(settings)
        context = ray.get_runtime_context()
        self.node = context.get_node_id()
        self.actor = context.get_actor_id() or ""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        from korea_qa.library.lifecycle import read_file

        out: dict[str, list[Any]] = {"index": [], "name": [], "payload": [], "error": [],
                                     "node": [], "actor": []}
        for index, name, data in zip(batch["index"], batch["name"], batch["data"],
                                     strict=True):
            payload, error = b"", ""
            try:
                article, suffix = read_file(bytes(data), str(name), self.overrides,
                                            self.settings)
                put = self.library.prepare(article)
                payload = pickle.dumps((put, suffix))
            except KoreaQAError as exc:
                error = str(exc)
            out["index"].append(int(index))
            out["name"].append(str(name))
            out["payload"].append(payload)
            out["error"].append(error)
            out["node"].append(self.node)
            out["actor"].append(self.actor)
        return out


@dataclass(frozen=True, slots=True)
class Prepared:
    """One file as the job returns it: the article ready to write, or why not."""

    name: str
    data: bytes
    node: str
    actor: str
    put: Any = None  # korea_qa.store.base.Put
    suffix: str = ""
    error: str = ""


def embed_files(files: Sequence[Path], settings: Settings, *, overrides: Overrides | None = None,
                actors: int = 2, batch_size: int = 2) -> Iterator[Prepared]:
    """Run the job on the Ray cluster this process is connected to (`ray.init`)."""
    import ray

    datas: list[bytes] = [path.read_bytes() for path in files]
    if not datas:
        return
    items = [{"index": i, "name": path.name, "data": data}
             for i, (path, data) in enumerate(zip(files, datas, strict=True))]
    # Every actor up (its model loaded) before the first batch, and one batch in flight per
    # actor: batches then go to whichever actor is free, so all of them embed.
    ray.data.DataContext.get_current().wait_for_min_actors_s = 600
    dataset = ray.data.from_items(items, override_num_blocks=-(-len(items) // batch_size))
    prepared = dataset.map_batches(
        Embedder, fn_constructor_args=(settings, overrides), batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
        num_cpus=1, batch_format="numpy")
    for row in prepared.iter_rows():
        name, data = str(row["name"]), datas[int(row["index"])]
        if row["error"]:
            yield Prepared(name, data, row["node"], row["actor"], error=row["error"])
            continue
        put, suffix = pickle.loads(row["payload"])
        yield Prepared(name, data, row["node"], row["actor"], put, suffix)


def add_with_ray(address: str, files: Sequence[Path], settings: Settings, *,
                 overrides: Overrides | None = None, actors: int = 2) -> Iterator[Any]:
    """`korea-qa add --ray`: the job's results written into the store; yields, per file,
    (Prepared, WriteResult or None)."""
    import ray

    from korea_qa.library.lifecycle import Library
    from korea_qa.models.embed import load_embedder

    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    library = Library(settings, load_embedder(settings))
    try:
        for item in embed_files(files, settings, overrides=overrides, actors=actors):
            if item.error:
                yield item, None
                continue
            yield item, library.put(item.put.article, item.data, item.suffix,
                                    prepared=item.put)
    finally:
        library.close()


class TextEmbedder:
    """A Ray actor that only embeds texts (the benchmark's job: no extraction, no store)."""

    def __init__(self, settings: Settings) -> None:
        import ray

        from korea_qa.models.embed import load_embedder

        self.embedder = load_embedder(settings)
        self.batch = settings.embed_batch_size
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        import time

        started = time.perf_counter()
        vectors = self.embedder.encode([str(t) for t in batch["text"]], batch_size=self.batch)
        seconds = time.perf_counter() - started
        n = len(vectors)
        return {"index": batch["index"], "vector": vectors, "node": [self.node] * n,
                "seconds": [seconds / n] * n}


def embed_texts(texts: Sequence[str], settings: Settings, *, actors: int = 2,
                batch_size: int = 64) -> tuple[np.ndarray, dict[str, dict[str, float]]]:
    """The texts' vectors, in order, embedded by a pool of actors on the connected cluster;
    and per node: texts embedded and seconds spent embedding them."""
    import ray

    ray.data.DataContext.get_current().wait_for_min_actors_s = 600
    items = [{"index": i, "text": t} for i, t in enumerate(texts)]
    dataset = ray.data.from_items(items, override_num_blocks=-(-len(items) // batch_size))
    out = dataset.map_batches(
        TextEmbedder, fn_constructor_args=(settings,), batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=actors, max_tasks_in_flight_per_actor=1),
        num_cpus=1, batch_format="numpy")
    vectors: list[Any] = [None] * len(texts)
    nodes: dict[str, dict[str, float]] = {}
    for row in out.iter_rows():
        vectors[int(row["index"])] = np.asarray(row["vector"], dtype=np.float32)
        node = nodes.setdefault(str(row["node"]), {"texts": 0, "seconds": 0.0})
        node["texts"] += 1
        node["seconds"] += float(row["seconds"])
    return np.stack(vectors), nodes
