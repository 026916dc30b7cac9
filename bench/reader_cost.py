"""In-process cost of the reader (issue 22: p50 at most 3x today's): `Searcher.search` with the
setting's reader against today's `sentence` reader, in one process, over one index, in
alternation.

Two searchers over the same view, differing only in their reader. Each gold question is
asked of both, the order swapping every round, so load from other jobs falls on both alike.
Reports p50/p95 of `Searcher.search` (encoding included), their ratio, the machine and the
load average; writes bench/results/reader-cost.json (`korea-qa eval targets` reads it).
With the setting's reader `sentence` both sides run the same code: the ratio shows the noise.

    .venv/bin/python bench/reader_cost.py [--rounds 3] [--mode hybrid]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from machine import describe  # noqa: E402

from korea_qa.evaluate.gold import load_gold, open_searcher  # noqa: E402
from korea_qa.reading.reader import load_reader  # noqa: E402
from korea_qa.search import Searcher  # noqa: E402
from korea_qa.settings import Settings  # noqa: E402
from korea_qa.startup import open_model  # noqa: E402

BASELINE = "sentence"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mode", default="hybrid")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "reader-cost.json")
    args = parser.parse_args()
    model = open_model(Settings())
    settings, embedder = model.settings, model.embedder
    mine = open_searcher(settings, embedder=embedder)
    searchers = {"reader": mine, "baseline": Searcher(mine.view, mine.encode, settings,
                                                       reader=load_reader(BASELINE))}
    questions = [i.question for i in load_gold(ROOT / "eval" / "gold.jsonl")]
    for s in searchers.values():  # warm-up, untimed
        for q in questions[:10]:
            s.search(q, mode=args.mode)
    start = describe()
    times = timed(searchers, questions, args.rounds, args.mode)
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": start,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "model": settings.model_id(), "mode": args.mode, "rounds": args.rounds,
        "questions": len(questions),
        "reader": {"name": mine.reader.name, **percentiles(times["reader"])},
        "baseline": {"name": BASELINE, **percentiles(times["baseline"])}}
    report["ratio"] = round(report["reader"]["p50_ms"] / report["baseline"]["p50_ms"], 3)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"reader cost, {args.mode}, {len(questions)} gold questions x {args.rounds} rounds "
          f"in alternation; {start['cpu']} ({start['cores']} cores), load average "
          f"{start['load_average']} -> {report['load_average_end']}")
    for key in ("reader", "baseline"):
        r = report[key]
        print(f"    {key:<9}{r['name']:<10} p50 {r['p50_ms']:7.2f} ms   p95 {r['p95_ms']:7.2f} ms")
    print(f"    p50 ratio {report['ratio']:.2f}x (target <= 3x)\nwrote {args.out}")
    return 0


def timed(searchers: dict[str, Searcher], questions: list[str], rounds: int,
          mode: str) -> dict[str, list[float]]:
    """Milliseconds per search, each question asked of both searchers, the order swapping."""
    out: dict[str, list[float]] = {name: [] for name in searchers}
    for r in range(rounds):
        for q in questions:
            for name in (("reader", "baseline") if r % 2 == 0 else ("baseline", "reader")):
                started = time.perf_counter()
                searchers[name].search(q, mode=mode)
                out[name].append((time.perf_counter() - started) * 1000)
    return out


def percentiles(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p95_ms": round(float(np.percentile(ms, 95)), 3)}


if __name__ == "__main__":
    raise SystemExit(main())
