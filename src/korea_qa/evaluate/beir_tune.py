"""Fusion grid for `korea-qa eval beir --sweep`: hybrid quality per ranking setting.

Meant for a train split only: the chosen defaults then go into settings.py, and the test
split is run once with them. The grid crosses sentence evidence (`sentence_weight`) with the
fusion settings, since the best fusion weight moves once the dense side carries it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from korea_qa.evaluate.beir import BeirData, Retrievers, ranked_lists, score_lists
from korea_qa.ranking.rank import RankParams

CANDIDATES = (100, 200)
RRF_K = (10, 20, 40, 60, 100)
DENSE_WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SENTENCE_WEIGHTS = (0.0, 0.3, 0.5, 0.7)


def grid(sentences: bool = True) -> Iterator[dict[str, Any]]:
    for sentence in SENTENCE_WEIGHTS if sentences else (0.0,):
        for candidates in CANDIDATES:
            base = {"sentence_weight": sentence, "candidates": candidates}
            for k in RRF_K:
                yield {"fusion": "rrf", "rrf_k": k, **base}
            for weight in DENSE_WEIGHTS:
                yield {"fusion": "convex", "dense_weight": weight, **base}


def sweep(data: BeirData, retrievers: Retrievers, params: RankParams) -> list[dict[str, Any]]:
    """Every grid point's hybrid metrics, best nDCG@10 first."""
    rows = []
    for point in grid(sentences=retrievers.sentences is not None):
        lists = ranked_lists(data, retrievers, "hybrid", dataclasses.replace(params, **point))
        rows.append({**point, **score_lists(data, retrievers.query_ids, lists)})
    rows.sort(key=lambda r: (-r["ndcg@10"], -r["recall@100"]))
    return rows


def format_sweep(rows: list[dict[str, Any]], top: int = 10) -> str:
    lines = [f"{'fusion':<8}{'param':>14}{'sentence':>10}{'cands':>7}{'ndcg@10':>10}"
             f"{'recall@100':>12}{'mrr@10':>9}"]
    for row in rows[:top]:
        param = (f"rrf_k={row['rrf_k']}" if row["fusion"] == "rrf"
                 else f"w={row['dense_weight']:.1f}")
        lines.append(f"{row['fusion']:<8}{param:>14}{row['sentence_weight']:>10.1f}"
                     f"{row['candidates']:>7}{row['ndcg@10']:>10.4f}{row['recall@100']:>12.4f}"
                     f"{row['mrr@10']:>9.4f}")
    return "\n".join(lines)
