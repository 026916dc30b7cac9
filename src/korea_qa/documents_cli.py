"""`korea-qa add`, `remove`, `documents` and `compact`: the corpus from the command line.

A change made here while a server runs on the same index is served within
`watch_interval_s` (0.5 s by default): the server notices the index's new generation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from korea_qa.article_file import STATED_FIELDS
from korea_qa.errors import KoreaQAError
from korea_qa.settings import Settings

if TYPE_CHECKING:
    from korea_qa.library.bulk import ItemResult, Source, Summary
    from korea_qa.library.lifecycle import Library

ADD_EPILOG = """examples:
  korea-qa add saved-page.html                 # metadata from the page itself
  korea-qa add reports/                        # every .html, .htm, .pdf, .md, .txt in it
  korea-qa add report.pdf --doc-id kdi-2024 --title "Economic outlook" --published 2024-05-02
"""
SUFFIXES = (".html", ".htm", ".pdf", ".md", ".markdown", ".txt")


def add_document_parsers(sub: Any) -> None:
    add = sub.add_parser("add", help="add or replace articles from files",
                         description="Extract each file (saved web page, PDF, Markdown or text; "
                         "judged by content), store it in the corpus with its original, and "
                         "index it. A file whose article is already stored unchanged is "
                         "skipped; changed content replaces the article.",
                         epilog=ADD_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add.add_argument("paths", nargs="+", type=Path, help="files or folders")
    for name in STATED_FIELDS:
        add.add_argument(f"--{name.replace('_', '-')}",
                         help=f"set the {name} (overrides what the file says)")
    add.add_argument("--json", action="store_true", help="one JSON line per file (the summary "
                     "goes to stderr)")
    add.add_argument("-v", "--verbose", action="store_true",
                     help="one line per file (given one file, that line is always printed)")
    add.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="a progress bar on stderr (default: when stderr is a terminal)")
    add.add_argument("--ray", metavar="ADDRESS", help="extract and embed as a Ray Data job on "
                     "this cluster (auto, or host:port; the scale extra); writes stay here")
    add.add_argument("--actors", type=int, default=2, help="embedding actors with --ray "
                     "(default 2, one CPU each)")
    add.set_defaults(func=cmd_add)

    remove = sub.add_parser("remove", help="remove articles by doc_id")
    remove.add_argument("doc_ids", nargs="+")
    remove.set_defaults(func=cmd_remove)

    compact = sub.add_parser("compact", help="merge the index's segments now",
                             description="Run the merges that adds leave to be run apart (big "
                             "segments: minutes at a million passages). Searches and writes go "
                             "on meanwhile; `korea-qa serve` runs these in the background.")
    compact.set_defaults(func=cmd_compact)

    documents = sub.add_parser("documents", help="list the stored articles")
    documents.add_argument("--limit", type=int, default=1000, help="at most this many")
    documents.add_argument("--after", help="start after this doc_id")
    documents.add_argument("--json", action="store_true", help="JSON lines")
    documents.set_defaults(func=cmd_documents)


def _files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*")
                                if p.is_file() and p.suffix.lower() in SUFFIXES))
        elif path.is_file():
            files.append(path)
        else:
            raise KoreaQAError(f"{path}: no such file or folder")
    return files


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    from korea_qa.library.bulk import Source
    from korea_qa.library.lifecycle import Library
    from korea_qa.library.metadata import Overrides
    from korea_qa.startup import load, resolve

    files = _files(args.paths)
    resolution = resolve(settings)  # which backend runs here: a start-up step
    settings = resolution.settings
    overrides = Overrides(**{name: getattr(args, name) for name in STATED_FIELDS})
    if overrides.doc_id and len(files) > 1:
        raise KoreaQAError("--doc-id names one article; give one file with it")
    if args.ray:
        return _add_with_ray(args, files, settings, overrides)
    library = Library(settings, load(resolution).embedder)
    sources = [Source(str(p), p.read_bytes, p.name, overrides) for p in files]
    return _add_in_batches(args, library, sources)


def _add_in_batches(args: argparse.Namespace, library: Library, sources: list[Source]) -> int:
    """Add with a progress bar, then a summary; 2 when any file failed, 130 on Ctrl-C."""
    from tqdm import tqdm

    from korea_qa.library.bulk import Summary, add_sources, reason

    show = args.progress if args.progress is not None else sys.stderr.isatty()
    every = args.verbose or args.json or len(sources) == 1
    started = time.perf_counter()
    summary = Summary()
    with tqdm(total=len(sources), unit="article", desc="adding", disable=not show,
              file=sys.stderr, dynamic_ncols=True) as bar:

        def heard(item: ItemResult) -> None:
            summary.count(item)
            if item.status == "failed":
                bar.write(f"korea-qa: error: {item.name}: {reason(item.error)}",
                          file=sys.stderr)
            if every:
                bar.write(_added_line(args, item), file=sys.stdout)
            bar.update(1)

        try:
            add_sources(library, sources, on_result=heard)
        except KeyboardInterrupt:
            bar.close()
            _print_summary(args, summary, len(sources), time.perf_counter() - started)
            print("korea-qa: interrupted; the batches committed so far are stored, and the "
                  "same command again skips them", file=sys.stderr)
            return 130
    _print_summary(args, summary, len(sources), time.perf_counter() - started)
    return 2 if summary.failed else 0


def _print_summary(args: argparse.Namespace, summary: Summary, total: int,
                   seconds: float) -> None:
    from korea_qa.library.bulk import reason

    done = summary.total
    rate = done / seconds if seconds > 0 else 0.0
    line = (f"{done} of {total} files in {seconds:.1f} s ({rate:.1f} articles/s): "
            f"{summary.created} created, {summary.updated} updated, {summary.unchanged} "
            f"unchanged, {summary.failed} failed")
    out = sys.stderr if args.json else sys.stdout
    print(line, file=out)
    for failure in summary.failures:
        print(f"  failed: {failure.name}: {reason(failure.error)}", file=out)


def _added_line(args: argparse.Namespace, item: ItemResult) -> str:
    from korea_qa.library.bulk import reason

    if item.status == "failed":
        if args.json:
            return json.dumps({"file": item.name, "status": "failed",
                               "error": reason(item.error)}, ensure_ascii=False)
        return f"{'failed':9} {item.name}: {reason(item.error)}"
    return _added(args, item.name, item)


def _add_with_ray(args: argparse.Namespace, files: list[Path], settings: Settings,
                  overrides: Any) -> int:
    from korea_qa.scale.ingest import add_with_ray

    failed = 0
    for item, result in add_with_ray(args.ray, files, settings, overrides=overrides,
                                     actors=args.actors):
        if result is None:
            failed += 1
            print(f"korea-qa: error: {item.name}: {item.error}", file=sys.stderr)
            continue
        _print_added(args, item.name, result, node=item.node)
    return 2 if failed else 0


def _print_added(args: argparse.Namespace, path: str, result: Any, node: str = "") -> None:
    print(_added(args, path, result, node))


def _added(args: argparse.Namespace, path: str, result: Any, node: str = "") -> str:
    a = result.article
    where = f" [node {node[:8]}]" if node else ""
    if args.json:
        return json.dumps({"file": path, "status": result.status, **a.metadata(),
                           "format": a.format, "passages": result.passages,
                           **({"node": node} if node else {})}, ensure_ascii=False)
    return (f"{result.status:9} {a.doc_id}  ({a.format}, {result.passages} passages) "
            f"{a.title}{where}")


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    from korea_qa.library.lifecycle import Library

    library = Library(settings)  # removing needs no model
    for doc_id in args.doc_ids:
        library.remove(doc_id)
        print(f"removed {doc_id}")
    return 0


def cmd_compact(args: argparse.Namespace, settings: Settings) -> int:
    from korea_qa.library.lifecycle import Library

    library = Library(settings)  # merging needs no model
    merges = library.compact()
    counts = library.view().info()["counts"]
    print(f"{merges} merges; {counts['segments']} segments, {counts['passages']} passages")
    return 0


def cmd_documents(args: argparse.Namespace, settings: Settings) -> int:
    from korea_qa.library.lifecycle import Library

    view = Library(settings).view()  # listing needs no model
    rows = view.articles(limit=args.limit, after=args.after)
    if args.json:
        for row in rows:
            print(json.dumps({k: row[k] for k in ("doc_id", "title", "published", "source",
                                                  "author", "format", "passages")},
                             ensure_ascii=False))
        return 0
    print(f"{'id':<32} {'date':<10} {'source':<24} {'passages':>8}  title")
    for row in rows:
        print(f"{row['doc_id'][:32]:<32} {row['published'] or '-':<10} "
              f"{(row['source'] or '-')[:24]:<24} {row['passages']:>8}  {row['title'][:60]}")
    print(f"{len(rows)} of {view.count_articles()} articles")
    return 0
