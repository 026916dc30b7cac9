"""The `korea-qa` command: build, serve, ask, eval. Library errors become CLI errors here."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from korea_qa.errors import KoreaQAError
from korea_qa.settings import MODES, Settings, setting_errors
from korea_qa.util.resources import exhausted

if TYPE_CHECKING:
    from korea_qa.startup import Model, Resolution

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
  korea-qa info
  korea-qa eval
  korea-qa eval beir ../shared/benchmarks/scifact --split test
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
    except ValidationError as exc:
        for line in setting_errors(exc):
            print(f"korea-qa: error: {line}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Libraries' own chatter (FAISS names every CPU build it tries) is not ours to print.
    for name in ("faiss", "bm25s", "trafilatura", "httpx"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.root.level))
    try:
        result: int = args.func(args, settings)
        return result
    except KoreaQAError as exc:
        print(f"korea-qa: error: {exhausted(exc) or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # out of descriptors, disk or memory: one line, not a traceback
        found = exhausted(exc)
        if found is None:
            raise
        print(f"korea-qa: error: {found}", file=sys.stderr)
        return 2


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

    _add_serve_parser(sub)
    _add_ask_parser(sub)

    info = sub.add_parser("info", help="this machine's CPU, threads and inference backend "
                          "(measures the backends first when backend=auto has no record)")
    info.add_argument("--json", action="store_true", help="machine-readable")
    info.set_defaults(func=cmd_info)

    from korea_qa.documents_cli import add_document_parsers
    from korea_qa.evaluate.cli import add_eval_parser

    add_document_parsers(sub)
    add_eval_parser(sub)
    return parser


def _add_serve_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve the HTTP API and the search page")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--build", action="store_true",
                       help="first bring the index in step with the corpus folder, in this "
                       "process (what `make serve` runs); on a first start with a small "
                       "corpus, backend auto is measured in the background meanwhile")
    serve.add_argument("--ray", metavar="ADDRESS", help="serve replicas with Ray Serve on "
                       "this Ray cluster (auto, or host:port; the scale extra)")
    serve.add_argument("--replicas", type=int, default=2, help="replicas with --ray "
                       "(default 2; use a shared store: KOREA_QA_STORE=milvus)")
    serve.set_defaults(func=cmd_serve)


def _add_ask_parser(sub: Any) -> None:
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


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("corpus_dir", "index_dir", "model", "host", "port"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings(**overrides)


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    from korea_qa.startup import resolve

    build_index(resolve(settings), full=args.full, quiet=args.quiet)
    return 0


def build_index(resolution: Resolution, *, full: bool = False,
                quiet: bool = False) -> Model | None:
    """Bring the index in step with the corpus (in full with `full`). The model is loaded
    only when something is to be embedded, and then returned; None: up to date."""
    from korea_qa.library.lifecycle import Library
    from korea_qa.startup import load
    from korea_qa.util.steps import step

    started, reason = time.perf_counter(), None
    if not full:
        planner = Library(resolution.settings)
        try:
            reason = planner.plan().reason()
        finally:
            planner.close()
        if reason is None:
            print(f"index is up to date in {resolution.settings.index_dir}")
            return None
        print(f"updating the index: {reason}")
    model = load(resolution)
    library = Library(model.settings, model.embedder)
    try:
        with step("rebuilding the index in full" if full else "updating the index"):
            if full:
                library.rebuild(progress=not quiet)
            else:
                library.sync(progress=not quiet)
        view = library.view()
        counts = view.info()["counts"]
        print(f"index {view.name} in {model.settings.index_dir}: {counts['articles']} "
              f"articles, {counts['passages']} passages ({time.perf_counter() - started:.1f} s)")
        view.close()
    finally:
        library.close()
    return model


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.ray:
        from korea_qa.scale.serve import run

        if args.replicas < 1:
            raise KoreaQAError(f"--replicas must be at least 1, got {args.replicas}")
        run(args.ray, settings, args.replicas)
        return 0
    import uvicorn

    from korea_qa.api import create_app
    from korea_qa.startup import load, resolve

    model = None
    if args.build:
        resolution = resolve(settings, provisional=True)
        model = build_index(resolution) or load(resolution)
    uvicorn.run(create_app(settings, model=model), host=settings.host, port=settings.port,
                log_level=settings.log_level, access_log=False)
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from korea_qa.api.schemas import SearchResponse
    from korea_qa.library.lifecycle import Library
    from korea_qa.present import render_text
    from korea_qa.query.question import check_question, make_filters
    from korea_qa.reading.reader import reader_for
    from korea_qa.search import Searcher
    from korea_qa.startup import open_model

    question = check_question(args.question, settings.max_query_chars)
    filters = make_filters(doc_ids=args.doc_id, source=args.source, author=args.author,
                           published_from=args.published_from, published_to=args.published_to)
    model = open_model(settings)
    embedder = model.embedder
    reader = reader_for(model.settings)
    view = Library(model.settings, embedder).view()
    searcher = Searcher(view, lambda q: embedder.encode([q])[0], model.settings, reader=reader)
    result = searcher.search(question, k=args.k, mode=args.mode, filters=filters)
    response = SearchResponse.from_result(result, view)
    if args.json:
        print(json.dumps(response.model_dump(), indent=2, ensure_ascii=False))
    else:
        print(render_text(response))
    return 0


def cmd_info(args: argparse.Namespace, settings: Settings) -> int:
    from korea_qa.models.backend_probe import resolve_backend
    from korea_qa.models.backends import read_record, record_path
    from korea_qa.models.cpu import ISA_FLAGS, cpu_info, resolve_threads

    cpu = cpu_info()
    explicit = settings.backend != "auto" or settings.model.startswith("hash:")
    choice = (read_record(record_path(settings)) if explicit and not
              settings.model.startswith("hash:") else None if explicit else
              resolve_backend(settings))
    threads = resolve_threads(settings.threads)
    in_use = choice.backend if choice and not explicit else settings.backend
    if args.json:
        print(json.dumps({"cpu": cpu.summary(),
                          "threads": {"setting": settings.threads, "used": threads},
                          "backend": {"setting": settings.backend, "in_use": in_use},
                          "auto_choice": json.loads(choice.to_json()) if choice else None},
                         indent=2))
        return 0
    flags = sorted(cpu.flags & set(ISA_FLAGS))
    print(f"CPU: {cpu.model} ({cpu.vendor}), {cpu.isa}; flags: {' '.join(flags)}")
    print(f"threads: {threads} (setting {settings.threads}; "
          f"{cpu.cores} cores usable by this process)")
    print(f"backend: {in_use} ({'set explicitly' if explicit else 'auto'})")
    if choice:
        print(f"auto choice: {choice.backend}, measured {choice.measured_at}: {choice.reason}")
        print(f"  {'backend':<15}{'question ms':>12}{'passages/s':>11}{'workload s':>11}"
              f"{'cos mean':>9}{'cos min':>9}{'batch diff':>11}  verdict")
        for t in choice.trials:
            print(f"  {t.backend:<15}{t.question_ms:>12.2f}{t.passages_per_s:>11.1f}"
                  f"{t.workload_s:>11.3f}{t.cosine_mean:>9.4f}{t.cosine_min:>9.4f}"
                  f"{t.batch_max_diff:>11.2g}  {t.problem or 'ok'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
