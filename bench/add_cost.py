"""What adding one article costs as the index grows (`make bench-add`).

For indexes of 1k, 10k and 100k passages (filled from real text with a fast stand-in for the
model, `synth.HashProjection`), one saved web page of about 1,500 words is added with the real
model, replaced by a new version, and removed; each write's time is split into extraction,
embedding, the commit (corpus file, segment, catalog) and merging. The target (issue 15): the
part that is neither extraction nor embedding stays under 1 s at 100k passages and grows
slower than the index. Prints a table with the machine; JSON in bench/results/.

    .venv/bin/python bench/add_cost.py [--sizes 1000,10000,100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synth
from machine import describe

from korea_qa.library.corpus import load_corpus
from korea_qa.library.lifecycle import Library, Stopwatch
from korea_qa.library.metadata import Overrides
from korea_qa.models.embed import Embedder
from korea_qa.settings import Settings
from korea_qa.startup import open_model

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("extract", "embed", "commit", "merge")


def page(words: int = 1500, *, rotate: int = 0) -> bytes:
    """A saved news page of about `words` words of the seed articles' paragraphs."""
    paragraphs = [p for a in load_corpus(ROOT / "corpus") for p in a.text.split("\n\n")]
    paragraphs = paragraphs[rotate:] + paragraphs[:rotate]
    body, total = [], 0
    for paragraph in paragraphs:
        body.append(f"<p>{paragraph}</p>")
        total += len(paragraph.split())
        if total >= words:
            break
    head = ("<meta charset='utf-8'><title>Russia and North Korea - Bench Wire</title>"
            "<meta property='og:site_name' content='Bench Wire'>"
            "<meta name='author' content='A. Reporter'>"
            "<meta property='article:published_time' content='2024-06-01T09:00:00Z'>")
    return (f"<!DOCTYPE html><html><head>{head}</head><body><nav>Home News</nav><article>"
            f"<h1>Russia and North Korea</h1>{''.join(body)}</article>"
            "<footer>Copyright</footer></body></html>").encode()


def fill(library: Library, passages: int, sentences: list[str]) -> float:
    """Bring the index to about `passages` passages of synthetic articles; seconds taken."""
    started = time.perf_counter()
    store = library._writable_store()
    embedder = synth.HashProjection(library.embedder.dim)
    have, batch_no = 0, 0
    while have < passages:
        batch = list(synth.articles(max(1, min(400, (passages - have) // 10)), sentences,
                                    seed=batch_no, prefix=f"fill{batch_no}"))
        puts = synth.puts(batch, embedder, library.settings)
        store.write(puts)
        have += sum(len(p.passages) for p in puts)
        batch_no += 1
    store.maintain()
    return time.perf_counter() - started


def timed(write: Any) -> dict[str, float]:
    watch = Stopwatch()
    started = time.perf_counter()
    result = write(watch)
    laps = dict(getattr(result, "seconds", None) or watch.laps)
    laps["total"] = time.perf_counter() - started
    laps["rest"] = laps["total"] - laps.get("extract", 0.0) - laps.get("embed", 0.0)
    return laps


def measure(size: int, embedder: Embedder, sentences: list[str], repeats: int,
            base: Settings) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="korea-qa-add-") as tmp:
        settings = base.model_copy(update={"corpus_dir": Path(tmp) / "corpus",
                                           "index_dir": Path(tmp) / "index"})
        library = Library(settings, embedder)
        fill_s = fill(library, size, sentences)
        view = library.view()
        row: dict[str, Any] = {"passages": view.count_passages(),
                               "segments": view.info()["counts"]["segments"],
                               "fill_s": round(fill_s, 1)}
        view.close()
        row.update(one_article(library, repeats, "added"))
        library.close()
        return row


def one_article(library: Library, repeats: int, prefix: str) -> dict[str, dict[str, float]]:
    """Add, replace and remove one saved page `repeats` times: the median seconds of each
    stage (`STAGES`, the rest, the total) for each kind of write."""
    runs: dict[str, list[dict[str, float]]] = {"add": [], "replace": [], "remove": []}
    for r in range(repeats):
        doc = Overrides(doc_id=f"{prefix}-{r}")
        runs["add"].append(timed(lambda w, d=doc: library.add_file(
            page(), filename="page.html", overrides=d)))
        runs["replace"].append(timed(lambda w, d=doc, r=r: library.add_file(
            page(rotate=7 + r), filename="page.html", overrides=d)))

        def remove(watch: Stopwatch, r: int = r) -> None:
            with watch("commit"):
                library.remove(f"{prefix}-{r}")

        runs["remove"].append(timed(remove))
    return {kind: {k: round(statistics.median(lap.get(k, 0.0) for lap in laps), 4)
                   for k in (*STAGES, "rest", "total")} for kind, laps in runs.items()}


def report(rows: list[dict[str, Any]], machine: dict[str, Any], model: str) -> str:
    lines = [f"machine: {machine['cpu']} ({', '.join(machine['flags'])}), "
             f"{machine['cores']} cores, load {machine['load_average']}; model {model}",
             "median seconds of one write (1,500-word saved page); rest = all but extraction "
             "and embedding",
             f"{'passages':>9} {'write':<8}" + "".join(f"{s:>9}" for s in (*STAGES, "rest",
                                                                              "total"))]
    for row in rows:
        for kind in ("add", "replace", "remove"):
            t = row[kind]
            lines.append(f"{row['passages']:>9} {kind:<8}" + "".join(
                f"{t[s]:>9.3f}" for s in (*STAGES, "rest", "total")))
    big = rows[-1]
    verdict = "met" if big["add"]["rest"] < 1.0 else "MISSED"
    lines.append(f"target: rest of an add < 1 s at {big['passages']} passages: "
                 f"{big['add']['rest']:.3f} s [{verdict}]")
    if len(rows) > 1:
        growth = big["add"]["rest"] / max(rows[0]["add"]["rest"], 1e-9)
        size = big["passages"] / rows[0]["passages"]
        lines.append(f"rest grew {growth:.1f}x while the index grew {size:.0f}x "
                     f"[{'met' if growth < size else 'MISSED'}: slower than the index]")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    model = open_model(Settings())  # the start-up step: which backend runs here
    base, embedder = model.settings, model.embedder
    embedder.encode(["warm up the model"] * 8)
    sentences = synth.real_sentences()
    machine = describe()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(size, embedder, sentences, args.repeats, base))
        print(f"[add-cost] {size}: {rows[-1]}", file=sys.stderr, flush=True)
    text = report(rows, machine, embedder.model_id)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out / f"add-cost-{stamp}.json"
    out.write_text(json.dumps({"date": stamp, "machine": machine, "model": embedder.model_id,
                               "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
