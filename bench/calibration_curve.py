"""Int8 calibration: how many texts, how close to float32, how long, and what `make eval`
says (bench/README.md, "First start").

For each size N: NNCF calibrates the ONNX export on every k-th line of the shipped
calibration text (N of the 425, each source keeping its share), with the options
`korea_qa.models.export` uses; its seconds (NNCF imported beforehand, so they are the calibration's
own). Then, for the int8 model: the cosine of its vectors to the float32 reference (ONNX
Runtime) on held-out text (the probe text the backend choice checks, and 200 SciFact test
claims and 300 test abstracts when ../shared/benchmarks/scifact is there), the largest
difference between a text alone and in a batch, and the gold set's test part as `make eval`
scores it (hit@1, MRR@10, nDCG@10, false abstentions; dense and hybrid) on an index it built.
Prints a table with the machine; JSON in bench/results/calibration-<date>.json.

    .venv/bin/python bench/calibration_curve.py [--sizes 425,200,100,50,25,12]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe

import korea_qa.evaluate.gold as gold
from korea_qa.models import export
from korea_qa.models.backend_probe import probe_text
from korea_qa.models.cpu import resolve_threads
from korea_qa.models.embed import ExportedEmbedder, _openvino_runner, load_backend
from korea_qa.models.model_inputs import one_feed_each
from korea_qa.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = ROOT.parent / "shared" / "benchmarks" / "scifact"


def held_out() -> list[str]:
    """The probe text, then SciFact test claims and abstracts (none of them calibrated on)."""
    questions, passages = probe_text()
    texts = questions + passages
    if not SCIFACT.is_dir():
        return texts
    test = {line.split("\t")[0] for line in
            (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:] if line.strip()}
    claims = [json.loads(line) for line in (SCIFACT / "queries.jsonl").read_text().splitlines()]
    texts += [c["text"] for c in claims if str(c["_id"]) in test][:200]
    with gzip.open(SCIFACT / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        for i, line in enumerate(handle):
            if i % 17 == 0 and len(texts) < len(questions) + len(passages) + 500:
                doc = json.loads(line)
                texts.append(f"{doc['title'].strip().rstrip('.')}. {doc['text']}"[:1500])
    return texts


def int8_embedder(settings: Settings, model_xml: Path, name: str) -> ExportedEmbedder:
    """The export's pipeline (tokenise, run, pool) over another int8 model file."""
    embedder = ExportedEmbedder(settings.model_path(), model_id=name, backend="openvino",
                                cache_dir=settings.cache_dir, threads=resolve_threads("auto"))
    embedder._run = _openvino_runner(model_xml, resolve_threads("auto"), settings.cache_dir)
    return embedder


def gold_figures(settings: Settings, embedder: ExportedEmbedder, index_dir: Path) -> dict:
    here = settings.model_copy(update={"index_dir": index_dir})
    searcher = gold.open_searcher(here, embedder=embedder)
    items = gold.select_split(gold.load_gold(ROOT / "eval" / "gold.jsonl"), "test")
    run = gold.run_gold(items, gold.InProcess(searcher), modes=("dense", "hybrid"), k=10)
    out = {}
    for mode in ("dense", "hybrid"):
        summary = gold.summarise(run, mode)
        out[mode] = {"hit@1": summary["hit_at"]["1"], "hit@3": summary["hit_at"]["3"],
                     "mrr@10": summary["mrr@10"], "ndcg@10": summary["ndcg@10"],
                     "false_abstain": summary["false_abstain_rate"]}
    return out


def one_size(n: int, settings: Settings, onnx_file: Path, work: Path, texts: list[str],
             reference: ExportedEmbedder, expected: np.ndarray) -> dict[str, Any]:
    shipped = export.calibration_text()
    subset = shipped[::max(1, len(shipped) // n)][:n]
    target = work / f"int8-{len(subset)}" / "model.xml"
    target.parent.mkdir(parents=True)
    samples = one_feed_each(reference.tokenizer, subset)
    started = time.perf_counter()
    export._calibrate(onnx_file, target, samples)
    seconds = time.perf_counter() - started
    embedder = int8_embedder(settings, target, settings.model_id())
    vectors = embedder.encode(texts, batch_size=8)
    alone = np.stack([embedder.encode([t])[0] for t in texts[::10]])
    cosines = (vectors * expected).sum(axis=1)
    probe = sum(len(part) for part in probe_text())
    return {"texts": len(subset), "seconds": round(seconds, 1),
            "probe_cosine_mean": round(float(cosines[:probe].mean()), 5),
            "probe_cosine_min": round(float(cosines[:probe].min()), 5),
            "held_out": len(texts), "cosine_mean": round(float(cosines.mean()), 5),
            "cosine_min": round(float(cosines.min()), 5),
            "batch_max_diff": float(np.abs(alone - vectors[::10]).max()),
            "gold_test": gold_figures(settings, embedder, work / f"index-{len(subset)}")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="425,200,100,50,25,12")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    settings = Settings(backend="openvino-int8")
    t0 = time.perf_counter()
    import nncf  # noqa: F401  (its import, PyTorch's included, is not the calibration's time)

    nncf_import = time.perf_counter() - t0
    onnx_file = export.onnx_model(settings.model_path(), settings.cache_dir)
    reference = load_backend(settings, "onnx")
    assert isinstance(reference, ExportedEmbedder)
    texts = held_out()
    expected = reference.encode(texts, batch_size=8)
    machine = describe()
    rows = []
    with tempfile.TemporaryDirectory(prefix="korea-qa-calibration-") as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            rows.append(one_size(n, settings, onnx_file, Path(tmp), texts, reference, expected))
            print(json.dumps(rows[-1]), flush=True)
    date = datetime.now(UTC).isoformat(timespec="seconds")
    result = {"date": date, "machine": machine,
              "load_average_end": [round(x, 2) for x in os.getloadavg()],
              "nncf_import_s": round(nncf_import, 1), "rows": rows}
    print(f"\n{machine['cpu']}, {machine['cores']} cores, load {machine['load_average']} -> "
          f"{result['load_average_end']}; NNCF import {nncf_import:.1f} s")
    print(f"{'texts':>6}{'s':>7}{'probe mean':>11}{'min':>8}{'held-out mean':>14}{'min':>8}"
          f"{'batch':>7}  gold test: hybrid hit@1 MRR@10, dense MRR@10")
    for r in rows:
        g = r["gold_test"]
        print(f"{r['texts']:>6}{r['seconds']:>7.1f}{r['probe_cosine_mean']:>11.4f}"
              f"{r['probe_cosine_min']:>8.4f}{r['cosine_mean']:>14.4f}{r['cosine_min']:>8.4f}"
              f"{r['batch_max_diff']:>7.0g}  {g['hybrid']['hit@1']:.3f} "
              f"{g['hybrid']['mrr@10']:.3f}, {g['dense']['mrr@10']:.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"calibration-{date[:10]}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
