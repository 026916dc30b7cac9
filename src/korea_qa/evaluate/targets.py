"""`korea-qa eval targets`: every target of issue 22 with its figure and verdict, in one table,
from the latest result of each step of `make eval` (and of `make bench` for throughput).

Sources, in `--results` (eval/results): `latest.json` (the gold run, its test part, hybrid:
the service's default mode), `squad-test.json` (`korea-qa eval squad`),
`beir-scifact-test.json` (`korea-qa eval beir`); in `--bench` (bench/results):
`reader-cost.json` (bench/reader_cost.py) and the newest `bench-*.json` (`make bench`), or
else the newest `load-*.json` of each kind (`make load`, with and without
`LOAD_ARGS=--no-query-cache`) for the throughput target.
A missing source is "not measured", never a pass.

Verdicts: `pass`, `FAIL`, `n/a: ...` (the target needs what the reader does not do: spans),
`reported` (a figure the issue asks for without a bound), `not measured: ...`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

SCIFACT_BASELINE = 0.7444  # SciFact test hybrid nDCG@10 recorded before the reader (eval/README.md)
SCIFACT_DROP = 0.005
COST_RATIO = 3.0  # in-process p50 with the reader over today's (`sentence`)
CACHE_OFF_SHARE = 0.5  # 16 clients: query cache off over cache on
Source = dict[str, Any] | None


class Target(NamedTuple):
    name: str
    figure: str
    verdict: str
    source: str


# Figures are printed rounded: one that prints as its bound must not fail by float noise
# (100 × 0.05 is 5.000000000000001).
SLACK = 1e-9


def bound(value: float, goal: float, *, at_most: bool = False) -> str:
    met = value <= goal + SLACK if at_most else value >= goal - SLACK
    return "pass" if met else "FAIL"


def _missing(name: str, source: str, how: str, why: str = "") -> Target:
    return Target(name, "–", f"not measured: run `{how}`" + (f" ({why})" if why else ""),
                  source)


def reading_targets(squad: Source) -> list[Target]:
    """The standard reading task on the SQuAD 2.0 test articles (gold paragraph given)."""
    src, names = "squad-test.json", ("SQuAD test, gold paragraph: F1 >= 65",
                                     "SQuAD test, gold paragraph: NoAns accuracy >= 70%")
    if squad is None:
        return [_missing(n, src, "korea-qa eval squad ../shared/datasets/squad-dev")
                for n in names]
    reading = squad["reading"]
    if "na" in reading:
        return [Target(n, "–", f"n/a: {reading['na']}", src) for n in names]
    return [Target(names[0], f"{reading['f1']:.1f}", bound(reading["f1"], 65.0), src),
            Target(names[1], f"{reading['no_ans_accuracy']:.1f}%",
                   bound(reading["no_ans_accuracy"], 70.0), src)]


def corpus_targets(squad: Source) -> list[Target]:
    """SQuAD test articles as a corpus: figures without a bound."""
    name, src = "SQuAD test as a corpus", "squad-test.json"
    if squad is None:
        return [_missing(name, src, "korea-qa eval squad ../shared/datasets/squad-dev")]
    c = squad["corpus"]
    k = str(c["k"])
    return [Target(f"{name}: hit@1, hit@{k}", f"{c['hit_at']['1']:.1f}%, "
                   f"{c['hit_at'][k]:.1f}%", "reported", src),
            Target(f"{name}: span F1 of the first result", f"{c['span_f1']:.1f}"
                   + _sentence_note(squad["reader"]), "reported", src),
            Target(f"{name}: abstained, unanswerable vs answerable",
                   f"{c['abstained_unanswerable']:.1f}% vs {c['abstained_answerable']:.1f}%",
                   "reported", src)]


def news_targets(squad: Source) -> list[Target]:
    """Our own news questions' test pages (eval/news_qa): reported beside SQuAD's, no bound."""
    news = (squad or {}).get("news")
    src = "squad-test.json"
    if not news:
        return [_missing("news test (ours)", src, "korea-qa eval squad "
                         "../shared/datasets/squad-dev --news "
                         "../shared/benchmarks/article-extraction")]
    c, reading = news["corpus"], news["reading"]
    read = "–" if "na" in reading else (f"F1 {reading['f1']:.1f}, NoAns "
                                         f"{reading['no_ans_accuracy']:.1f}%")
    return [Target("news test (ours), gold passage: reading task", read, "reported", src),
            Target("news test (ours) as a corpus: hit@1, span F1, abstained unanswerable vs "
                   "answerable", f"{c['hit_at']['1']:.1f}%, {c['span_f1']:.1f}, "
                   f"{c['abstained_unanswerable']:.1f}% vs {c['abstained_answerable']:.1f}%",
                   "reported", src)]


def _sentence_note(reader: dict[str, Any]) -> str:
    return "" if reader.get("reads_spans") else " (answer sentences: no spans)"


def gold_targets(gold: Source) -> list[Target]:
    """The gold set's test part, hybrid mode."""
    src = "latest.json"
    rows: list[tuple[str, Callable[[dict[str, Any]], tuple[float, str]], float, bool]] = [
        ("gold test: on-topic unanswerable abstained >= 60%", _kind("on-topic"), 60.0, False),
        ("gold test: false abstention <= 5%", _kind("answerable"), 5.0, True),
        ("gold test: off-topic abstained >= 95%", _kind("off-topic"), 95.0, False),
        ("gold test: hybrid hit@1 >= 75%", _hit(1), 75.0, False),
        ("gold test: hybrid hit@5 >= 90%", _hit(5), 90.0, False),
    ]
    summary = _gold_hybrid(gold)
    if gold is None or summary is None:
        why = "" if gold is None else (f"latest.json is the {gold.get('split')} part"
                                       + ("" if gold.get("split") != "test" else ", no hybrid"))
        return [_missing(n, src, "korea-qa eval", why) for n, *_ in rows] + [
            _missing("gold test: first result's span holds the answer >= 70%", src,
                     "korea-qa eval", why)]
    out = []
    for name, figure, goal, at_most in rows:
        value, text = figure(summary)
        out.append(Target(name, text, bound(value, goal, at_most=at_most), src))
    return [*out, _span_target(gold)]


