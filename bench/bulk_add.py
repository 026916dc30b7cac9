"""`korea-qa add` of a big folder, measured (`make bench-bulk`; issue 23).

Writes a folder of plain-text articles from real text (a title line and four paragraphs of
2-4 sentences drawn in a fixed order from the SciFact abstracts and the seed articles, or the
seed articles alone without ../shared: about four passages an article; the same seed gives the
same folder), then runs `korea-qa add FOLDER` into an empty corpus and index under
`ulimit -n 1024`, as a person would, and prints articles a second (target: at least 150 on 2
cores with the stand-in embedder, `KOREA_QA_MODEL=hash:384`), the CPU the run took, the
machine and its load. With `--real-model` (a smaller folder), the bundled model embeds, and
the bench then embeds the same passages and sentences again alone, in process: the add's
time over that (target: within 1.2x). JSON in bench/results/bulk-add-<date>.json.

    .venv/bin/python bench/bulk_add.py [--articles 25000] [--real-model] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from machine import describe

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = re.compile(r"(\d+) of (\d+) files in ([\d.]+) s \(([\d.]+) articles/s\): (\d+) "
                     r"created, (\d+) updated, (\d+) unchanged, (\d+) failed")
FD_LIMIT = 1024
LAYOUT = "4x2-4"  # four paragraphs of 2-4 sentences: about four passages an article


def write_folder(folder: Path, count: int, *, seed: int = 23) -> None:
    """`count` articles as `bulk-NNNNNNN.txt`; kept when a folder of that count and seed is
    there already."""
    import synth

    stamp = folder / ".made"
    if stamp.exists() and stamp.read_text() == f"{count} {seed} {LAYOUT}":
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    sentences = synth.real_sentences()
    rng = np.random.default_rng(seed)
    for i in range(count):
        paragraphs = [" ".join(sentences[int(j)] for j in
                               rng.integers(0, len(sentences), int(rng.integers(2, 5))))
                      for _ in range(4)]
        title = " ".join(sentences[int(rng.integers(0, len(sentences)))].split()[:8])
        (folder / f"bulk-{i:07d}.txt").write_text(
            f"Bulk article {i}: {title}\n\n" + "\n\n".join(paragraphs) + "\n", encoding="utf-8")
    stamp.write_text(f"{count} {seed} {LAYOUT}")


def run_add(folder: Path, work: Path, model: str | None, *, fd_limit: int = FD_LIMIT,
            **settings: str) -> dict[str, Any]:
    """`korea-qa add FOLDER` into an empty corpus and index under `ulimit -n fd_limit`; wall
    and CPU seconds. `settings`: KOREA_QA_* variables for the command."""
    for name in ("corpus", "index"):
        shutil.rmtree(work / name, ignore_errors=True)
    (work / "corpus").mkdir(parents=True)
    env = {**os.environ, "KOREA_QA_CORPUS_DIR": str(work / "corpus"),
           "KOREA_QA_INDEX_DIR": str(work / "index"), "KOREA_QA_LOG_LEVEL": "warning",
           "HF_HUB_OFFLINE": "1"}
    env.pop("KOREA_QA_MODEL", None)
    # As a person runs it: Python keeps its compiled modules (this workplace turns that off,
    # and every start would compile korea-qa's and its libraries' sources again).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if model:
        env["KOREA_QA_MODEL"] = model
    env.update(settings)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "korea_qa.cli", "add", "--no-progress",
                           str(folder)], env=env, cwd=ROOT, capture_output=True, text=True,
                          check=False, preexec_fn=lambda: resource.setrlimit(
                              resource.RLIMIT_NOFILE, (fd_limit, fd_limit)))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = SUMMARY.search(done.stdout)
    if found is None:
        sys.exit(f"korea-qa add failed ({done.returncode}):\n{done.stdout[-2000:]}\n"
                 f"{done.stderr[-3000:]}")
    first_failure = re.search(r"^  failed: (.*)$", done.stdout, re.MULTILINE)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"fd_limit": fd_limit, "files": int(found[2]), "created": int(found[5]),
            "failed": int(found[8]),
            "first_failure": first_failure[1] if first_failure else None,
            "command_wall_s": round(wall, 2), "adding_s": float(found[3]),
            "articles_per_s": round(int(found[2]) / wall, 1),
            "articles_per_s_adding": float(found[4]), "cpu_s": round(cpu, 2),
            "cpu_ms_per_article": round(1000 * cpu / int(found[2]), 2)}


def embedding_alone(folder: Path) -> dict[str, Any]:
    """The real model embedding the folder's passages and their sentences, as the add did
    (the same chunking, batches of the same articles), and nothing else."""
    from korea_qa.library.chunk import chunk_article
    from korea_qa.library.lifecycle import read_file
    from korea_qa.models.embed import load_embedder
    from korea_qa.settings import Settings

    settings = Settings()
    articles = [read_file(p.read_bytes(), p.name, None, settings)[0]
                for p in sorted(folder.glob("*.txt"))]
    passages = [p for a in articles for p in chunk_article(
        a, min_words=settings.chunk_min_words, max_words=settings.chunk_max_words,
        overlap_sentences=settings.chunk_overlap_sentences)]
    embedder = load_embedder(settings)
    embedder.encode(["warm up"] * 4)
    started = time.perf_counter()
    step = settings.add_batch_articles * 4  # about one add batch of passages a call
    for lo in range(0, len(passages), step):
        chunk = passages[lo:lo + step]
        embedder.encode([p.text for p in chunk], batch_size=settings.embed_batch_size)
        embedder.encode([p.text[a:b] for p in chunk for a, b in p.sentences],
                        batch_size=settings.embed_batch_size)
    return {"model": embedder.model_id, "passages": len(passages),
            "sentences": sum(len(p.sentences) for p in passages),
            "embedding_s": round(time.perf_counter() - started, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, help="folder size (default 25,000; 300 with "
                        "--real-model)")
    parser.add_argument("--real-model", action="store_true", help="the bundled model, and "
                        "the embedding alone beside it")
    parser.add_argument("--workdir", type=Path, help="keep the folder here between runs")
    parser.add_argument("--baseline", type=int, default=500, metavar="N", help="also add "
                        "the first N articles one commit each (KOREA_QA_ADD_BATCH_ARTICLES=1, "
                        "as adds were before batches), in the same run, under ulimit -n 1024 "
                        "and then 20000; 0: not")
    args = parser.parse_args()
    count = args.articles or (300 if args.real_model else 25_000)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bulk-add-"))
    machine = describe()
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, load average "
          f"{machine['load_average']} (shared: figures compare within one run)")
    folder = work / f"articles-{count}"
    started = time.perf_counter()
    write_folder(folder, count)
    print(f"folder: {count} articles in {folder} ({time.perf_counter() - started:.1f} s)")
    report: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                              "machine": machine, "articles": count, "fd_limit": FD_LIMIT}
    added = run_add(folder, work, None if args.real_model else "hash:384")
    report["add"] = added
    print(f"korea-qa add ({'bundled model' if args.real_model else 'hash:384'}, ulimit -n "
          f"{FD_LIMIT}): {added['files']} files, {added['created']} created, "
          f"{added['failed']} failed, "
          f"{added['command_wall_s']} s for the whole command = {added['articles_per_s']} "
          f"articles/s ({added['articles_per_s_adding']}/s after start-up); CPU "
          f"{added['cpu_s']} s = {added['cpu_ms_per_article']} ms an article")
    if args.real_model:
        alone = embedding_alone(folder)
        report["embedding_alone"] = alone
        ratio = added["adding_s"] / alone["embedding_s"]
        report["ratio"] = round(ratio, 3)
        print(f"embedding alone: {alone['passages']} passages + {alone['sentences']} "
              f"sentences in {alone['embedding_s']} s; add after start-up "
              f"{added['adding_s']} s = {ratio:.2f}x (target <= 1.2x)")
    elif args.baseline:
        first = work / f"articles-{count}-first-{args.baseline}"
        shutil.rmtree(first, ignore_errors=True)
        first.mkdir()
        for path in sorted(folder.glob("*.txt"))[:args.baseline]:
            os.link(path, first / path.name)
        for limit in (FD_LIMIT, 20_000):
            single = run_add(first, work, "hash:384", fd_limit=limit,
                             KOREA_QA_ADD_BATCH_ARTICLES="1")
            report[f"one_commit_per_article_ulimit_{limit}"] = single
            print(f"the first {args.baseline}, one commit per article, ulimit -n {limit}: "
                  f"{single['created']} created, {single['failed']} failed"
                  f"{' (first: ' + single['first_failure'] + ')' if single['failed'] else ''}; "
                  f"{single['command_wall_s']} s = {single['articles_per_s']} articles/s "
                  f"({single['articles_per_s_adding']}/s after start-up); CPU "
                  f"{single['cpu_ms_per_article']} ms an article")
    if not args.real_model:
        rate = added["articles_per_s"]
        print(f"target >= 150 articles/s on 2 cores: {rate} ({'met' if rate >= 150 else 'not met'}"
              " here, under this load)")
    report["load_average_after"] = describe()["load_average"]
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    out = results / f"bulk-add-{'real-' if args.real_model else ''}" \
        f"{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"load average after: {report['load_average_after']}; wrote {out}")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
