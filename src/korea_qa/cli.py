"""The `korea-qa` command: build, serve, ask, eval. Library errors become CLI errors here."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from korea_qa.errors import KoreaQAError
from korea_qa.settings import MODES, Settings

EPILOG = """examples:
  korea-qa build
  korea-qa add saved-page.html report.pdf notes.md
  korea-qa add article.html --doc-id my-article --published 2023-09-14
  korea-qa documents
  korea-qa remove my-article
  korea-qa compact
  korea-qa serve --port 8000
  korea-qa ask "Which countries voted against the UN resolution?" -k 3
  korea-qa ask "Why did Russia write off North Korea's debt?" --json
  korea-qa eval
  korea-qa eval beir ../shared/benchmarks/scifact --split test
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    settings = _settings(args)
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Libraries' own chatter (FAISS names every CPU build it tries) is not ours to print.
    for name in ("faiss", "bm25s", "trafilatura", "httpx"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.root.level))
    try:
        result: int = args.func(args, settings)
        return result
    except KoreaQAError as exc:
        print(f"korea-qa: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="korea-qa", description="Retrieval QA over articles about Korea.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus-dir", type=Path, help="article folder (KOREA_QA_CORPUS_DIR)")
    parser.add_argument("--index-dir", type=Path, help="index folder (KOREA_QA_INDEX_DIR)")
    parser.add_argument("--model", help="sentence-transformers folder or hash:DIM (KOREA_QA_MODEL)")
    sub = parser.add_subparsers(dest="command", required=True)

    build = sub.add_parser(
        "build", help="bring the index in step with the corpus folder",
        description="Apply the corpus folder's changes to the index: embed new or changed "
        "articles, drop removed ones. A missing index, or one built with other settings or "
        "another model, is rebuilt in full.")
    build.add_argument("--if-stale", action="store_true",
                       help="say so and stop when the index is already up to date")
    build.add_argument("--full", action="store_true",
                       help="rebuild from the articles alone, beside the served index")
    build.add_argument("--quiet", action="store_true", help="no progress messages")
    build.set_defaults(func=cmd_build)

    serve = sub.add_parser("serve", help="serve the HTTP API and the search page")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)

    ask = sub.add_parser("ask", help="ask one question")
    ask.add_argument("question")
    ask.add_argument("-k", type=int, default=None, help="passages to show (default 5)")
    ask.add_argument("--mode", choices=MODES)
    ask.add_argument("--json", action="store_true", help="print the API's response shape")
    ask.add_argument("--doc-id", action="append", default=[], help="only this article "
                     "(repeatable)")
    ask.add_argument("--source", help="only articles of this source")
    ask.add_argument("--author", help="only articles by this author")
    ask.add_argument("--published-from", help="only articles published on or after (ISO date)")
    ask.add_argument("--published-to", help="only articles published on or before (ISO date)")
    ask.set_defaults(func=cmd_ask)

    from korea_qa.documents_cli import add_document_parsers
    from korea_qa.evaluate.cli import add_eval_parser

    add_document_parsers(sub)
    add_eval_parser(sub)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("corpus_dir", "index_dir", "model", "host", "port"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    from korea_qa.embed import load_embedder
    from korea_qa.library import Library

    library = Library(settings, load_embedder(settings))
    started = time.perf_counter()
    if args.full:
        library.rebuild(progress=not args.quiet)
    else:
        plan = library.plan()
        reason = plan.reason()
        if reason is None:
            print(f"index is up to date in {settings.index_dir}")
            return 0
        print(f"updating the index: {reason}")
        library.sync(plan, progress=not args.quiet)
    view = library.view()
    counts = view.info()["counts"]
    print(f"index {view.name} in {settings.index_dir}: {counts['articles']} articles, "
          f"{counts['passages']} passages ({time.perf_counter() - started:.1f} s)")
    view.close()
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from korea_qa.api import create_app

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level=settings.log_level, access_log=False)
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from korea_qa.api.schemas import SearchResponse
    from korea_qa.embed import load_embedder
    from korea_qa.library import Library
    from korea_qa.search import Searcher, check_question, make_filters

    question = check_question(args.question, settings.max_query_chars)
    filters = make_filters(doc_ids=args.doc_id, source=args.source, author=args.author,
                           published_from=args.published_from, published_to=args.published_to)
    embedder = load_embedder(settings)
    view = Library(settings, embedder).view()
    searcher = Searcher(view, lambda q: embedder.encode([q])[0], settings)
    result = searcher.search(question, k=args.k, mode=args.mode, filters=filters)
    response = SearchResponse.from_result(result, view)
    if args.json:
        print(json.dumps(response.model_dump(), indent=2, ensure_ascii=False))
    else:
        print(render_text(response))
    return 0


def render_text(response: Any) -> str:
    """Readable passages with citations; the answer sentence is marked with » «."""
    lines = [f"Q: {response.query}"]
    if not response.answerable:
        lines.append("Nothing in these articles seems to answer this — closest passages:")
    for r in response.results:
        c = r.citation
        by = f", {c.author}" if c.author else ""
        date = f", {c.published}" if c.published else ""
        marked = (r.text[: r.answer.start] + "»" + r.answer.text + "«" + r.text[r.answer.end:])
        lines.append("")
        page = f"page {c.page}, " if c.page else ""
        lines.append(f"[{r.rank}] {c.title}{by}{date} — {page}paragraph {c.paragraph}, "
                     f"chars {c.start}–{c.end} of {c.doc_id} (score {r.score:.3f})")
        lines.extend(textwrap.wrap(marked, width=100, initial_indent="    ",
                                   subsequent_indent="    "))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
