"""`make soak`: a real server under `ulimit -n 256` through thousands of mixed operations.

    .venv/bin/python bench/soak.py                       # 10,000 ops, fake embedder hash:384
    .venv/bin/python bench/soak.py --ops 1000 --every 100 --model ''   # all-MiniLM
    .venv/bin/python bench/soak.py --ops 250 --writes-only   # descriptors over plain adds

It copies the repository's corpus into a temporary folder, builds its index, starts
`korea-qa serve` there with the open-file limit lowered to `--nofile` (soft RLIMIT_NOFILE, set
in the child), adds `--articles` articles, then runs `--ops` operations, one at a time: new
articles (PUT), replacements (PUT of a stored id with new text), removals (DELETE) and
searches (merges happen as segments accumulate). Every `--every` operations it records the
server's open descriptors (by kind), threads, RSS and the searches' p50. It prints the table
and the CPU, judges the target (zero errors; descriptors, threads and RSS flat: the mean of the
last tenth of the run within 10% of the second tenth's), and writes JSON to bench/results/.
Exit status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe
from soak_server import KEY, ROOT, descriptors, prepare, serve, status

FLAT = 0.10  # the last tenth within 10% of the second tenth
WEIGHTS = {"search": 0.4, "new": 0.2, "replace": 0.2, "delete": 0.2}
SERIES = ("fds", "threads", "rss_mib")


@dataclass
class Soak:
    ops: int = 10_000
    every: int = 250
    articles: int = 200  # kept about this many (new and delete steer towards it)
    nofile: int | None = 256
    model: str = "hash:384"
    writes_only: bool = False
    seed: int = 23


@dataclass
class Tally:
    searches_ms: list[float] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[dict[str, Any]] = field(default_factory=list)


class Workload:
    """Articles of random corpus words, and the operations over them."""

    def __init__(self, client: httpx.Client, config: Soak) -> None:
        self.client = client
        self.config = config
        self.rng = random.Random(config.seed)
        text = " ".join(p.read_text() for p in sorted((ROOT / "corpus").glob("*.md")))
        self.words = re.findall(r"[A-Za-z][a-z]{2,}", text)
        self.live: list[str] = []
        self.made = 0

    def article(self) -> dict[str, str]:
        paragraphs = [" ".join(self._sentence() for _ in range(self.rng.randint(2, 5)))
                      for _ in range(self.rng.randint(2, 6))]
        return {"title": self._sentence().rstrip("."), "text": "\n\n".join(paragraphs)}

    def _sentence(self) -> str:
        words = self.rng.choices(self.words, k=self.rng.randint(8, 20))
        return " ".join(words).capitalize() + "."

    def choose(self) -> str:
        if self.config.writes_only:
            return "new"
        kind = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        target = self.config.articles
        if kind == "new" and len(self.live) >= 1.2 * target:
            return "delete"
        if kind in ("delete", "replace") and len(self.live) <= 0.8 * target:
            return "new"
        return kind

    def run(self, kind: str, tally: Tally, op: int) -> None:
        started = time.perf_counter()
        doc_id = self._pick(kind)
        try:
            response = self._send(kind, doc_id)
        except httpx.HTTPError as exc:
            tally.errors.append({"op": op, "kind": kind, "error": repr(exc)})
            return
        tally.counts[kind] += 1
        failed = response.status_code >= 300
        if failed:
            tally.errors.append({"op": op, "kind": kind, "status": response.status_code,
                                 "body": response.text[:300]})
        elif kind == "search":
            tally.searches_ms.append((time.perf_counter() - started) * 1000.0)
        if (kind == "new" and not failed) or (kind == "delete" and failed):
            self.live.append(doc_id)  # what the server holds, so no error is counted twice

    def _pick(self, kind: str) -> str:
        if kind == "search":
            return ""
        if kind == "delete":
            return self.live.pop(self.rng.randrange(len(self.live)))
        if kind == "replace":
            return self.rng.choice(self.live)
        self.made += 1
        return f"soak-{self.made}"

    def _send(self, kind: str, doc_id: str) -> httpx.Response:
        headers = {"X-API-Key": KEY}
        if kind == "search":
            question = " ".join(self.rng.choices(self.words, k=self.rng.randint(3, 7)))
            return self.client.get("/api/search", params={"q": question, "k": 5})
        if kind == "delete":
            return self.client.delete(f"/api/documents/{doc_id}", headers=headers)
        return self.client.put(f"/api/documents/{doc_id}", json=self.article(), headers=headers)


def sample(pid: int, op: int, tally: Tally, since: int, seconds: float) -> dict[str, Any]:
    kinds = descriptors(pid)
    window = tally.searches_ms[since:]
    return {"op": op, "fds": sum(kinds.values()), "fd_kinds": dict(kinds), **status(pid),
            "search_p50_ms": round(statistics.median(window), 2) if window else None,
            "errors": len(tally.errors), "seconds": round(seconds, 1),
            "load": round(os.getloadavg()[0], 2)}


def run(config: Soak, work: Path, report: Callable[[dict[str, Any]], None] = lambda _: None
        ) -> dict[str, Any]:
    """The soak; returns the samples, counts, errors and the verdict. `report` sees each
    sample as it is taken."""
    env = prepare(work, config.model)
    tally, samples = Tally(), []
    with serve(env, work / "server.log", nofile=config.nofile) as server, \
            httpx.Client(base_url=server.url, timeout=300.0) as client:
        load = Workload(client, config)
        first = {**sample(server.pid, 0, tally, 0, 0.0), "label": "fresh"}
        report(first)
        for op in range(config.articles if not config.writes_only else 0):
            load.run("new", tally, -op - 1)
        samples.append({**sample(server.pid, 0, tally, 0, 0.0), "label": "loaded"})
        report(samples[-1])
        started, since = time.perf_counter(), 0
        for op in range(1, config.ops + 1):
            load.run(load.choose(), tally, op)
            if op % config.every == 0 or op == config.ops:
                samples.append(sample(server.pid, op, tally, since,
                                      time.perf_counter() - started))
                report(samples[-1])
                since = len(tally.searches_ms)
        seconds = time.perf_counter() - started
    return {"config": asdict(config), "fresh": first, "samples": samples,
            "counts": dict(tally.counts), "errors": tally.errors, "seconds": round(seconds, 1),
            "search_p50_ms": round(statistics.median(tally.searches_ms), 2)
            if tally.searches_ms else None, "verdict": judge(samples, config.ops, tally.errors)}


def judge(samples: list[dict[str, Any]], ops: int, errors: list[Any]) -> dict[str, Any]:
    """Each series' second and last tenth (means), whether flat, and the whole verdict."""
    def tenth(lo: float, hi: float) -> list[dict[str, Any]]:
        return [s for s in samples if lo * ops < s["op"] <= hi * ops]

    second, last = tenth(0.1, 0.2), tenth(0.9, 1.0)
    series = {}
    for name in SERIES:
        a = statistics.fmean(s[name] for s in second) if second else float("nan")
        b = statistics.fmean(s[name] for s in last) if last else float("nan")
        series[name] = {"second_tenth": round(a, 1), "last_tenth": round(b, 1),
                        "flat": bool(abs(b - a) <= FLAT * a)}
    flat = all(v["flat"] for v in series.values())
    return {"series": series, "flat": flat, "errors": len(errors),
            "met": flat and not errors}


