"""`make bench-extraction`: our HTML extractor on 30 real saved news pages, against the
article body a person marked (../shared/benchmarks/article-extraction, see its SOURCE.md).

    .venv/bin/python bench/extraction.py                 # every option set
    .venv/bin/python bench/extraction.py --sets balanced # one

Body text, for each trafilatura option set:
- tokens are `re.findall(r"\\w+", text)` (Unicode word characters, case kept), compared as
  multisets: tp = sum over tokens of min(count extracted, count marked), fp = extracted - tp,
  fn = marked - tp. Precision, recall and F1 per page, then their mean over the 30 pages
  ("per page"); and from tp, fp, fn summed over all pages ("micro").
- the benchmark's own score: the same tokens in shingles of 4, tp/fp/fn normalised per page,
  precision and recall averaged over pages, F1 of those two means (Scrapinghub's
  evaluate.py, whose README gives trafilatura 0.958 on its 181 pages).
Title and date against the headline and publication date marked below by reading each page
(its visible headline; its dateline, or its JSON-LD datePublished where the dateline is
relative): title "exact" after casefolding, unifying quotes and collapsing spaces; "has it"
when the marked headline is inside the extracted title (a "Headline - Site" title); date
exact, or within a day (a page stamped 02:34Z on the 19th was written on the 18th in New
York).
Also: time per page (in this process, no worker), and the worker's per-call overhead.
Then the same pages printed to PDF by headless Chromium, with the saved pages' scripts off
and on, and read as raw pypdf text, by our PDF path and by the HTML path
(`extraction_pdf.py`; `--printed only` runs just that).
Writes bench/results/extraction-<time>.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import cpu_model

from korea_qa.errors import ExtractionError
from korea_qa.ingest import ExtractLimits, extract
from korea_qa.ingest.dispatch import extract_here
from korea_qa.ingest.html import HtmlOptions, extract_html

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "benchmarks" / "article-extraction"
SETS = {
    "balanced": HtmlOptions(),
    "precision": HtmlOptions(favor_precision=True),
    "recall": HtmlOptions(favor_recall=True),
    "no-tables": HtmlOptions(include_tables=False),
    "extensive-date": HtmlOptions(extensive_date_search=True),
    "fast": HtmlOptions(fast=True),
    "precision+fast": HtmlOptions(favor_precision=True, fast=True),
}
# id: (headline as the page shows it, publication date the page states or None).
MARKED: dict[str, tuple[str, str | None]] = {
    "5211188428849a31": ("[The Palace: Tale of Jang Noksu] More Reviews from KLOOK Visitors!",
                         "2018-10-12"),
    "702d1da63b8e064c": ("Trump’s Made-for-TV Trade War Keeps World Guessing", "2019-11-18"),
    "8b19453030820413": ("Hunter diagnosed with bubonic plague after eating a rabbit making him"
                         " third Beijing local to contract medieval disease", "2019-11-18"),
    "d605bdef2cde7308": ("Investors don't seem to know what to make of the US-China trade war",
                         "2019-11-18"),
    "7bb1ca9035431384": ("A Man Developed 'Feather Duvet Lung' After Getting New Bedding",
                         "2019-11-18"),
    "3c5bf8db4272925b": ("Physicists Just Created the Most Detailed Simulation of the Universe"
                         " in History", "2019-11-19"),
    "9a440270bf8625d5": ("UEFA Euro 2020 qualifying: Tracking every team to clinch a spot as"
                         " Wales punches ticket", "2019-11-19"),
    "f105de6e63ca91ea": ("Kindle for PCをCtrl＋Alt＋Kのショートカットキーで立ち上がらなくする方法",
                         "2018-08-16"),
    "11ea381ad92b5448": ("Classificação NASCAR", "2010-10-22"),
    "1f765c48780665e8": ("Royal Self-Indicting Arrogance", "2019-11-18"),
    "c81e134ed49902bc": ("High School Roundup: Viera defeats Rockledge to remain undefeated",
                         "2019-11-20"),
    "287e4d9f4af31733": ("Daily Deals: More Black Friday Deals Are Live, Including PS4 DualShock"
                         " Controller, Apple AirPods and Watches, and More", "2019-11-18"),
    "87438a0dacbeb979": ("Dear Abby: Husband springs for business class flight to India, but"
                         " leaves wife in economy seat", "2019-11-20"),
    "e100c9612ad8495d": ("Stadia Falls Short of 4K at Launch, Destiny 2 Runs at a Native 1080p"
                         " and Medium Settings", "2019-11-18"),
    "156770d676ce7990": ("South Dakota governor doubles down on 'meth, we're on it' anti-drug"
                         " campaign", "2019-11-19"),
    "c13b9c0e04fb28d4": ("‘Meth. We’re on it.’: Spokane ad agencies divided on South Dakota’s"
                         " viral campaign", "2019-11-19"),
    "57d46c9d751e3fd3": ("Oversupply angst drags oil lower, stocks drift near highs",
                         "2019-11-19"),
    "0dd1357045727799": ("BREAKING: Lawan moves motion for Senate’s adjournment over Nzeribe,"
                         " Adedoyin’s deaths", "2018-10-09"),
    "23aaecd14171f96c": ("Uma palinha das brincadeiras musicais do grupo Serelepe",
                         "2018-09-27"),
    "aadb38e527d53793": ("Lexus wants you to go topless with 2020 LC500 Convertible",
                         "2019-11-20"),
    "a078b3656adc0295": ("How This Man’s Bedding Gave Him ‘Feather Duvet Lung’", "2019-11-18"),
    "1ee91d1fce65e09b": ("Russia and Syria: U.S.-backed Syrian Forces Blocking Refugee Return",
                         "2019-11-18"),
    "5fa3154ec031ab35": ("The Guardian view on Hong Kong: a city on the brink", "2019-11-18"),
    "264dc3ae31249cb1": ("Zach Parise heating up, scores twice as Wild beat Sabres 4-1",
                         "2019-11-19"),
    "cc4aa22b8212aec7": ("9to5Mac Gift Guide: What do you buy for the person who already has"
                         " the latest technology?", "2019-11-18"),
    "a1fca19b884e0e94": ("Taliban say they freed US, Australian hostages for 3 terrorist"
                         " figures", "2019-11-19"),
    "16c30add7e96315e": ("The law that’s helping fuel Delhi’s deadly air pollution",
                         "2019-11-08"),
    "d48aeb9cf2f2ff15": ("Why My Friend Became a Grocery Store on Instagram", "2019-11-15"),
    "34a7328535ad4e60": ("Nollywood Actress, Kate Henshaw Is Looking Stunning In New Photos",
                         "2018-10-06"),
    "5ae11e580afc12d3": ("Ascom announces a strategic distribution partnership with GE"
                         " Healthcare in Europe for intensive care units", "2017-10-12"),
}
_TOKEN = re.compile(r"\w+")
_QUOTES = str.maketrans("‘’“”", "''\"\"")


@dataclass(frozen=True, slots=True)
class PageResult:
    page: str
    tp: int
    fp: int
    fn: int
    shingles: tuple[float, float, float]  # tp, fp, fn normalised to sum 1
    title: str | None
    published: str | None
    seconds: float
    error: str | None


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def overlap(extracted: list[object], marked: list[object]) -> tuple[int, int, int]:
    common = sum((Counter(extracted) & Counter(marked)).values())
    return common, len(extracted) - common, len(marked) - common


def prf(tp: float, fp: float, fn: float) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def shingles(text: str, n: int = 4) -> list[object]:
    words = tokens(text)
    return [tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1)) if words[i:i + n]]


def run_page(page: str, html: bytes, body: str, options: HtmlOptions) -> PageResult:
    def call() -> tuple[str, str | None, str | None]:
        got = extract_html(html, options=options)
        return got.text, got.title, got.published

    return measure(page, body, call)


def measure(page: str, body: str,
            call: Callable[[], tuple[str, str | None, str | None]]) -> PageResult:
    """Scores of the text, title and date that `call` extracts (none when it refuses)."""
    start = time.perf_counter()
    try:
        text, title, published = call()
        error = None
    except ExtractionError as exc:
        text, title, published, error = "", None, None, str(exc)
    seconds = time.perf_counter() - start
    tp, fp, fn = overlap(list(tokens(text)), list(tokens(body)))
    s_tp, s_fp, s_fn = overlap(shingles(text), shingles(body))
    total = (s_tp + s_fp + s_fn) or 1
    return PageResult(page, tp, fp, fn, (s_tp / total, s_fp / total, s_fn / total),
                      title, published, seconds, error)


def _norm(title: str) -> str:
    return " ".join(title.translate(_QUOTES).casefold().split())


def summarise(rows: list[PageResult]) -> dict[str, float | int]:
    per_page = [prf(r.tp, r.fp, r.fn) for r in rows]
    micro = prf(sum(r.tp for r in rows), sum(r.fp for r in rows), sum(r.fn for r in rows))
    s_p = statistics.mean(tp / (tp + fp) if tp + fp else 0.0 for tp, fp, _ in
                          (r.shingles for r in rows))
    s_r = statistics.mean(tp / (tp + fn) if tp + fn else 0.0 for tp, _, fn in
                          (r.shingles for r in rows))
    dated = [(r.published, MARKED[r.page][1]) for r in rows if MARKED[r.page][1]]
    return {
        "pages": len(rows),
        "errors": sum(r.error is not None for r in rows),
        "precision": statistics.mean(p for p, _, _ in per_page),
        "recall": statistics.mean(r for _, r, _ in per_page),
        "f1": statistics.mean(f for _, _, f in per_page),
        "micro_precision": micro[0], "micro_recall": micro[1], "micro_f1": micro[2],
        "shingle_f1": 2 * s_p * s_r / (s_p + s_r) if s_p + s_r else 0.0,
        "title_given": sum(r.title is not None for r in rows),
        "title_exact": sum(_norm(r.title or "") == _norm(MARKED[r.page][0]) for r in rows),
        "title_has_headline": sum(_norm(MARKED[r.page][0]) in _norm(r.title or "")
                                  for r in rows),
        "dates_marked": len(dated),
        "date_given": sum(got is not None for got, _ in dated),
        "date_exact": sum(got == want for got, want in dated),
        "date_within_1_day": sum(_days(got, want) <= 1 for got, want in dated),
        "ms_per_page_mean": 1000 * statistics.mean(r.seconds for r in rows),
        "ms_per_page_median": 1000 * statistics.median(r.seconds for r in rows),
    }


def _days(got: str | None, want: str | None) -> int:
    if not got or not want:
        return 10**6
    return abs((date.fromisoformat(got) - date.fromisoformat(want)).days)


def overhead(calls: int, big_mib: float) -> dict[str, float]:
    """Milliseconds per call through the worker and in this process: a short text (`calls`
    times, means), and a text of `big_mib` MiB (five times, medians)."""
    short = b"Jeju is an island south of the peninsula.\n\nIt has a volcano."
    paragraph = "Busan is a port city in the south of Korea with a film festival. " * 10
    count = int(big_mib * (1 << 20) / (len(paragraph) + 8))
    big = "\n\n".join(f"{i} {paragraph}" for i in range(count)).encode()
    limits = ExtractLimits(max_chars=len(big))
    extract(short, limits=limits)  # start the worker
    timings: dict[str, float] = {}
    for size, data, repeat, average in (("short", short, calls, statistics.mean),
                                        ("big", big, 5, statistics.median)):
        for where, call in (("in_process", lambda d=data: extract_here(d, None, len(big))),
                            ("worker", lambda d=data: extract(d, limits=limits))):
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                call()
                times.append(1000 * (time.perf_counter() - start))
            timings[f"{size}_{where}_ms"] = average(times)
        timings[f"{size}_overhead_ms"] = (timings[f"{size}_worker_ms"]
                                          - timings[f"{size}_in_process_ms"])
    timings["big_mib"] = len(big) / (1 << 20)
    return timings


def start_time() -> float:
    """Milliseconds from nothing to the first answer of a fresh worker."""
    from korea_qa.ingest.sandbox import Sandbox

    sandbox = Sandbox()
    start = time.perf_counter()
    sandbox.run(b"Hello.", None, ExtractLimits())
    elapsed = 1000 * (time.perf_counter() - start)
    sandbox.close()
    return elapsed


def load_pages(folder: Path) -> list[tuple[str, bytes, str]]:
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    return [(page, gzip.decompress((folder / "html" / f"{page}.html.gz").read_bytes()),
             entry["articleBody"]) for page, entry in sorted(truth.items())]


def table(summaries: dict[str, dict[str, float | int]]) -> str:
    lines = [
        "| options | P | R | F1 | micro P | micro R | micro F1 | shingle F1 | title exact"
        " | title has headline | date exact | date ±1 day | ms/page |",
        "|---" * 13 + "|",
    ]
    for name, s in summaries.items():
        n, dated = s["pages"], s["dates_marked"]
        lines.append(
            f"| {name} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f}"
            f" | {s['micro_precision']:.3f} | {s['micro_recall']:.3f} | {s['micro_f1']:.3f}"
            f" | {s['shingle_f1']:.3f} | {s['title_exact']}/{n} | {s['title_has_headline']}/{n}"
            f" | {s['date_exact']}/{dated} | {s['date_within_1_day']}/{dated}"
            f" | {s['ms_per_page_mean']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=list(SETS))
    parser.add_argument("--calls", type=int, default=500, help="short calls for the overhead")
    parser.add_argument("--big-mib", type=float, default=9.0, help="size of the big text")
    parser.add_argument("--printed", choices=("also", "no", "only"), default="also",
                        help="the pages printed to PDF by Chromium: also, not, or only them")
    parser.add_argument("--out", type=Path, help="JSON (default bench/results/extraction-*)")
    args = parser.parse_args(argv)
    if not (args.data / "ground-truth.json").is_file():
        print(f"extraction benchmark not found: {args.data} has no ground-truth.json (the saved"
              " pages live in ../shared/benchmarks/article-extraction)", file=sys.stderr)
        return 2
    pages = load_pages(args.data)
    if set(MARKED) != {page for page, _, _ in pages}:
        print("the pages differ from the titles and dates marked in this script",
              file=sys.stderr)
        return 2
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report: dict[str, object] = {"date": stamp, "cpu": cpu_model()}
    print(f"CPU: {report['cpu']}")
    if args.printed != "only":
        report.update(html_report(args, pages))
    if args.printed != "no":
        printed = printed_report(pages)
        if printed is None and args.printed == "only":
            return 2
        report["printed"] = printed
    out = args.out or ROOT / "bench" / "results" / f"extraction-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return 0


def html_report(args: argparse.Namespace, pages: list[tuple[str, bytes, str]]
                ) -> dict[str, object]:
    rows = {name: [run_page(page, html, body, SETS[name]) for page, html, body in pages]
            for name in args.sets}
    summaries = {name: summarise(result) for name, result in rows.items()}
    worker = {**overhead(args.calls, args.big_mib), "start_ms": start_time()}
    print(table(summaries))
    print(f"\nworker overhead: short text {worker['short_overhead_ms']:.2f} ms per call"
          f" ({worker['short_worker_ms']:.2f} vs {worker['short_in_process_ms']:.2f} ms in"
          f" process, mean of {args.calls}); {worker['big_mib']:.1f} MiB text"
          f" {worker['big_overhead_ms']:.0f} ms ({worker['big_worker_ms']:.0f} vs"
          f" {worker['big_in_process_ms']:.0f} ms, median of 5); a fresh worker answers its"
          f" first call in {worker['start_ms']:.0f} ms")
    return {"sets": {name: asdict(options) for name, options in SETS.items()
                     if name in args.sets},
            "summary": summaries, "worker": worker,
            "pages": {name: [asdict(r) for r in result] for name, result in rows.items()}}


def printed_report(pages: list[tuple[str, bytes, str]]) -> dict[str, object] | None:
    """The pages printed to PDF and read three ways; None without Chromium."""
    import extraction_pdf  # imports this module: only once it is loaded

    binary = extraction_pdf.chromium()
    if binary is None:
        print("\nprinted pages skipped: Chromium not found (`make browser` installs it)",
              file=sys.stderr)
        return None
    reports = {}
    for name, scripts in extraction_pdf.SCRIPTS.items():
        report = extraction_pdf.run(binary, pages, scripts=scripts)
        print(f"\n{report['chromium']}, scripts {name}: {len(pages)} pages printed to PDF"
              f" (print header and footer on {report['with_print_header']} of them), then read as")
        print(extraction_pdf.table(report))
        reports[name] = report
    # The headline (scripts off) where the report always kept it; scripts on beside it.
    return {**reports["off"], "scripts_on": reports["on"]}


if __name__ == "__main__":
    sys.exit(main())
