"""`make bench`: latency, throughput, build speed, memory and the quality cost of each
inference backend, measured in one run on this machine. Prints a table, writes
bench/results/bench-<date>.json.

    .venv/bin/python bench/bench.py                  # everything (SciFact in full: minutes)
    .venv/bin/python bench/bench.py --docs 500       # SciFact build speed on 500 abstracts only,
                                                     # no quality figures (a quick look)

Sections: (1) in-process cost of one question (`Searcher.search`: encode, FAISS, BM25,
fusion, answer sentence) over the gold questions; (2) the same over HTTP, one client;
(3) 1, 4 and 16 concurrent clients, with the query cache off and then on; (4) SciFact
encoding speed and test nDCG@10 for each backend, and the seed index build from scratch;
(5) server RSS after start-up and after the load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bench_report import format_report  # noqa: E402
from httpload import rss_mib, run_load, search_paths, serve  # noqa: E402

from korea_qa.embed import BACKENDS, load_embedder  # noqa: E402
from korea_qa.evaluate.gold import load_gold  # noqa: E402
from korea_qa.library import Library  # noqa: E402
from korea_qa.search import Searcher  # noqa: E402
from korea_qa.settings import Settings  # noqa: E402


def main() -> int:
    args = _parser().parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    base = Settings()
    serve_backend = args.serve_backend or base.backend
    questions = [item.question for item in load_gold(args.gold)]
    work = Path(tempfile.mkdtemp(prefix="korea-qa-bench-"))
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(), "cpu": _cpu_model(), "python": platform.python_version(),
        "default_backend": base.backend, "served_backend": serve_backend,
        "questions": len(questions), "work_dir": str(work),
    }
    # (4b) and (1): seed index per backend, in-process latency on it.
    report["seed"], report["in_process"] = {}, {}
    for backend in backends:
        settings = base.model_copy(update={"backend": backend,
                                           "index_dir": work / f"index-{backend}"})
        report["seed"][backend] = seed_build(settings)
        report["in_process"][backend] = in_process(settings, questions, args.rounds)
        _say(f"{backend}: seed {report['seed'][backend]}, in-process "
             f"{report['in_process'][backend]}")
    # (2), (3), (5): the served backend, over HTTP.
    report["http"] = http_section(base, serve_backend, work, questions, args)
    # (4a): SciFact, every backend, the quality cost against PyTorch in the same run.
    report["scifact"] = scifact_section(base, backends, args)
    out = args.out or ROOT / "bench" / "results" / f"bench-{report['date'][:10]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    print(format_report(report))
    print(f"wrote {out}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help=f"backends to compare (default {','.join(BACKENDS)})")
    parser.add_argument("--serve-backend", help="backend of the HTTP server (default: the "
                        "setting, KOREA_QA_BACKEND)")
    parser.add_argument("--gold", type=Path, default=ROOT / "eval" / "gold.jsonl")
    parser.add_argument("--rounds", type=int, default=5,
                        help="passes over the gold questions for latency (default 5)")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="seconds per throughput level (default 10)")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--pause-ms", type=float, default=2.0,
                        help="idle time before each question in the paused in-process run "
                        "(default 2, about what one HTTP client leaves between model calls)")
    parser.add_argument("--scifact", type=Path,
                        default=ROOT.parent / "shared" / "benchmarks" / "scifact")
    parser.add_argument("--docs", type=int, default=0,
                        help="encode only the first N SciFact abstracts; skips quality")
    parser.add_argument("--out", type=Path)
    return parser


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def percentiles(seconds: list[float], qs: tuple[int, ...] = (50, 95, 99)) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000.0
    return {f"p{q}_ms": round(float(np.percentile(ms, q)), 2) for q in qs} if len(ms) else {}


# ---------------------------------------------------------------- in process


def seed_build(settings: Settings) -> dict[str, float]:
    """Model load (including a first-time ONNX export) and index build, from scratch."""
    t0 = time.perf_counter()
    embedder = load_embedder(settings)
    t1 = time.perf_counter()
    Library(settings, embedder).rebuild()
    t2 = time.perf_counter()
    return {"model_load_s": round(t1 - t0, 2), "build_s": round(t2 - t1, 2)}


def in_process(settings: Settings, questions: list[str], rounds: int) -> dict[str, float]:
    """`Searcher.search` wall time per question, no cache, back to back: encode + FAISS +
    BM25 + fusion + answer sentence."""
    searcher = make_searcher(settings, warm_up=questions[:10])
    return percentiles(timed_searches(searcher, questions, rounds), (50, 95))


def make_searcher(settings: Settings, warm_up: list[str]) -> Searcher:
    embedder = load_embedder(settings)
    view = Library(settings, embedder).view()
    searcher = Searcher(view, lambda q: embedder.encode([q])[0], settings)
    for q in warm_up:
        searcher.search(q)
    return searcher


def timed_searches(searcher: Searcher, questions: list[str], rounds: int,
                   pause_s: float = 0.0) -> list[float]:
    """Seconds per `searcher.search`; `pause_s` idles before each question, as a server does
    between one client's requests, to show what the pause alone costs."""
    times = []
    for _ in range(rounds):
        for q in questions:
            if pause_s:
                time.sleep(pause_s)
            t0 = time.perf_counter()
            searcher.search(q)
            times.append(time.perf_counter() - t0)
    return times


