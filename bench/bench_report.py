"""The table `make bench` prints (and the README shows), from its JSON report."""

from __future__ import annotations

from typing import Any

TARGET_HTTP_P50_MS = 10.0
TARGET_HTTP_RATIO = 1.25
TARGET_RPS_16 = 150.0
TARGET_BUILD_SPEEDUP = 3.0
TARGET_NDCG_DROP = 0.005


def format_report(r: dict[str, Any]) -> str:
    lines = [f"korea-qa bench, {r['date']}, nproc {r['nproc']} ({r['cpu']}), "
             f"{r['questions']} gold questions; served backend: {r['served_backend']}", ""]
    lines += [*_latency(r), "", *_throughput(r), "", *_build(r)]
    return "\n".join(lines)


def _ok(good: bool) -> str:
    return "met" if good else "MISSED"


def _latency(r: dict[str, Any]) -> list[str]:
    http = r["http"]
    single = http["single_client"]
    lines = ["(1) in process, one question (Searcher.search, no cache, back to back)",
             f"    {'backend':<10}{'p50 ms':>9}{'p95 ms':>9}"]
    for backend, row in r["in_process"].items():
        lines.append(f"    {backend:<10}{row['p50_ms']:>9.2f}{row['p95_ms']:>9.2f}")
    # The ratio compares the in-process and HTTP runs made in alternating rounds.
    base = http.get("in_process") or r["in_process"].get(http["backend"], {})
    ratio = single["p50_ms"] / base["p50_ms"] if base else float("nan")
    lines += ["(2) HTTP, one client, query cache off "
              f"({http['backend']}): p50 {single['p50_ms']:.2f} ms, p95 {single['p95_ms']:.2f}, "
              f"p99 {single['p99_ms']:.2f}, errors {single['errors']}"]
    if "round_ratios" in http:
        lines.append(f"    in process, in rounds alternating with HTTP: p50 {base['p50_ms']:.2f} ms"
                     f"; ratio per round: {', '.join(f'{x:.2f}' for x in http['round_ratios'])}")
    lines.append(f"    ratio p50 HTTP / in process: {ratio:.2f}  "
                 f"[target <= {TARGET_HTTP_RATIO}: {_ok(ratio <= TARGET_HTTP_RATIO)}; "
                 f"p50 <= {TARGET_HTTP_P50_MS:.0f} ms: "
                 f"{_ok(single['p50_ms'] <= TARGET_HTTP_P50_MS)}]")
    paused, probe = http.get("in_process_paused"), http.get("memory_probe")
    if paused and probe and base:
        lines += [
            "    where the HTTP time goes (diagnostics, not targets):",
            f"      in process with a {paused['pause_ms']:.0f} ms pause before each question: "
            f"p50 {paused['p50_ms']:.2f} ms (+{paused['p50_ms'] - base['p50_ms']:.2f} "
            "for the pause alone)",
            f"      host: reading {probe['mib']} MiB takes {probe['back_to_back_ms']:.2f} ms "
            f"back to back, {probe['paused_ms']:.2f} ms after a {probe['pause_ms']:.0f} ms "
            "pause",
        ]
        cached = http.get("cache_on", {}).get("1")  # only when one client was measured
        if cached:
            lines.append("      HTTP with every question cached (no model call): "
                         f"p50 {cached['p50_ms']:.2f} ms")
        lines.append(f"      HTTP / paused in process: {single['p50_ms'] / paused['p50_ms']:.2f}")
    return lines


def _throughput(r: dict[str, Any]) -> list[str]:
    http = r["http"]
    lines = ["(3) throughput over HTTP (GET /api/search, gold questions, keep-alive clients)",
             f"    {'cache':<6}{'clients':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
             f"{'errors':>8}"]
    for label, key in (("off", "cache_off"), ("on", "cache_on")):
        for clients, row in http[key].items():
            lines.append(f"    {label:<6}{clients:>8}{row['requests_per_s']:>9.1f}"
                         f"{row.get('p50_ms', float('nan')):>9.2f}"
                         f"{row.get('p99_ms', float('nan')):>9.2f}{row['errors']:>8}")
    off16 = http["cache_off"].get("16")
    if off16:
        good = off16["requests_per_s"] >= TARGET_RPS_16 and off16["errors"] == 0
        lines.append(f"    16 clients, cache off: [target >= {TARGET_RPS_16:.0f} req/s, "
                     f"0 errors: {_ok(good)}]")
    lines.append(f"(5) server RSS: {http['rss_start_mib']:.0f} MiB after start-up, "
                 f"{http['rss_after_load_mib']:.0f} MiB after the cache-off load")
    return lines


def _build(r: dict[str, Any]) -> list[str]:
    s = r["scifact"]
    quality = any("ndcg@10_dense" in row for row in s["backends"].values())
    lines = [f"(4) SciFact: {s['documents']} abstracts encoded (batch {s['batch_size']})"
             + (f"; test nDCG@10 over {s['queries']} queries" if quality else ""),
             f"    {'backend':<10}{'passages/s':>11}{'x torch':>8}"
             + (f"{'dense':>8}{'delta':>8}{'hybrid':>8}{'delta':>8}" if quality else "")
             + f"{'seed build s':>13}{'load s':>8}"]
    for backend, row in s["backends"].items():
        line = (f"    {backend:<10}{row['passages_per_s']:>11.1f}"
                f"{row.get('speedup_vs_torch', float('nan')):>8.2f}")
        if quality:
            line += (f"{row['ndcg@10_dense']:>8.4f}{row.get('delta_dense', 0):>+8.4f}"
                     f"{row['ndcg@10_hybrid']:>8.4f}{row.get('delta_hybrid', 0):>+8.4f}")
        seed = r["seed"].get(backend, {})
        line += f"{seed.get('build_s', float('nan')):>13.2f}{seed.get('model_load_s', 0):>8.2f}"
        lines.append(line)
    fast = [(b, row) for b, row in s["backends"].items() if b != "torch"
            and (not quality or (row.get("delta_dense", -1) >= -TARGET_NDCG_DROP
                                 and row.get("delta_hybrid", -1) >= -TARGET_NDCG_DROP))]
    if fast:
        best, row = max(fast, key=lambda item: item[1]["passages_per_s"])
        lines.append(f"    fastest within the quality bound: {best}, "
                     f"{row.get('speedup_vs_torch', float('nan')):.2f}x torch "
                     f"[target >= {TARGET_BUILD_SPEEDUP:.0f}x: "
                     f"{_ok(row.get('speedup_vs_torch', 0) >= TARGET_BUILD_SPEEDUP)}]")
    return lines
