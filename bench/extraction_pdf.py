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
and is the same on every run.

Each page is printed twice, through chromedriver and the DevTools protocol (`Page.printToPDF`
with the print header and footer, the same defaults as `--print-to-pdf`):

- **scripts off** (the headline rows): the saved page as it was saved, the browser's own
  switch (`Emulation.setScriptExecutionDisabled`). A saved page already holds what its
  scripts drew when the reader saved it; run again offline, they cannot reach their sites,
  and two of the 30 (Reuters', Boston.com's) then blank the article or send the browser to
  a file that does not exist: a print of nothing the reader ever saw.
- **scripts on**: as a browser that runs them offline prints it (the rows this benchmark
  reported first; the PDF path's rules were looked for on these prints of the dev pages).
"""

from __future__ import annotations

import base64
import contextlib
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
# Chromium's own start-up chatter is switched off; the print header and footer stay on
# (displayHeaderFooter below).
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
CHROMEDRIVER = "/usr/bin/chromedriver"
SCRIPTS = {"off": False, "on": True}  # the two prints of each page; "off" is the headline
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


def print_page(binary: str, page: str, html: bytes, *, scripts: bool = False) -> Printed:
    """The saved page printed to PDF from a file, with a fresh profile, its scripts run or
    not."""
    from selenium import webdriver
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="korea-qa-print-") as folder:
        source = Path(folder, f"{page}.html")
        source.write_bytes(html)
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={folder}/profile"):
            options.add_argument(flag)
        start = time.perf_counter()
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            driver.set_page_load_timeout(PRINT_TIMEOUT_S)
            driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": not scripts})
            with contextlib.suppress(TimeoutException):  # printed as far as it loaded
                driver.get(source.as_uri())
            printed = driver.execute_cdp_cmd("Page.printToPDF", {"displayHeaderFooter": True})
        finally:
            driver.quit()
        seconds = time.perf_counter() - start
    pdf = base64.b64decode(printed["data"])
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


def run(binary: str, pages: list[tuple[str, bytes, str]], *, scripts: bool = False
        ) -> dict[str, object]:
    """Print every page, read it each way; summaries over all pages and over the pages
    whose print holds their article, and each page's figures."""
    rows: dict[str, list[PageResult]] = {way: [] for way in WAYS}
    prints: list[Printed] = []
    for page, html, body in pages:
        printed = print_page(binary, page, html, scripts=scripts)
        prints.append(printed)
        for way, row in read_printed(printed, html, body).items():
            rows[way].append(row)
    whole = {row.page for row in rows["raw pypdf"] if prf(row.tp, row.fp, row.fn)[1]
             >= PRINTED_RECALL}
    halves = split([page for page, _, _ in pages])
    return {
        "chromium": chromium_version(binary),
        "flags": list(CHROMIUM_FLAGS),
        "scripts": scripts,
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