def memory_probe(pause_s: float, mib: int = 16, reps: int = 300) -> dict[str, float]:
    """Median time to read `mib` MiB back to back and after a pause: the cost of the pause on
    this host, apart from any code of ours (a slower read after idling means the data left
    the caches meanwhile)."""
    data = np.ones(mib * 1024 * 1024 // 4, dtype=np.float32)
    out = {}
    for label, pause in (("back_to_back_ms", 0.0), ("paused_ms", pause_s)):
        times = []
        for _ in range(reps):
            if pause:
                time.sleep(pause)
            t0 = time.perf_counter()
            data.sum()
            times.append(time.perf_counter() - t0)
        out[label] = round(float(np.median(times)) * 1000.0, 3)
    return {"mib": mib, "pause_ms": pause_s * 1000.0, **out}


# ---------------------------------------------------------------- over HTTP


def paired_latency(searcher: Searcher, server: Any, questions: list[str],
                   rounds: int) -> dict[str, Any]:
    """In process and over HTTP (one client), the same questions, in alternating rounds.

    This machine's speed drifts with its neighbours (the same run can differ by a third from
    one minute to the next), so the two figures a ratio compares are taken side by side,
    round after round, rather than minutes apart.
    """
    paths = search_paths(questions)
    local: list[float] = []
    remote: list[float] = []
    errors = 0
    ratios = []
    for _ in range(rounds):
        a = timed_searches(searcher, questions, 1)
        b = run_load(server, paths, clients=1, requests=len(paths))
        local += a
        remote += b.latencies
        errors += b.errors
        ratios.append(round(float(np.median(b.latencies) / np.median(a)), 2))
    return {"in_process": percentiles(local, (50, 95)),
            "single_client": {**percentiles(remote), "errors": errors},
            "round_ratios": ratios}


def http_section(base: Settings, backend: str, work: Path, questions: list[str],
                 args: argparse.Namespace) -> dict[str, Any]:
    paths = search_paths(questions)
    levels = [int(c) for c in args.clients.split(",")]
    env = {"KOREA_QA_BACKEND": backend, "KOREA_QA_INDEX_DIR": str(work / f"index-{backend}"),
           "KOREA_QA_CACHE_DIR": str(base.cache_dir.resolve())}
    out: dict[str, Any] = {"backend": backend}
    settings = base.model_copy(update={"backend": backend, "index_dir": work / f"index-{backend}"})
    if not settings.index_dir.exists():  # a served backend not among --backends
        Library(settings, load_embedder(settings)).rebuild()
    searcher = make_searcher(settings, warm_up=questions[:10])
    log = work / "server.log"
    with serve({**env, "KOREA_QA_QUERY_CACHE_SIZE": "0"}, log) as server:
        out["rss_start_mib"] = round(rss_mib(server.pid), 1)
        run_load(server, paths, clients=1, requests=len(paths))  # warm-up
        out.update(paired_latency(searcher, server, questions, args.rounds))
        out["in_process_paused"] = {
            **percentiles(timed_searches(searcher, questions, args.rounds,
                                         pause_s=args.pause_ms / 1000.0), (50, 95)),
            "pause_ms": args.pause_ms}
        out["memory_probe"] = memory_probe(args.pause_ms / 1000.0)
        _say(f"in process {out['in_process']}, HTTP one client {out['single_client']}, "
             f"ratios {out['round_ratios']}, paused {out['in_process_paused']}, "
             f"memory {out['memory_probe']}")
        out["cache_off"] = throughput(server, paths, levels, args.seconds)
        out["rss_after_load_mib"] = round(rss_mib(server.pid), 1)
    with serve(env, log) as server:
        out["cache_on"] = throughput(server, paths, levels, args.seconds)
    return out


def throughput(server: Any, paths: list[str], levels: list[int],
               seconds: float) -> dict[str, dict[str, float]]:
    out = {}
    for clients in levels:
        result = run_load(server, paths, clients=clients, seconds=seconds)
        out[str(clients)] = {"requests_per_s": round(len(result.latencies) / result.seconds, 1),
                             **percentiles(result.latencies, (50, 99)),
                             "requests": len(result.latencies), "errors": result.errors}
        _say(f"{clients} clients: {out[str(clients)]}")
    return out


# ---------------------------------------------------------------- SciFact


def scifact_section(base: Settings, backends: list[str],
                    args: argparse.Namespace) -> dict[str, Any]:
    from korea_qa.evaluate.beir import (
        MemoLexical,
        Retrievers,
        doc_text,
        document_vectors,
        load_beir,
        ranked_lists,
        score_lists,
    )
    from korea_qa.lexical import Bm25Params

    data = load_beir(args.scifact, "test")
    quality = args.docs == 0
    if not quality:
        data = data._replace(doc_ids=data.doc_ids[:args.docs], titles=data.titles[:args.docs],
                             texts=data.texts[:args.docs])
    lexical = MemoLexical([doc_text(t, x) for t, x in zip(data.titles, data.texts, strict=True)],
                          Bm25Params()) if quality else None
    out: dict[str, Any] = {"documents": len(data.doc_ids), "queries": len(data.queries),
                           "batch_size": base.embed_batch_size, "backends": {}}
    for backend in backends:
        settings = base.model_copy(update={"backend": backend})
        embedder = load_embedder(settings)
        embedder.encode(data.texts[:64], batch_size=base.embed_batch_size)  # warm-up
        t0 = time.perf_counter()
        vectors = document_vectors(data, embedder, window_words=0,
                                   batch_size=base.embed_batch_size, progress=False)
        seconds = time.perf_counter() - t0
        row: dict[str, Any] = {"encode_s": round(seconds, 1),
                               "passages_per_s": round(len(data.doc_ids) / seconds, 1)}
        if lexical is not None:
            qids = list(data.queries)
            qvecs = embedder.encode([data.queries[q] for q in qids],
                                    batch_size=base.embed_batch_size)
            retrievers = Retrievers(vectors, lexical, qids, qvecs)
            for mode in ("dense", "hybrid"):
                scores = score_lists(data, qids, ranked_lists(data, retrievers, mode, settings))
                row[f"ndcg@10_{mode}"] = round(scores["ndcg@10"], 4)
        out["backends"][backend] = row
        _say(f"SciFact {backend}: {row}")
        del embedder
    torch_row = out["backends"].get("torch")
    for row in out["backends"].values():
        if torch_row:
            row["speedup_vs_torch"] = round(row["passages_per_s"] / torch_row["passages_per_s"], 2)
            for mode in ("dense", "hybrid"):
                key = f"ndcg@10_{mode}"
                if key in row:
                    row[f"delta_{mode}"] = round(row[key] - torch_row[key], 4)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
