"""Developing the PDF path on the dev half of the printed pages only (`extraction_pdf.split`).

    .venv/bin/python bench/extraction_dev.py                  # every dev page
    .venv/bin/python bench/extraction_dev.py 16c30add7e96315e # one, with its extra tokens

Prints each dev page once with Chromium (scripts off) into a cache folder (`--cache`,
reused while the saved page and the Chromium version are the same), reads it with the PDF
path and prints per-page P / R and the mean; with page ids, the lines of the PDF path's text
that hold tokens the marked body lacks (its false positives), to look for what a rule should
drop.
A held-out page is refused: its figures come only from `make bench-extraction`.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import extraction_pdf
from extraction import DATA, load_pages, prf, tokens

from korea_qa.errors import ExtractionError
from korea_qa.ingest.pdf import extract_pdf


def cached_print(binary: str, cache: Path, page: str, html: bytes) -> bytes:
    version = extraction_pdf.chromium_version(binary)
    # Printed with scripts off, the benchmark's headline print (extraction_pdf's docstring).
    key = hashlib.sha256(html + version.encode() + b" scripts off").hexdigest()[:16]
    path = cache / f"{page}-{key}.pdf"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        path.write_bytes(extraction_pdf.print_page(binary, page, html).pdf)
    return path.read_bytes()


def extra_lines(text: str, body: str) -> list[str]:
    """The text's lines holding tokens beyond the body's count, each with those tokens."""
    left = Counter(tokens(body))
    shown: list[str] = []
    for line in text.splitlines():
        extra = []
        for token in tokens(line):
            if left[token] > 0:
                left[token] -= 1
            else:
                extra.append(token)
        if extra:
            shown.append(f"  {len(extra):4d}/{len(tokens(line)):<4d} {line[:150]}")
            shown.append(f"        extra: {' '.join(extra)[:300]}")
    return shown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pages", nargs="*", help="dev page ids to show in detail")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/korea-qa-dev-prints"))
    args = parser.parse_args(argv)
    binary = extraction_pdf.chromium()
    if binary is None:
        print("Chromium not found (`make browser` installs it)", file=sys.stderr)
        return 2
    pages = load_pages(DATA)
    halves = extraction_pdf.split([page for page, _, _ in pages])
    if any(halves.get(page) != "dev" for page in args.pages):
        print("only dev pages can be shown", file=sys.stderr)
        return 2
    scores = []
    for page, html, body in pages:
        if halves[page] != "dev" or (args.pages and page not in args.pages):
            continue
        pdf = cached_print(binary, args.cache, page, html)
        try:
            text = extract_pdf(pdf, max_chars=extraction_pdf.MAX_CHARS).text
        except ExtractionError as exc:
            text = ""
            print(f"{page}: refused: {exc}")
        got, marked = Counter(tokens(text)), Counter(tokens(body))
        tp = sum((got & marked).values())
        p, r, _ = prf(tp, got.total() - tp, marked.total() - tp)
        scores.append((p, r))
        print(f"{page}  P {p:.3f}  R {r:.3f}")
        if args.pages:
            print("\n".join(extra_lines(text, body)))
    print(f"mean over {len(scores)} dev pages: P {statistics.mean(s[0] for s in scores):.3f}"
          f"  R {statistics.mean(s[1] for s in scores):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
