"""Fusion grid for `korea-qa eval beir --sweep`: hybrid quality per fusion setting.

Meant for a train split only: the chosen defaults then go into settings.py, and the test
split is run once with them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from korea_qa.evaluate.beir import BeirData, Retrievers, ranked_lists, score_lists
from korea_qa.settings import Settings

CANDIDATES = (50, 100, 200)
RRF_K = (10, 20, 40, 60, 100)
DENSE_WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def grid() -> Iterator[dict[str, Any]]:
    for candidates in CANDIDATES:
        for k in RRF_K:
            yield {"fusion": "rrf", "rrf_k": k, "candidates": candidates}
        for weight in DENSE_WEIGHTS:
            yield {"fusion": "convex", "dense_weight": weight, "candidates": candidates}


def sweep(data: BeirData, retrievers: Retrievers, settings: Settings) -> list[dict[str, Any]]:
    """Every grid point's hybrid metrics, best nDCG@10 first."""
    rows = []
    for point in grid():
        lists = ranked_lists(data, retrievers, "hybrid", settings.model_copy(update=point))
        rows.append({**point, **score_lists(data, retrievers.query_ids, lists)})
    rows.sort(key=lambda r: (-r["ndcg@10"], -r["recall@100"]))
    return rows


def format_sweep(rows: list[dict[str, Any]], top: int = 10) -> str:
    lines = [f"{'fusion':<8}{'param':>14}{'cands':>7}{'ndcg@10':>10}{'recall@100':>12}"
             f"{'mrr@10':>9}"]
    for row in rows[:top]:
        param = (f"rrf_k={row['rrf_k']}" if row["fusion"] == "rrf"
                 else f"w={row['dense_weight']:.1f}")
        lines.append(f"{row['fusion']:<8}{param:>14}{row['candidates']:>7}"
                     f"{row['ndcg@10']:>10.4f}{row['recall@100']:>12.4f}{row['mrr@10']:>9.4f}")
    return "\n".join(lines)
