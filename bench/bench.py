"""`make bench`: every target of issue 16 on this machine, in one run. Prints the table
(targets met or missed, with figures), writes bench/results/bench-<date>.json.

    .venv/bin/python bench/bench.py                 # everything
    .venv/bin/python bench/bench.py --no-quality    # no SciFact nDCG (a quick look)

Sections: (0) the machine and the backend `auto` chose (measured once and recorded in the
cache, as at a first start); (1) per backend: the seed index build, the in-process cost of
one question (`Searcher.search`) and of its encoding alone; whether the chosen backend's
vectors depend on batch mates; (2) HTTP, one client, beside the in-process cost of the
same questions; (3) 1, 4 and 16 clients, query cache off and on; (4) overload: 1, 200 and
1,000 clients with distinct questions; (5) SciFact encoding speed, FLOP/s against the CPU's
peak, and test nDCG@10 of every backend beside PyTorch float32; server RSS.
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
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bench_report import format_report  # noqa: E402
from bench_scifact import scifact_section  # noqa: E402
from httpload import Server, rss_mib, run_load, search_paths, serve  # noqa: E402
from load import distinct_questions, judge_overload, load_levels  # noqa: E402

from korea_qa.evaluate.gold import load_gold  # noqa: E402
from korea_qa.library.lifecycle import Library  # noqa: E402
from korea_qa.models.backend_probe import resolve_backend  # noqa: E402
from korea_qa.models.cpu import cpu_info, resolve_threads  # noqa: E402
from korea_qa.models.embed import BACKENDS, load_embedder  # noqa: E402
from korea_qa.search import Searcher  # noqa: E402
from korea_qa.settings import Settings  # noqa: E402


def main() -> int:
    args = _parser().parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    base = Settings()
    questions = [item.question for item in load_gold(args.gold)]
    work = Path(tempfile.mkdtemp(prefix="korea-qa-bench-"))
    cpu = cpu_info()
    choice = resolve_backend(base)  # as a first start does: measured once, then recorded
    serve_backend = args.serve_backend or (
        choice.backend if base.backend == "auto" else base.backend)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "nproc": os.cpu_count(),
        "cpu": cpu.model, "cpu_info": cpu.summary(), "all_flags": sorted(cpu.flags),
        "python": platform.python_version(), "threads": resolve_threads(base.threads),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "auto_choice": json.loads(choice.to_json()), "served_backend": serve_backend,
        "reader": base.reader,
        "questions": len(questions), "work_dir": str(work)}
    report["seed"], report["in_process"], report["encode"] = {}, {}, {}
    for backend in backends:
        settings = base.model_copy(update={"backend": backend,
                                           "index_dir": work / f"index-{backend}"})
        report["seed"][backend] = seed_build(settings)
        searcher, embedder = make_searcher(settings, warm_up=questions[:10])
        report["in_process"][backend] = percentiles(
            timed_searches(searcher, questions, args.rounds), (50, 95))
        report["encode"][backend] = percentiles(timed_encodes(embedder, questions), (50, 95))
        if backend == serve_backend:
            report["batch_independence"] = batch_independence(embedder, questions)
        _say(f"{backend}: seed {report['seed'][backend]}, in-process "
             f"{report['in_process'][backend]}, encode {report['encode'][backend]}")
    report["http"] = http_section(base, serve_backend, work, questions, args)
    report["overload"] = overload_section(base, serve_backend, work, args)
    quality = [] if args.no_quality else [
        b for b in (args.quality_backends or args.backends).split(",") if b in backends]
    report["scifact"] = scifact_section(base, backends, args.scifact, args.docs, quality, _say)
    report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
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
                        "setting, KOREA_QA_BACKEND, auto unless set)")
    parser.add_argument("--gold", type=Path, default=ROOT / "eval" / "gold.jsonl")
    parser.add_argument("--rounds", type=int, default=5,
                        help="passes over the gold questions for latency (default 5)")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="seconds per throughput level (default 10)")
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument("--overload-clients", default="1,200,1000")
    parser.add_argument("--overload-seconds", type=float, default=15.0)
    parser.add_argument("--pause-ms", type=float, default=2.0,
                        help="idle time before each question in the paused in-process run "
                        "(default 2, about what one HTTP client leaves between model calls)")
    parser.add_argument("--scifact", type=Path,
                        default=ROOT.parent / "shared" / "benchmarks" / "scifact")
    parser.add_argument("--docs", type=int, default=600,
                        help="SciFact abstracts encoded for speed (default 600)")
    parser.add_argument("--no-quality", action="store_true",
                        help="skip SciFact nDCG@10 (the first run encodes all 5,183 "
                        "abstracts per backend; later runs read them from the cache)")
    parser.add_argument("--quality-backends",
                        help="backends whose nDCG@10 is measured (default: all of --backends)")
    parser.add_argument("--out", type=Path)
    return parser


def _say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


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


def make_searcher(settings: Settings, warm_up: list[str]) -> tuple[Searcher, Any]:
    """A searcher that encodes each question alone (no cache): encode + FAISS + BM25 +
    fusion + answer sentence; and its embedder."""
    embedder = load_embedder(settings)
    view = Library(settings, embedder).view()
    searcher = Searcher(view, lambda q: embedder.encode([q])[0], settings)
    for q in warm_up:
        searcher.search(q)
    return searcher, embedder


def timed_encodes(embedder: Any, questions: list[str], rounds: int = 3) -> list[float]:
    """Seconds per lone question's encoding, back to back: the model cost alone."""
    times = []
    for _ in range(rounds):
        for q in questions:
            t0 = time.perf_counter()
            embedder.encode([q])
            times.append(time.perf_counter() - t0)
    return times


