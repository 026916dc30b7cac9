"""`make load`: N async clients for T seconds against /api/search on a live loopback server,
asking the gold questions; prints req/s, p50/p95/p99 and errors, and writes JSON to
bench/results/load-<time>.json.

    .venv/bin/python bench/load.py --clients 16 --seconds 60
    .venv/bin/python bench/load.py --url http://127.0.0.1:8000   # an already running server

Without --url it starts `korea-qa serve` (current settings and index) on a free port.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from httpload import Server, run_load, search_paths, serve

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--gold", type=Path, default=ROOT / "eval" / "gold.jsonl")
    parser.add_argument("--out", type=Path, help="JSON result (default bench/results/load-*)")
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in args.gold.read_text().splitlines()
                 if line.strip()]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    running: AbstractContextManager[Server]
    if args.url:
        parts = urlsplit(args.url)
        running = nullcontext(Server(0, parts.hostname or "127.0.0.1", parts.port or 80))
    else:
        running = serve({}, results / f"load-{stamp}.log")
    with running as server:
        load = run_load(server, search_paths(questions), clients=args.clients,
                        seconds=args.seconds)
    ms = np.asarray(load.latencies) * 1000.0
    report = {
        "date": stamp, "clients": args.clients, "seconds": round(load.seconds, 2),
        "requests": len(ms), "errors": load.errors,
        "requests_per_s": round(len(ms) / load.seconds, 1),
        "p50_ms": _pct(ms, 50), "p95_ms": _pct(ms, 95), "p99_ms": _pct(ms, 99),
    }
    out = args.out or results / f"load-{stamp}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{args.clients} clients, {report['seconds']} s: {report['requests_per_s']} req/s, "
          f"p50 {report['p50_ms']} ms, p95 {report['p95_ms']} ms, p99 {report['p99_ms']} ms, "
          f"{load.errors} errors")
    print(f"wrote {out}")
    return 1 if load.errors else 0


def _pct(ms: np.ndarray, q: float) -> float | None:
    return round(float(np.percentile(ms, q)), 2) if len(ms) else None


if __name__ == "__main__":
    raise SystemExit(main())
