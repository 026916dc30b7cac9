"""`korea-qa eval beir`: the BEIR harness (`korea_qa.evaluate.beir`) on one split, each mode
scored, the fusion grid too with `--sweep` (`korea_qa.evaluate.beir_tune`), a JSON report
written and a table printed."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from korea_qa.errors import KoreaQAError
from korea_qa.evaluate.beir import (
    METRICS,
    BeirData,
    Retrievers,
    build_retrievers,
    load_beir,
    ranked_lists,
    score_lists,
)
from korea_qa.evaluate.beir_tune import format_sweep, sweep
from korea_qa.evaluate.embed_cache import CachedEmbedder
from korea_qa.models.embed import load_embedder
from korea_qa.ranking.rank import RankParams
from korea_qa.settings import MODES, Settings

OVERRIDABLE = ("fusion", "rrf_k", "dense_weight", "candidates", "sentence_weight")


def run_beir(args: argparse.Namespace, settings: Settings) -> int:
    settings = settings.model_copy(update={name: getattr(args, name) for name in OVERRIDABLE
                                           if getattr(args, name, None) is not None})
    modes = _modes(args.modes)
    k1 = settings.bm25_k1 if args.bm25_k1 is None else args.bm25_k1
    b = settings.bm25_b if args.bm25_b is None else args.bm25_b
    data = load_beir(args.path, args.split)
    started = time.perf_counter()
    embedder = CachedEmbedder(load_embedder(settings), settings.cache_dir)
    retrievers = build_retrievers(data, embedder, settings, window_words=args.window_words,
                                  k1=k1, b=b, progress=not args.quiet,
                                  sentences=settings.sentence_weight > 0 or args.sweep,
                                  lexical_store=args.lexical)
    prepared = time.perf_counter() - started
    report = _report(args, settings, data, retrievers, modes, model=embedder.model_id,
                     k1=k1, b=b)
    report["seconds"] = {"prepare": round(prepared, 2),
                         "total": round(time.perf_counter() - started, 2)}
    if args.sweep:
        report["sweep"] = sweep(data, retrievers, RankParams.of(settings))
        print(format_sweep(report["sweep"]))
    tail = "" if args.lexical == "local" else f"-{args.lexical}"
    out = args.out or Path("eval/results") / f"beir-{data.name}-{args.split}{tail}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(format_table(report))
    print(f"wrote {out}")
    return 0


def _modes(value: str) -> list[str]:
    modes = [m.strip() for m in value.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise KoreaQAError(f"unknown mode {unknown[0] if unknown else ''!r}; "
                           f"choose from {', '.join(MODES)}")
    return modes


def _report(args: argparse.Namespace, settings: Settings, data: BeirData,
            retrievers: Retrievers, modes: list[str], *, model: str, k1: float,
            b: float) -> dict[str, Any]:
    """Each mode's metrics, and what produced them."""
    results = {mode: score_lists(data, retrievers.query_ids,
                                 ranked_lists(data, retrievers, mode,
                                              RankParams.of(settings)))
               for mode in modes}
    return {
        "dataset": data.name,
        "split": args.split,
        "queries": len(data.queries),
        "documents": len(data.doc_ids),
        "model": model,
        "config": {"fusion": settings.fusion, "rrf_k": settings.rrf_k,
                   "dense_weight": settings.dense_weight, "candidates": settings.candidates,
                   "sentence_weight": settings.sentence_weight,
                   "window_words": args.window_words, "bm25_k1": k1,
                   "bm25_b": b, "doc_text": "title. text", "lexical": args.lexical},
        "modes": results,
    }


def format_table(report: dict[str, Any]) -> str:
    head = (f"{report['dataset']} {report['split']}: {report['queries']} queries, "
            f"{report['documents']} documents, {report['model']}")
    lines = [head, f"{'mode':<8}" + "".join(f"{m:>12}" for m in METRICS)]
    for mode, values in report["modes"].items():
        lines.append(f"{mode:<8}" + "".join(f"{values[m]:>12.4f}" for m in METRICS))
    return "\n".join(lines)
