"""A million passages on one machine, measured (`make bench-scale`; issue 12).

Builds an index of `--passages` passages (100k by default; `SCALE=1000000 make bench-scale`
for a million) from real text (`synth.topical_articles`: SciFact and seed sentences in
articles of one topic each, vectors from the `synth.HashProjection` stand-in), then measures:
search latency in process (the question's encoding apart, by the real model), approximate
against exact search (the same questions, hybrid top 10 and dense recall), the same on an
index of real-model vectors (SciFact abstracts and windows from the shared embedding cache),
`korea-qa serve` on the index (time to ready, twice; RSS after start-up and after the HTTP
searches; HTTP latency), the index's size, adding, replacing and removing one article with
the real model, the build, and the real model's rate with what a real build would take.
Prints every figure against its target with the machine and its load; JSON in
bench/results/scale-<passages>-<date>.json.

    .venv/bin/python bench/scale.py [--passages 100000] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import scale_probe as probe
import synth
from add_cost import one_article
from httpload import rss_mib, run_load, search_paths, serve
from machine import describe
from scale_report import report

from korea_qa.library.lifecycle import Library
from korea_qa.models.embed import Embedder
from korea_qa.settings import Settings
from korea_qa.startup import open_model
from korea_qa.store.base import Put
from korea_qa.store.engine import store_options
from korea_qa.store.folder import LocalEngine
from korea_qa.store.local import LocalStore, StoreOptions

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "benchmarks" / "scifact"


def questions(count: int) -> list[str]:
    """SciFact claims and the gold questions, in a fixed shuffled order."""
    qs = [json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").open()]
    qs += [json.loads(line)["question"] for line in (ROOT / "eval" / "gold.jsonl").open()]
    order = np.random.default_rng(5).permutation(len(qs))
    return [qs[int(i)] for i in order[:count]]


def build(index_dir: Path, settings: Settings, options: StoreOptions, passages: int,
          model: str, dim: int) -> dict[str, Any]:
    """The bench index, as a full build makes it (`Store.write_all`), made current."""
    engine = LocalEngine(index_dir, options)
    library = Library(settings)
    store = engine.create({"model": model, "dim": dim, "fingerprint": library.fingerprint(),
                           "created_at": datetime.now(UTC).isoformat(timespec="seconds")})
    pools = synth.topics(synth.real_groups())
    embedder = synth.HashProjection(dim)
    made = {"passages": 0, "articles": 0, "generate_s": 0.0}

    def batches() -> Iterator[list[Put]]:
        batch: list[Put] = []
        articles = synth.topical_articles(10**9, pools, seed=12)
        while made["passages"] < passages:
            started = time.perf_counter()
            puts = synth.puts([next(articles) for _ in range(100)], embedder, settings)
            made["generate_s"] += time.perf_counter() - started
            batch += puts
            made["passages"] += sum(len(p.passages) for p in puts)
            made["articles"] += len(puts)
            if sum(len(p.passages) for p in batch) >= settings.build_batch_passages:
                yield batch
                print(f"[scale] {made['passages']} passages", file=sys.stderr, flush=True)
                batch = []
        yield batch

    started = time.perf_counter()
    store.write_all(batches())
    store.maintain()
    total = time.perf_counter() - started
    store.set_meta(build_seconds=round(total, 1))
    engine.publish(store)
    engine.close()
    return {**made, "seconds": round(total, 1), "generate_s": round(made["generate_s"], 1),
            "store_s": round(total - made["generate_s"], 1)}


def model_rate(embedder: Embedder, settings: Settings) -> dict[str, float]:
    """The real model's passages and sentences a second (batch 32, warm)."""
    texts = [p.text for put in synth.puts(list(synth.articles(40, synth.real_sentences(),
                                                              seed=3)),
                                          synth.HashProjection(), settings)
             for p in put.passages][:384]
    embedder.encode(texts[:32])
    started = time.perf_counter()
    embedder.encode(texts, batch_size=32)
    passages = len(texts) / (time.perf_counter() - started)
    sentences = [s for t in texts for s in t.split(". ")][:1024]
    started = time.perf_counter()
    embedder.encode(sentences, batch_size=32)
    return {"passages_per_s": round(passages, 1),
            "sentences_per_s": round(len(sentences) / (time.perf_counter() - started), 1)}


def encoding(embedder: Embedder, qs: list[str]) -> dict[str, float]:
    seconds = []
    for q in qs:
        started = time.perf_counter()
        embedder.encode([q])
        seconds.append(time.perf_counter() - started)
    return probe.pcts(seconds)