HEADER = (f"{'op':>6} {'fds':>4} {'cat':>3} {'wal':>3} {'seg':>3} {'thr':>3} "
          f"{'rss MiB':>7} {'anon':>6} {'file':>6} {'maps':>4} {'p50 ms':>6} {'errors':>6} "
          f"{'s':>6} {'load':>5}")


def row(s: dict[str, Any]) -> str:
    k = s["fd_kinds"]
    p50 = "-" if s["search_p50_ms"] is None else f"{s['search_p50_ms']:.1f}"
    return (f"{s.get('label', s['op']):>6} {s['fds']:>4} {k.get('catalog', 0):>3} "
            f"{k.get('catalog-wal', 0):>3} {k.get('segment files', 0):>3} "
            f"{int(s['threads']):>3} {s['rss_mib']:>7.1f} {s['rss_anon_mib']:>6.1f} "
            f"{s['rss_file_mib']:>6.1f} {s['mapped_segments']:>4} {p50:>6} {s['errors']:>6} "
            f"{s['seconds']:>6.0f} {s['load']:>5.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=Soak.ops)
    parser.add_argument("--every", type=int, default=Soak.every)
    parser.add_argument("--articles", type=int, default=Soak.articles)
    parser.add_argument("--nofile", type=int, default=Soak.nofile,
                        help="the server's open-file limit (0: leave it)")
    parser.add_argument("--model", default=Soak.model,
                        help="KOREA_QA_MODEL for the server ('': the bundled all-MiniLM)")
    parser.add_argument("--writes-only", action="store_true", help="only new articles")
    parser.add_argument("--out", type=Path, help="JSON (default bench/results/soak-<time>.json)")
    args = parser.parse_args()
    config = Soak(ops=args.ops, every=args.every, articles=args.articles,
                  nofile=args.nofile or None, model=args.model, writes_only=args.writes_only)
    machine = describe()
    print(f"CPU: {machine['cpu']} ({machine['cores']} cores), load {machine['load_average']}")
    print(HEADER)
    with tempfile.TemporaryDirectory(prefix="korea-qa-soak-") as tmp:
        result = run(config, Path(tmp), lambda s: print(row(s), flush=True))
    result.update(machine=machine, date=datetime.now(UTC).isoformat(timespec="seconds"))
    verdict = result["verdict"]
    for name, v in verdict["series"].items():
        print(f"{name}: second tenth {v['second_tenth']}, last tenth {v['last_tenth']}: "
              f"{'flat' if v['flat'] else 'NOT flat'}")
    print(f"operations {result['counts']}, {result['seconds']} s, search p50 "
          f"{result['search_p50_ms']} ms, errors {verdict['errors']}: "
          f"{'target met' if verdict['met'] else 'target MISSED'}")
    for error in result["errors"][:5]:
        print("  error:", error)
    out = args.out or ROOT / "bench" / "results" / \
        f"soak-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return 0 if verdict["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
