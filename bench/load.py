"""`make load`: N async clients for T seconds against /api/search on a live loopback server;
prints req/s, p50/p95/p99, errors and refusals (503 + Retry-After), and writes JSON to
bench/results/load-<time>.json.

    .venv/bin/python bench/load.py --clients 16 --seconds 60
    .venv/bin/python bench/load.py --clients 1,200,1000 --distinct --seconds 20   # overload
    .venv/bin/python bench/load.py --url http://127.0.0.1:8000   # an already running server
    .venv/bin/python bench/load.py --clients 16 --no-query-cache  # every request to the model

Without --url it starts `korea-qa serve` (current settings and index) on a free port. With
--distinct the questions are the gold questions and every SciFact claim (about 1,200, all
different; with the query cache off every request reaches the model, as in `make overload`
and the bench); with several client counts each level
runs in turn and the overload target is judged: requests answered under the largest level
keep p99 within 20x the one-client p50, the rest are refused at once with 503.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from httpload import Server, run_load, search_paths, serve

from korea_qa.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SCIFACT_QUERIES = ROOT.parent / "shared" / "benchmarks" / "scifact" / "queries.jsonl"
OVERLOAD_RATIO = 20.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="16", help="a count, or counts run in turn: 1,200")
    parser.add_argument("--seconds", type=float, default=60.0, help="per level")
    parser.add_argument("--distinct", action="store_true",
                        help="gold questions and SciFact claims, all different (run the server "
                        "with KOREA_QA_QUERY_CACHE_SIZE=0 so every request reaches the model)")
    parser.add_argument("--no-query-cache", action="store_true",
                        help="start the server with the query cache off "
                        "(KOREA_QA_QUERY_CACHE_SIZE=0), as --distinct does")
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--gold", type=Path, default=ROOT / "eval" / "gold.jsonl")
    parser.add_argument("--out", type=Path, help="JSON result (default bench/results/load-*)")
    args = parser.parse_args()
    questions = gold_questions(args.gold)
    if args.distinct:
        questions = distinct_questions(args.gold)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    cache_off = args.distinct or args.no_query_cache
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    running: AbstractContextManager[Server]
    if args.url:
        parts = urlsplit(args.url)
        running = nullcontext(Server(0, parts.hostname or "127.0.0.1", parts.port or 80))
    else:
        env = {"KOREA_QA_QUERY_CACHE_SIZE": "0"} if cache_off else {}
        running = serve(env, results / f"load-{stamp}.log")
    levels = [int(c) for c in args.clients.split(",")]
    with running as server:
        rows = load_levels(server, questions, levels, args.seconds)
    report: dict[str, Any] = {"date": stamp, "questions": len(questions), "levels": rows,
                              "query_cache": None if args.url else not cache_off,
                              # the server started here reads the same KOREA_QA_* settings
                              "reader": None if args.url else Settings().reader}
    if len(levels) > 1:
        report["overload"] = judge_overload(rows)
    out = args.out or results / f"load-{stamp}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    for clients, row in rows.items():
        print(f"{clients} clients, {row['seconds']} s: {row['requests_per_s']} req/s answered, "
              f"p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms, p99 {row['p99_ms']} ms, "
              f"{row['refused']} refused (503), {row['errors']} errors")
    if "overload" in report:
        print(report["overload"]["verdict"])
    print(f"wrote {out}")
    return 1 if any(row["errors"] for row in rows.values()) else 0


def gold_questions(gold: Path) -> list[str]:
    return [json.loads(line)["question"] for line in gold.read_text().splitlines()
            if line.strip()]


def distinct_questions(gold: Path) -> list[str]:
    """Every gold question and SciFact claim (when the benchmark folder is there), once."""
    questions = gold_questions(gold)
    if SCIFACT_QUERIES.exists():
        questions += [json.loads(line)["text"] for line in
                      SCIFACT_QUERIES.read_text().splitlines() if line.strip()]
    return [q[:400] for q in dict.fromkeys(questions)]


def load_levels(server: Server, questions: list[str], levels: list[int],
                seconds: float) -> dict[str, dict[str, Any]]:
    paths = search_paths(questions)
    rows = {}
    for clients in levels:
        load = run_load(server, paths, clients=clients, seconds=seconds)
        ms = np.asarray(load.latencies) * 1000.0
        rows[str(clients)] = {
            "clients": clients, "seconds": round(load.seconds, 2), "requests": len(ms),
            "requests_per_s": round(len(ms) / load.seconds, 1), "errors": load.errors,
            "refused": load.refused, "p50_ms": _pct(ms, 50), "p95_ms": _pct(ms, 95),
            "p99_ms": _pct(ms, 99)}
        print(f"[load] {clients} clients: {rows[str(clients)]}", file=sys.stderr, flush=True)
    return rows


def judge_overload(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Answered requests at the largest level keep p99 within 20x the one-client p50."""
    one = rows.get("1")
    top = rows[max(rows, key=int)]
    if not one or one["p50_ms"] is None or top["p99_ms"] is None:
        return {"met": False, "verdict": "overload: not judged (no one-client level)"}
    ratio = top["p99_ms"] / one["p50_ms"]
    met = ratio <= OVERLOAD_RATIO and top["errors"] == 0
    verdict = (f"overload: {top['clients']} clients, p99 of answered {top['p99_ms']:.1f} ms = "
               f"{ratio:.1f}x the one-client p50 {one['p50_ms']:.2f} ms, {top['refused']} "
               f"refused, {top['errors']} errors [target <= {OVERLOAD_RATIO:.0f}x, 0 errors: "
               f"{'met' if met else 'MISSED'}]")
    return {"met": met, "ratio": round(ratio, 2), "verdict": verdict}


def _pct(ms: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(ms, q)), 2) if len(ms) else None


if __name__ == "__main__":
    raise SystemExit(main())
