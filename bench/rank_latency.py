"""Query cost of the ranking defaults against the seed's, in one process, in alternation.

Two searchers over the same index (the ranking settings change nothing stored): the seed's
ranking (no sentence evidence, dense weight 0.6, BM25 k1 1.2) and the current defaults. Each
gold question is asked of both, the order swapping every round, so load from other jobs
falls on both alike. Reports p50/p95 of `Searcher.search` (encoding included) and of the
ranking alone (`search_vector` with the vector already computed), and the load average.

    .venv/bin/python bench/rank_latency.py [--rounds 5] [--mode hybrid]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from korea_qa.evaluate.gold import load_gold, open_searcher  # noqa: E402
from korea_qa.search import Searcher  # noqa: E402
from korea_qa.settings import Settings  # noqa: E402
from korea_qa.startup import open_model  # noqa: E402

SEED = {"sentence_weight": 0.0, "dense_weight": 0.6, "bm25_k1": 1.2}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--mode", default="hybrid")
    args = parser.parse_args()
    model = open_model(Settings())
    now, embedder = model.settings, model.embedder
    searchers = {"seed": open_searcher(now.model_copy(update=SEED), embedder=embedder),
                 "now": open_searcher(now, embedder=embedder)}
    questions = [i.question for i in load_gold(ROOT / "eval" / "gold.jsonl")]
    vectors = {q: embedder.encode([q])[0] for q in questions}
    full: dict[str, list[float]] = {"seed": [], "now": []}
    ranking: dict[str, list[float]] = {"seed": [], "now": []}
    for s in searchers.values():  # warm-up, untimed
        s.search(questions[0], mode=args.mode)
    load_before = os.getloadavg()
    for r in range(args.rounds):
        for q in questions:
            for name in (("seed", "now") if r % 2 == 0 else ("now", "seed")):
                searcher: Searcher = searchers[name]
                started = time.perf_counter()
                searcher.search(q, mode=args.mode)
                full[name].append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                searcher.search_vector(q, vectors[q], mode=args.mode)
                ranking[name].append((time.perf_counter() - started) * 1000)
    load_after = os.getloadavg()
    print(f"{len(questions)} gold questions x {args.rounds} rounds, mode {args.mode}, "
          f"load average {load_before[0]:.2f} -> {load_after[0]:.2f}")
    print(f"{'ranking':<8}{'search p50':>12}{'p95':>9}{'ranking only p50':>19}{'p95':>9}")
    for name in ("seed", "now"):
        f, k = np.array(full[name]), np.array(ranking[name])
        print(f"{name:<8}{np.percentile(f, 50):>12.2f}{np.percentile(f, 95):>9.2f}"
              f"{np.percentile(k, 50):>19.3f}{np.percentile(k, 95):>9.3f}")
    ratio = np.percentile(full["now"], 50) / np.percentile(full["seed"], 50)
    print(f"p50 ratio now/seed: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