def _gold_hybrid(gold: Source) -> dict[str, Any] | None:
    if gold is None or gold.get("split") != "test":
        return None
    summary: dict[str, Any] | None = gold["summary"].get("hybrid")
    return summary


def _kind(name: str) -> Callable[[dict[str, Any]], tuple[float, str]]:
    def figure(summary: dict[str, Any]) -> tuple[float, str]:
        g = summary["abstention_by_kind"][name]
        rate = 100.0 * (g["rate"] or 0.0)
        return rate, f"{rate:.1f}% ({g['abstained']}/{g['questions']})"
    return figure


def _hit(n: int) -> Callable[[dict[str, Any]], tuple[float, str]]:
    def figure(summary: dict[str, Any]) -> tuple[float, str]:
        rate = 100.0 * summary["hit_at"][str(n)]
        return rate, f"{rate:.1f}% of {summary['answerable']}"
    return figure


def _span_target(gold: dict[str, Any]) -> Target:
    name, src = "gold test: first result's span holds the answer >= 70%", "latest.json"
    judged = [q["first_span_ok"] for q in gold["questions"]
              if q["mode"] == "hybrid" and q["answerable"] and "first_span_ok" in q]
    if not judged:
        return _missing(name, src, "korea-qa eval")
    rate = 100.0 * sum(map(bool, judged)) / len(judged)
    figure = f"{rate:.1f}% ({sum(map(bool, judged))}/{len(judged)})"
    f1s = [q["first_span_f1"] for q in gold["questions"]
           if q["mode"] == "hybrid" and q["answerable"] and q.get("first_span_f1") is not None]
    if f1s:  # reported beside it; runs before the figure was recorded lack it
        figure += f"; span F1 {sum(f1s) / len(f1s):.1f}"
    reader = gold.get("reader") or {}
    if not reader.get("reads_spans"):
        return Target(name, figure + " with answer sentences",
                      f"n/a: reader {reader.get('name') or '?'} reads no spans", src)
    return Target(name, figure, bound(rate, 70.0), src)


def calibration_targets(gold: Source, squad: Source) -> list[Target]:
    """Brier score and reliability table on both test parts: in the reports."""
    found = [("gold test (hybrid)", "latest.json", "korea-qa eval",
              ((gold or {}).get("calibration") or {}).get("hybrid"),
              _gold_hybrid(gold) is not None and "calibration" in (gold or {})),
             ("SQuAD test", "squad-test.json", "korea-qa eval squad ../shared/datasets/squad-dev",
              (squad or {}).get("corpus", {}).get("calibration"), squad is not None)]
    out = []
    for part, src, how, result, ran in found:
        name = f"calibration, {part}: Brier and reliability table"
        if not ran:
            out.append(_missing(name, src, how))
        elif result is None:
            out.append(Target(name, "no probability", "FAIL", src))
        else:
            out.append(Target(name, f"Brier {result['brier']:.4f} (base rate "
                                    f"{result['brier_base_rate']:.4f})", "reported", src))
    return out


def scifact_target(beir: Source) -> Target:
    name = (f"SciFact test hybrid nDCG@10 >= {SCIFACT_BASELINE} - {SCIFACT_DROP}")
    src = "beir-scifact-test.json"
    if beir is None or beir.get("split") != "test" or "hybrid" not in beir.get("modes", {}):
        return _missing(name, src, "korea-qa eval beir ../shared/benchmarks/scifact")
    value = beir["modes"]["hybrid"]["ndcg@10"]
    return Target(name, f"{value:.4f} ({value - SCIFACT_BASELINE:+.4f})",
                  bound(value, SCIFACT_BASELINE - SCIFACT_DROP), src)