def http(index_dir: Path, work: Path, qs: list[str]) -> dict[str, Any]:
    """`korea-qa serve` started twice on the index: time to ready, RSS, HTTP searches."""
    env = {"KOREA_QA_INDEX_DIR": str(index_dir), "KOREA_QA_CORPUS_DIR": str(work / "corpus"),
           "KOREA_QA_SYNC_ON_START": "false", "KOREA_QA_QUERY_CACHE_SIZE": "0",
           "KOREA_QA_LOG_LEVEL": "warning"}
    out: dict[str, Any] = {"ready_s": []}
    for attempt in range(2):
        started = time.perf_counter()
        with serve(env, work / "serve.log", timeout=600) as server:
            out["ready_s"].append(round(time.perf_counter() - started, 2))
            out["rss_start_mib"] = round(rss_mib(server.pid))
            out["rss_start_parts_mib"] = rss_parts(server.pid)
            if attempt == 1:
                load = run_load(server, search_paths(qs), clients=1, requests=len(qs))
                out["latency"] = probe.pcts(load.latencies)
                out["errors"] = load.errors
                out["rss_after_mib"] = round(rss_mib(server.pid))
                out["rss_after_parts_mib"] = rss_parts(server.pid)
    return out


def rss_parts(pid: int) -> dict[str, int]:
    """RSS split as the kernel counts it: anonymous memory (the process's own) and mapped
    files (index pages read, shared with the page cache and given back under pressure)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key = line.split(":")[0]
        if key in ("RssAnon", "RssFile", "RssShmem"):
            out[key] = round(int(line.split()[1]) / 1024)
    return out


def writes(settings: Settings, index_dir: Path, work: Path, embedder: Embedder,
           repeats: int) -> dict[str, Any]:
    """Add, replace and remove one 1,500-word saved page, with the real model."""
    library = Library(settings.model_copy(update={"index_dir": index_dir,
                                                  "corpus_dir": work / "corpus"}), embedder)
    try:
        return one_article(library, repeats, "scale-added")
    finally:
        library.close()


def du(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True,
                              check=True).stdout.split()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--exact-questions", type=int, default=200,
                        help="questions also searched exactly (slow at 1M: 0.3 s each)")
    parser.add_argument("--workdir", type=Path, help="keep the index here (reused if built)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="korea-qa-scale-"))
    (work / "corpus").mkdir(parents=True, exist_ok=True)
    index_dir = work / "index"
    model = open_model(Settings())
    settings, embedder = model.settings, model.embedder
    options = store_options(settings)
    result: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                              "machine": describe(), "model": embedder.model_id,
                              "ann": {"min_rows": options.ann.min_rows,
                                      "nprobe": options.ann.nprobe, "kind": options.ann.kind,
                                      "candidates": options.ann.candidates(settings.candidates)}}
    try:
        if not (index_dir / "current").exists():
            result["build"] = build(index_dir, settings, options, args.passages,
                                    embedder.model_id, embedder.dim)
        folder = (index_dir / "current").resolve()
        started = time.perf_counter()
        view = LocalStore(folder, options).view()
        result["open_view_s"] = round(time.perf_counter() - started, 3)
        result["index"] = {**view.info()["counts"], "bytes": du(folder),
                           "sentences": sum(int(g.meta["sentences"]) for g in view.segments)}
        qs = questions(args.questions)
        vectors = synth.HashProjection(embedder.dim).encode(qs)
        result["search"] = probe.search_latency(view, settings, qs, vectors)
        result["encoding"] = encoding(embedder, qs[:200])
        exact = probe.exact_view(folder, options)
        n = args.exact_questions
        result["agreement"] = probe.agreement(view, exact, settings, qs[:n], vectors[:n])
        view.close()
        exact.close()
        result["real_vectors"] = probe.real_vectors_section(work, options, settings, SCIFACT,
                                                            embedder)
        result["answer_sentences"] = probe.answer_sentences(
            work, embedder, settings, ROOT / "corpus", ROOT / "eval" / "gold.jsonl")
        result["load_before_http"] = [round(x, 2) for x in os.getloadavg()]
        result["http"] = http(index_dir, work, qs)
        result["writes"] = writes(settings, index_dir, work, embedder, repeats=3)
        result["model_rate"] = model_rate(embedder, settings)
        result["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    print(report(result))
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out / f"scale-{result['index']['passages']}-{stamp}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
