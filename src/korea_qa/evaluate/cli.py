"""`korea-qa eval` (the gold set) and `korea-qa eval beir` (BEIR benchmarks), imported by the
main CLI. Heavy imports wait until a command runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from korea_qa.evaluate.goldfile import SPLIT_CHOICES
from korea_qa.ranking import fusion
from korea_qa.settings import MODES

GOLD = Path("eval/gold.jsonl")
RESULTS = Path("eval/results")
EPILOG = """examples:
  korea-qa eval                                  # gold test part, all modes, real model
  korea-qa eval --split train                    # the part to tune on
  korea-qa eval --split all --mode hybrid -k 5
  korea-qa eval --url http://127.0.0.1:8000      # against a running server
  korea-qa eval --store local --store milvus     # both stores, side by side
  korea-qa eval beir ../shared/benchmarks/scifact --split test
  korea-qa eval fit                              # refit the answerability decision on train
  korea-qa eval squad ../shared/datasets/squad-dev   # SQuAD 2.0 test articles as a corpus
  korea-qa eval targets                          # issue 22's targets from the latest results
"""


def add_eval_parser(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "eval", help="evaluate retrieval quality on the gold set (or BEIR: eval beir)",
        description="Run every gold question through each search mode and report hit@k, "
                    "MRR, nDCG, answer accuracy, abstention and latency.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gold", type=Path, default=GOLD, help=f"gold set (default {GOLD})")
    parser.add_argument("--split", choices=SPLIT_CHOICES, default="test",
                        help="part of the gold set to ask: test (default; the figures to "
                             "report), train (the part to tune on) or all")
    parser.add_argument("--mode", action="append", choices=MODES, dest="modes",
                        help="mode to evaluate; repeat for several (default: all three)")
    parser.add_argument("-k", type=int, default=10, help="passages per question (default 10)")
    parser.add_argument("--store", action="append", choices=("local", "milvus"),
                        dest="stores", help="store to search in this process; repeat for "
                        "several, side by side (default: KOREA_QA_STORE). Milvus uses "
                        "KOREA_QA_MILVUS_URI, by default <index-dir>/milvus.db, and builds it "
                        "when missing or stale, as for the local index")
    parser.add_argument("--url", help="evaluate a running server (GET /api/search) instead "
                                      "of searching in this process")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds per request with --url (default 30)")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help=f"folder for the JSON and HTML reports (default {RESULTS})")
    parser.add_argument("--no-html", action="store_true", help="skip report.html")
    parser.add_argument("--no-build", action="store_true",
                        help="fail on a stale index instead of building it first")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(func=run_gold_command)
    eval_sub = parser.add_subparsers(dest="eval_command", metavar="{beir,fit,squad,targets}")
    _add_beir_parser(eval_sub)
    _add_squad_parser(eval_sub)
    _add_targets_parser(eval_sub)


def _add_beir_parser(eval_sub: Any) -> None:
    beir_parser = eval_sub.add_parser(
        "beir", help="evaluate on a BEIR dataset folder (corpus, queries, qrels)")
    add_beir_arguments(beir_parser)
    beir_parser.set_defaults(func=run_beir_command)
    _add_fit_parser(eval_sub)


def _add_fit_parser(eval_sub: Any) -> None:
    fit_parser = eval_sub.add_parser(
        "fit", help="fit the answerability decision on the gold set's train part",
        description="Fit the logistic answerability decision on the train part of the gold "
                    "set (never the test part) and write its coefficients and operating point.")
    fit_parser.add_argument("--gold", type=Path, default=GOLD, help=f"gold set (default {GOLD})")
    fit_parser.add_argument("--out", type=Path, default=None,
                            help="where to write the decision (default: the one the package "
                                 "ships for the setting's reader, "
                                 "korea_qa/reading/answerability.json or "
                                 "answerability-READER.json)")
    fit_parser.add_argument("--no-build", action="store_true",
                            help="fail on a stale index instead of building it first")
    fit_parser.add_argument("--news", type=Path, default=None,
                            help="also our news questions of the validation pages "
                                 "(eval/news_qa), over the pages of this folder "
                                 "(../shared/benchmarks/article-extraction), for the answer "
                                 "part")
    fit_parser.set_defaults(func=run_fit_command)


SQUAD_OUT = RESULTS / "squad-test.json"


def _add_squad_parser(eval_sub: Any) -> None:
    parser = eval_sub.add_parser(
        "squad", help="SQuAD 2.0 test articles as a corpus, and the reading task",
        description="Index every paragraph of the SQuAD 2.0 test articles (cached), ask "
                    "every test question through the search with the setting's reader, and "
                    "report hit@1, hit@k, span F1, abstention and calibration; a reader that "
                    "reads spans also does the reading task (gold paragraph given).")
    parser.add_argument("path", type=Path, help="folder with dev-v1.1.json.gz and "
                                                "dev-v2.0.json.gz (../shared/datasets/squad-dev)")
    parser.add_argument("-k", type=int, default=5, help="results per question (default 5)")
    parser.add_argument("--mode", choices=MODES, help="search mode (default: the setting)")
    parser.add_argument("--part", choices=("test", "validation"), default="test",
                        help="the articles (and news pages) asked: test (default; what the "
                             "targets read) or validation (to tune a setting on)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"JSON result (default {SQUAD_OUT}, or squad-validation.json "
                             "beside it for the validation part)")
    parser.add_argument("--news", type=Path, default=None,
                        help="also our own news questions (eval/news_qa), over the pages of "
                             "this folder (../shared/benchmarks/article-extraction)")
    parser.set_defaults(func=run_squad_command)


def _add_targets_parser(eval_sub: Any) -> None:
    parser = eval_sub.add_parser(
        "targets", help="issue 22's targets, judged from the latest results",
        description="Read the latest results (gold, SQuAD, SciFact, reader cost, bench) and "
                    "print every target of issue 22 with its figure and verdict; `make eval` "
                    "makes them all first.")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help=f"folder of the evaluation results (default {RESULTS})")
    parser.add_argument("--bench", type=Path, default=Path("bench/results"),
                        help="folder of the bench results (default bench/results)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 when a target fails (default: 0, the table says it)")
    parser.set_defaults(func=run_targets_command)


def run_squad_command(args: argparse.Namespace, settings: Any) -> int:
    from korea_qa.errors import KoreaQAError
    from korea_qa.evaluate import squad_command
    from korea_qa.reading.reader import reader_for
    from korea_qa.startup import open_model
    from korea_qa.util.files import atomic_write

    if args.k < 5:
        raise KoreaQAError(f"-k must be at least 5 (hit@5 is reported), got {args.k}")
    model = open_model(settings)
    reader = reader_for(model.settings)
    record = squad_command.evaluate(args.path, model.settings, model.embedder, reader,
                                    k=args.k, mode=args.mode or model.settings.default_mode,
                                    news=args.news, part=args.part)
    out = args.out or SQUAD_OUT.with_name(f"squad-{args.part}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, json.dumps(record, indent=2, ensure_ascii=False))
    print(squad_command.format_text(record))
    print(f"wrote {out}")
    return 0


def run_targets_command(args: argparse.Namespace, settings: Any) -> int:
    from korea_qa.evaluate.targets import run_targets

    return run_targets(args)


def run_fit_command(args: argparse.Namespace, settings: Any) -> int:
    from korea_qa.evaluate import fit
    from korea_qa.startup import open_model

    return fit.run_fit_command(args, open_model(settings))


# ~230 word pieces with the title: inside MiniLM's 256 (scientific English is ~1.6 a word).
WINDOW_WORDS = 128


def add_beir_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="folder in BEIR layout")
    parser.add_argument("--split", default="test",
                        help="qrels/<split>.tsv to evaluate (default test; tune on train)")
    parser.add_argument("--modes", default="dense,lexical,hybrid",
                        help="comma-separated modes (default: dense,lexical,hybrid)")
    parser.add_argument("--out", type=Path,
                        help="JSON result (default: eval/results/beir-<name>-<split>.json)")
    parser.add_argument("--window-words", type=int, default=WINDOW_WORDS,
                        help="also embed abstracts in windows of this many words, scoring a "
                             "document by its best window; 0 embeds each document once "
                             f"(default {WINDOW_WORDS})")
    parser.add_argument("--bm25-k1", type=float, help="BM25 k1 (default: the setting)")
    parser.add_argument("--bm25-b", type=float, help="BM25 b (default: the setting)")
    parser.add_argument("--fusion", choices=fusion.METHODS, help="override the setting")
    parser.add_argument("--rrf-k", type=int, help="override the setting")
    parser.add_argument("--dense-weight", type=float, help="override the setting")
    parser.add_argument("--candidates", type=int, help="override the setting")
    parser.add_argument("--sentence-weight", type=float, help="override the setting")
    parser.add_argument("--lexical", choices=("local", "milvus"), default="local",
                        help="BM25 from korea-qa's index (default) or from Milvus (its "
                        "analyser and BM25 function; KOREA_QA_MILVUS_URI, by default a "
                        "milvus-lite folder in the cache)")
    parser.add_argument("--sweep", action="store_true",
                        help="also score hybrid over the fusion grid (tune on train only)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run_beir_command(args: argparse.Namespace, settings: Any) -> int:
    # Imported here: the BEIR harness pulls in bm25s, SciPy and FAISS, 0.3 s on every
    # `korea-qa` start (even --help) if imported with the parser.
    from korea_qa.evaluate.beir_command import run_beir
    from korea_qa.startup import resolve

    return run_beir(args, resolve(settings).settings)


def run_gold_command(args: argparse.Namespace, settings: Any) -> int:
    from korea_qa.errors import KoreaQAError
    from korea_qa.evaluate import gold, report

    if args.k < 1:
        raise KoreaQAError(f"-k must be at least 1, got {args.k}")
    modes = tuple(dict.fromkeys(args.modes or ("dense", "lexical", "hybrid")))
    every_item = gold.load_gold(args.gold)
    items = gold.select_split(every_item, args.split)
    if not items:
        raise KoreaQAError(f"{args.gold} has no items in the {args.split} part")
    stores = list(dict.fromkeys(args.stores or [settings.store]))
    if args.url and args.stores:
        raise KoreaQAError("--url evaluates a server, whatever store it runs on; drop --store")
    embedder = None
    if not args.url:  # the model, once for every store (a server runs its own)
        from korea_qa.startup import open_model

        model = open_model(settings)
        settings, embedder = model.settings, model.embedder
    records = {}
    for store in stores:
        here = settings.model_copy(update={"store": store})
        run, manifest = _gold_run(args, here, every_item, items, modes, embedder)
        records[store] = report.build_record(
            run, here, gold_path=args.gold, split=args.split,
            target=args.url or f"in-process, {store} store", index_manifest=manifest)
        # One store: the reports where they always were; several: a folder per store.
        out = args.out if len(stores) == 1 else args.out / store
        paths = report.write_reports(records[store], out, html_page=not args.no_html)
        if not args.json:
            if len(stores) > 1:
                print(f"== {store} store")
            print(report.render_summary(records[store]))
            print("\nwrote " + ", ".join(str(p) for p in paths) + "\n")
    _print_together(records, as_json=args.json)
    return 0


def _print_together(records: dict[str, Any], as_json: bool) -> None:
    """After every store's run: the summaries as JSON (one store's alone), or the stores side
    by side when there are several."""
    from korea_qa.evaluate import report

    if as_json:
        print(json.dumps({s: r["summary"] for s, r in records.items()} if len(records) > 1
                         else next(iter(records.values()))["summary"], indent=2))
    elif len(records) > 1:
        print("Side by side:\n")
        print(report.render_side_by_side(records))


def _gold_run(args: argparse.Namespace, settings: Any, every_item: Any, items: Any,
              modes: tuple[str, ...], embedder: Any) -> tuple[Any, dict[str, Any] | None]:
    from korea_qa.errors import KoreaQAError
    from korea_qa.evaluate import gold

    if args.url:
        import logging

        try:
            import httpx
        except ModuleNotFoundError:  # the `eval` extra; `make serve` installs the runtime only
            raise KoreaQAError("--url needs httpx: `make install` adds it") from None

        logging.getLogger("httpx").setLevel(logging.WARNING)  # not one log line per question
        with httpx.Client(base_url=args.url, timeout=args.timeout) as client:
            try:
                return gold.run_gold(items, gold.OverHttp(client), modes=modes, k=args.k), None
            except httpx.HTTPError as exc:
                raise KoreaQAError(f"cannot evaluate {args.url}: {exc}") from None
    searcher = gold.open_searcher(settings, build_if_stale=not args.no_build, embedder=embedder)
    gold.check_against_corpus(every_item, gold.indexed_articles(searcher.view), args.gold)
    manifest = searcher.view.info()
    return gold.run_gold(items, gold.InProcess(searcher), modes=modes, k=args.k), manifest