def cost_targets(reader_cost: Source, bench: Source,
                 loads: Sequence[dict[str, Any]] = ()) -> list[Target]:
    """In-process p50 against today's reader; 16 clients with the query cache off and on."""
    name = f"cost: in-process p50 <= {COST_RATIO:.0f}x the sentence reader's"
    if reader_cost is None:
        out = [_missing(name, "reader-cost.json", "python bench/reader_cost.py")]
    else:
        r = reader_cost
        out = [Target(name, f"{r['reader']['name']} {r['reader']['p50_ms']:.2f} ms vs "
                            f"sentence {r['baseline']['p50_ms']:.2f} ms = {r['ratio']:.2f}x",
                      bound(r["ratio"], COST_RATIO, at_most=True), "reader-cost.json")]
    name = "cost: 16 clients, query cache off >= half of cache on, 0 errors"
    found = throughput(bench, loads)
    if found is None:
        return [*out, _missing(name, "bench-*.json", "make bench")]
    off, on, where, source = found
    share = off["requests_per_s"] / on["requests_per_s"]
    errors = off["errors"] + on["errors"]
    met = share >= CACHE_OFF_SHARE and errors == 0
    return [*out, Target(name, f"{off['requests_per_s']:.0f} vs {on['requests_per_s']:.0f} "
                               f"req/s ({share:.0%}), {errors} errors; {where}",
                         "pass" if met else "FAIL", source)]


def throughput(bench: Source, loads: Sequence[dict[str, Any]]
               ) -> tuple[dict[str, Any], dict[str, Any], str, str] | None:
    """16 clients, query cache off and on: from the newest `make bench`, or else from the
    newest `make load` of each kind (`LOAD_ARGS=--no-query-cache` for the cache off)."""
    http = (bench or {}).get("http") or {}
    off, on = (http.get("cache_off") or {}).get("16"), (http.get("cache_on") or {}).get("16")
    if bench is not None and off and on:
        return off, on, f"reader {bench.get('reader', '?')}, {bench['date'][:10]}", \
            Path(bench["_path"]).name
    off_run = next((r for r in loads if r.get("query_cache") is False
                    and "16" in r.get("levels", {})), None)
    on_run = None if off_run is None else next(
        (r for r in loads if r.get("query_cache") is True and "16" in r.get("levels", {})
         and r.get("reader") == off_run.get("reader")), None)  # the same reader both ways
    if off_run is None or on_run is None:
        return None
    return (off_run["levels"]["16"], on_run["levels"]["16"],
            f"make load {off_run['date'][:8]}, reader {off_run.get('reader') or '?'}",
            "load-*.json, newest of each")


def all_targets(sources: dict[str, Any]) -> list[Target]:
    gold, squad = sources.get("gold"), sources.get("squad")
    return [*reading_targets(squad), *corpus_targets(squad), *news_targets(squad),
            *gold_targets(gold),
            *calibration_targets(gold, squad), scifact_target(sources.get("scifact")),
            *cost_targets(sources.get("reader_cost"), sources.get("bench"),
                          sources.get("loads") or [])]


def format_table(targets: list[Target]) -> str:
    rows = [Target("target (issue 22)", "figure", "verdict", "from"), *targets]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def load_sources(results: Path, bench: Path) -> dict[str, Any]:
    def newest(pattern: str) -> list[Path]:
        return sorted(bench.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)

    benches = newest("bench-*.json")
    squad = _read(results / "squad-test.json")
    if squad is not None and squad.get("part", "test") != "test":
        squad = None  # another part written there by --out: not what the targets are about
    return {"gold": _read(results / "latest.json"), "squad": squad,
            "scifact": _read(results / "beir-scifact-test.json"),
            "reader_cost": _read(bench / "reader-cost.json"),
            "bench": _read(benches[0]) if benches else None,
            "loads": [_read(p) for p in newest("load-*.json")]}


def _read(path: Path) -> Source:
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    data["_path"] = str(path)
    return data


def run_targets(args: argparse.Namespace) -> int:
    from korea_qa.evaluate import calibration

    sources = load_sources(args.results, args.bench)
    gold, squad = _gold_hybrid(sources["gold"]), sources["squad"]
    if gold is not None:
        print(calibration.format_text("Calibration of the probability, gold test part, hybrid",
                                      (sources["gold"] or {}).get("calibration", {})
                                      .get("hybrid")) + "\n")
    if squad is not None:
        print(calibration.format_text("Calibration of the probability, SQuAD test questions",
                                      squad["corpus"]["calibration"]) + "\n")
    targets = all_targets(sources)
    print(format_table(targets))
    out = args.results / "targets.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([t._asdict() for t in targets], indent=2) + "\n")
    print(f"wrote {out}")
    return 1 if args.strict and any(t.verdict == "FAIL" for t in targets) else 0
