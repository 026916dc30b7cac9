"""Printed pages for `make bench-extraction`: each saved page printed to PDF by headless
Chromium at benchmark time, as a reader's "Save as PDF" makes it (print header and footer
on), then read three ways against the marked article body:

- **raw pypdf**: every page's `extract_text()`, joined; what the PDF holds;
- **PDF path, any PDF**: the same, with the Creator and Producer that name the browser
  taken out: only what repeats on every page (the print header and footer) is dropped;
- **PDF path**: `korea_qa.ingest.pdf.extract_pdf`, what `korea-qa add page.pdf` stores;
- **HTML path**: `extract_html` on the saved page itself (our default options).

The pages link their stylesheets and scripts on their live sites; Chromium is kept off the
network (every host name resolves to nothing), so a print depends on the saved file alone
and is the same on every run. Scripts run, as in a reader's browser.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import statistics
import subprocess
import tempfile
import time
import unicodedata
from dataclasses import asdict, dataclass
from io import BytesIO
from pathlib import Path

from extraction import PageResult, measure, prf, summarise
from pypdf import PdfReader, PdfWriter

from korea_qa.ingest.html import DEFAULT_OPTIONS, extract_html
from korea_qa.ingest.pdf import extract_pdf

# pypdf warns of each print's cross-reference table as it copies it; nothing to act on.
logging.getLogger("pypdf").setLevel(logging.ERROR)
PRINT_TIMEOUT_S = 120.0
MAX_CHARS = 10_000_000
# Chromium's own start-up chatter is switched off; nothing here turns the print header and
# footer off (that would be --no-pdf-header-footer).
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
WAYS = ("raw pypdf", "PDF path, any PDF", "PDF path", "HTML path")
# A page whose print holds less of the body than this (raw pypdf recall) did not print its
# article from the saved copy (scripts that blank it, or send the browser elsewhere).
PRINTED_RECALL = 0.5
# Pages for developing the PDF path and pages held out from it, fixed before any result of
# the split was looked at: the pages ordered by the SHA-256 of their id (the file name
# without `.html.gz`, as UTF-8), the first half "dev", the rest "held out". Rules of the PDF
# path are looked for on dev pages only; held-out figures are reported, never tuned on.
SPLITS = ("dev", "held out")


def split(pages: list[str]) -> dict[str, str]:
    """Each page id's half: "dev" or "held out"."""
    ordered = sorted(pages, key=lambda page: hashlib.sha256(page.encode()).hexdigest())
    return {page: SPLITS[i >= len(ordered) // 2] for i, page in enumerate(ordered)}


@dataclass(frozen=True, slots=True)
class Printed:
    page: str
    pdf: bytes
    pages: int
    seconds: float  # to print it


def chromium() -> str | None:
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)


def chromium_version(binary: str) -> str:
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60,
                          check=False)
    return done.stdout.strip()


def print_page(binary: str, page: str, html: bytes) -> Printed:
    """The saved page printed to PDF from a file, with a fresh profile."""
    with tempfile.TemporaryDirectory(prefix="korea-qa-print-") as folder:
        source, target = Path(folder, f"{page}.html"), Path(folder, f"{page}.pdf")
        source.write_bytes(html)
        start = time.perf_counter()
        subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={folder}/profile",
             f"--print-to-pdf={target}", source.as_uri()],
            capture_output=True, timeout=PRINT_TIMEOUT_S, check=True,
        )
        seconds = time.perf_counter() - start
        pdf = target.read_bytes()
    return Printed(page, pdf, len(PdfReader(BytesIO(pdf)).pages), seconds)


def raw_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)


def anonymous(pdf: bytes) -> bytes:
    """The same PDF without the Creator and Producer that say a browser printed it: read
    as any PDF is (running lines dropped; no article picked out of the page)."""
    writer = PdfWriter(clone_from=BytesIO(pdf))
    writer.add_metadata({"/Creator": "", "/Producer": ""})
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def read_printed(printed: Printed, html: bytes, body: str) -> dict[str, PageResult]:
    """The page's scores read each way."""

    def raw() -> tuple[str, str | None, str | None]:
        return raw_text(printed.pdf), None, None

    def ours() -> tuple[str, str | None, str | None]:
        got = extract_pdf(printed.pdf, max_chars=MAX_CHARS)
        return got.text, got.title, got.published

    plain = anonymous(printed.pdf)  # made before the clock starts

    def any_pdf() -> tuple[str, str | None, str | None]:
        got = extract_pdf(plain, max_chars=MAX_CHARS)
        return got.text, got.title, got.published

    def html_path() -> tuple[str, str | None, str | None]:
        got = extract_html(html, options=DEFAULT_OPTIONS)
        return got.text, got.title, got.published

    calls = {"raw pypdf": raw, "PDF path, any PDF": any_pdf, "PDF path": ours,
             "HTML path": html_path}
    return {way: measure(printed.page, body, call) for way, call in calls.items()}


def run(binary: str, pages: list[tuple[str, bytes, str]]) -> dict[str, object]:
    """Print every page, read it each way; summaries over all pages and over the pages
    whose print holds their article, and each page's figures."""
    rows: dict[str, list[PageResult]] = {way: [] for way in WAYS}
    prints: list[Printed] = []
    for page, html, body in pages:
        printed = print_page(binary, page, html)
        prints.append(printed)
        for way, row in read_printed(printed, html, body).items():
            rows[way].append(row)
    whole = {row.page for row in rows["raw pypdf"] if prf(row.tp, row.fp, row.fn)[1]
             >= PRINTED_RECALL}
    halves = split([page for page, _, _ in pages])
    return {
        "chromium": chromium_version(binary),
        "flags": list(CHROMIUM_FLAGS),
        "print_seconds_mean": statistics.mean(p.seconds for p in prints),
        "pdf_pages": {p.page: p.pages for p in prints},
        "with_print_header": sum(_has_print_footer(p.pdf) for p in prints),
        "summary": {way: summarise(result) for way, result in rows.items()},
        "printed_article": sorted(whole),
        "summary_printed_article": {
            way: summarise([r for r in result if r.page in whole])
            for way, result in rows.items()},
        "split": halves,
        **{f"summary_{half.replace(' ', '_')}": {
            way: summarise([r for r in result if halves[r.page] == half])
            for way, result in rows.items()} for half in SPLITS},
        "pages": {way: [asdict(r) for r in result] for way, result in rows.items()},
    }


def _has_print_footer(pdf: bytes) -> bool:
    """The print footer ("file:///…/page.html 1/3") is on the first page."""
    first = PdfReader(BytesIO(pdf)).pages[0].extract_text()
    return "file:///" in unicodedata.normalize("NFKC", first)


def table(report: dict[str, object]) -> str:
    lines = ["| read as | pages | P | R | F1 | micro P | micro R | micro F1 | title exact"
             " | title has headline | ms/page |", "|---" * 11 + "|"]
    for key, label in (("summary", "all"), ("summary_printed_article", "printed"),
                       ("summary_dev", "dev"), ("summary_held_out", "held out")):
        summaries = report[key]
        assert isinstance(summaries, dict)
        for way, s in summaries.items():
            n = s["pages"]
            lines.append(
                f"| {way} | {label} ({n}) | {s['precision']:.3f} | {s['recall']:.3f}"
                f" | {s['f1']:.3f} | {s['micro_precision']:.3f} | {s['micro_recall']:.3f}"
                f" | {s['micro_f1']:.3f} | {s['title_exact']}/{n} | {s['title_has_headline']}/{n}"
                f" | {s['ms_per_page_mean']:.0f} |")
    return "\n".join(lines)