def batch_independence(embedder: Any, questions: list[str]) -> dict[str, float]:
    """Largest difference between a question's vector alone and in batches of 7 and 32."""
    alone = np.stack([embedder.encode([q])[0] for q in questions])
    worst = 0.0
    for size in (7, 32):
        batched = embedder.encode(questions[::-1], batch_size=size)[::-1]
        worst = max(worst, float(np.abs(batched - alone).max()))
    return {"max_abs_diff": worst, "texts": len(questions)}


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
    searcher, _ = make_searcher(settings, warm_up=questions[:10])
    log = work / "server.log"
    with serve({**env, "KOREA_QA_QUERY_CACHE_SIZE": "0"}, log) as server:
        out["readyz"] = readyz(server)
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
                             "requests": len(result.latencies), "errors": result.errors,
                             "refused": result.refused}
        _say(f"{clients} clients: {out[str(clients)]}")
    return out


def readyz(server: Server) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://{server.host}:{server.port}/readyz", timeout=5) as r:
        body: dict[str, Any] = json.loads(r.read())
        return body


def overload_section(base: Settings, backend: str, work: Path,
                     args: argparse.Namespace) -> dict[str, Any]:
    """1, 200 and 1,000 clients asking distinct questions, load shedding at its default bound.
    The query cache is off: clients cycling through a shared list would otherwise mostly ask
    what a neighbour asked a moment before, and the cache, not the model, would answer."""
    questions = distinct_questions(args.gold)
    env = {"KOREA_QA_BACKEND": backend, "KOREA_QA_INDEX_DIR": str(work / f"index-{backend}"),
           "KOREA_QA_CACHE_DIR": str(base.cache_dir.resolve()), "KOREA_QA_QUERY_CACHE_SIZE": "0"}
    levels = [int(c) for c in args.overload_clients.split(",")]
    with serve(env, work / "server-overload.log") as server:
        run_load(server, search_paths(questions[:50]), clients=1, requests=50)  # warm-up
        rows = load_levels(server, questions, levels, args.overload_seconds)
    return {"questions": len(questions), "max_in_flight": base.max_searches_in_flight,
            "levels": rows, **judge_overload(rows)}


if __name__ == "__main__":
    raise SystemExit(main())
