"""The table `make bench` prints, from its JSON report: the machine, the figures, and every
target of issue 16 judged met or missed."""

from __future__ import annotations

from typing import Any, NamedTuple

TARGET_ENCODE_SPEEDUP = 2.5
TARGET_BUILD_SPEEDUP = 2.0
TARGET_BUILD_SPEEDUP_INT8_HW = 3.0  # where the CPU has AMX or VNNI
TARGET_NDCG_DROP = 0.005
TARGET_BATCH_DIFF = 1e-5
TARGET_HTTP_RATIO = 1.3
TARGET_CACHE_OFF_SHARE = 0.5
TARGET_OVERLOAD_RATIO = 20.0
NAN = float("nan")


class Target(NamedTuple):
    name: str
    measured: str
    met: bool | None  # None: not measured in this run


def format_report(r: dict[str, Any]) -> str:
    lines = [*_machine(r), "", *_latency(r), "", *_throughput(r), "", *_overload(r), "",
             *_build(r), "", "targets (issue 16)"]
    for t in targets(r):
        verdict = "not measured" if t.met is None else "met" if t.met else "MISSED"
        lines.append(f"    [{verdict}] {t.name}: {t.measured}")
    return "\n".join(lines)


def _machine(r: dict[str, Any]) -> list[str]:
    info = r.get("cpu_info", {})
    choice = r.get("auto_choice") or {}
    lines = [f"korea-qa bench, {r['date']}; CPU: {r['cpu']} ({info.get('isa', '?')}; "
             f"{' '.join(info.get('flags', []))}), {info.get('cores', r['nproc'])} usable cores, "
             f"{r.get('threads', '?')} model threads",
             f"    load average at start {r.get('load_average_start')}, "
             f"at end {r.get('load_average_end')}",
             f"    backend auto chose: {choice.get('backend', '?')} "
             f"(measured {choice.get('measured_at', '?')}): {choice.get('reason', '')}",
             f"    served backend: {r['served_backend']}"]
    for t in choice.get("trials", []):
        lines.append(f"      {t['backend']:<14} question {t['question_ms']:>6.2f} ms, "
                     f"{t['passages_per_s']:>6.1f} passages/s, cosine mean "
                     f"{t['cosine_mean']:.4f} min {t['cosine_min']:.4f}, batch diff "
                     f"{t['batch_max_diff']:.2g}{'' if not t.get('error') else ', ' + t['error']}")
    return lines


def _latency(r: dict[str, Any]) -> list[str]:
    http = r["http"]
    single = http["single_client"]
    lines = ["(1) in process, one question, no cache, back to back",
             f"    {'backend':<14}{'search p50':>11}{'p95':>8}{'encode p50':>11}{'p95':>8}"]
    for backend, row in r["in_process"].items():
        enc = r.get("encode", {}).get(backend, {})
        lines.append(f"    {backend:<14}{row['p50_ms']:>11.2f}{row['p95_ms']:>8.2f}"
                     f"{enc.get('p50_ms', NAN):>11.2f}{enc.get('p95_ms', NAN):>8.2f}")
    base = http.get("in_process") or r["in_process"].get(http["backend"], {})
    lines += [f"(2) HTTP, one client, query cache off ({http['backend']}): p50 "
              f"{single['p50_ms']:.2f} ms, p95 {single['p95_ms']:.2f}, p99 {single['p99_ms']:.2f},"
              f" errors {single['errors']}"]
    if "round_ratios" in http:
        lines.append(f"    in process, in rounds alternating with HTTP: p50 {base['p50_ms']:.2f} ms"
                     f"; ratio per round: {', '.join(f'{x:.2f}' for x in http['round_ratios'])}")
    paused, probe = http.get("in_process_paused"), http.get("memory_probe")
    if paused and probe and base:
        lines.append(f"    diagnostics: in process after a {paused['pause_ms']:.0f} ms pause p50 "
                     f"{paused['p50_ms']:.2f} ms; 16 MiB read {probe['back_to_back_ms']:.2f} ms "
                     f"back to back, {probe['paused_ms']:.2f} ms after the pause")
    return lines


def _throughput(r: dict[str, Any]) -> list[str]:
    http = r["http"]
    lines = ["(3) throughput over HTTP (GET /api/search, gold questions, keep-alive clients)",
             f"    {'cache':<6}{'clients':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
             f"{'errors':>8}"]
    for label, key in (("off", "cache_off"), ("on", "cache_on")):
        for clients, row in http[key].items():
            lines.append(f"    {label:<6}{clients:>8}{row['requests_per_s']:>9.1f}"
                         f"{row.get('p50_ms', NAN):>9.2f}{row.get('p99_ms', NAN):>9.2f}"
                         f"{row['errors']:>8}")
    lines.append(f"    server RSS: {http['rss_start_mib']:.0f} MiB after start-up, "
                 f"{http['rss_after_load_mib']:.0f} MiB after the cache-off load")
    return lines


def _overload(r: dict[str, Any]) -> list[str]:
    o = r.get("overload")
    if not o:
        return []
    lines = [f"(4) overload: distinct questions ({o['questions']}), bound "
             f"{o['max_in_flight']} searches in flight, refused clients wait Retry-After",
             f"    {'clients':>8}{'answered/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'refused':>9}"
             f"{'errors':>8}"]
    for clients, row in o["levels"].items():
        lines.append(f"    {clients:>8}{row['requests_per_s']:>11.1f}"
                     f"{row['p50_ms'] or NAN:>9.2f}{row['p99_ms'] or NAN:>9.2f}"
                     f"{row['refused']:>9}{row['errors']:>8}")
    return lines


def _build(r: dict[str, Any]) -> list[str]:
    s = r["scifact"]
    quality = any("ndcg@10_dense" in row for row in s["backends"].values())
    lines = [f"(5) SciFact: speed on {s['documents']} abstracts (batch {s['batch_size']}, "
             f"{s['model_gflop']} GFLOP of model work)"
             + (f"; test nDCG@10 on all {s['all_documents']}, {s['queries']} queries"
                if quality else ""),
             f"    {'backend':<14}{'passages/s':>11}{'x torch':>8}{'GFLOP/s':>9}{'of peak':>8}"
             + (f"{'dense':>8}{'delta':>8}{'hybrid':>8}{'delta':>8}" if quality else "")
             + f"{'seed s':>8}"]
    for backend, row in s["backends"].items():
        line = (f"    {backend:<14}{row['passages_per_s']:>11.1f}"
                f"{row.get('speedup_vs_torch', NAN):>8.2f}{row['gflop_per_s']:>9.1f}"
                f"{row['of_peak']:>8.1%}")
        if quality:
            line += (f"{row['ndcg@10_dense']:>8.4f}{row.get('delta_dense', NAN):>+8.4f}"
                     f"{row['ndcg@10_hybrid']:>8.4f}{row.get('delta_hybrid', NAN):>+8.4f}"
                     if "ndcg@10_dense" in row else f"{'not measured':>32}")
        seed = r["seed"].get(backend, {}).get("build_s")
        line += f"{seed:>8.2f}" if seed is not None else f"{'-':>8}"
        lines.append(line)
    peaks = {row["precision"]: row["peak_how"] for row in s["backends"].values()}
    lines += [f"    peak {p}: {how}" for p, how in sorted(peaks.items())]
    return lines


def targets(r: dict[str, Any]) -> list[Target]:
    chosen = r["served_backend"]
    out = [_encode_target(r, chosen), _build_target(r, chosen), _quality_target(r, chosen)]
    diff = r.get("batch_independence", {}).get("max_abs_diff", NAN)
    out.append(Target("vectors independent of batch mates", f"{chosen}: max |alone - batched| "
                      f"{diff:.2g} over the gold questions in batches of 7 and 32",
                      diff <= TARGET_BATCH_DIFF))
    http = r["http"]
    local = (http.get("in_process") or {}).get("p50_ms", NAN)
    ratio = http["single_client"]["p50_ms"] / local
    out.append(Target(f"HTTP p50 <= {TARGET_HTTP_RATIO}x in process",
                      f"{http['single_client']['p50_ms']:.2f} / {local:.2f} ms = {ratio:.2f}x",
                      ratio <= TARGET_HTTP_RATIO))
    off, on = http["cache_off"].get("16"), http["cache_on"].get("16")
    if off and on:
        share = off["requests_per_s"] / on["requests_per_s"]
        out.append(Target("16 clients: cache off >= half of cache on, 0 errors",
                          f"{off['requests_per_s']:.0f} vs {on['requests_per_s']:.0f} req/s "
                          f"({share:.0%}), {off['errors'] + on['errors']} errors",
                          share >= TARGET_CACHE_OFF_SHARE and off["errors"] + on["errors"] == 0))
    if r.get("overload"):
        o = r["overload"]
        out.append(Target(f"overload: p99 answered <= {TARGET_OVERLOAD_RATIO:.0f}x one-client "
                          "p50, refusals counted", o["verdict"].split(": ", 1)[-1], o["met"]))
    return out


def _encode_target(r: dict[str, Any], chosen: str) -> Target:
    enc = r.get("encode", {})
    torch, mine = enc.get("torch", {}).get("p50_ms", NAN), enc.get(chosen, {}).get("p50_ms", NAN)
    speedup = torch / mine
    return Target(f"query encoding >= {TARGET_ENCODE_SPEEDUP}x PyTorch",
                  f"{chosen} {mine:.2f} ms vs torch {torch:.2f} ms = {speedup:.2f}x",
                  speedup >= TARGET_ENCODE_SPEEDUP)


def _build_target(r: dict[str, Any], chosen: str) -> Target:
    isa = r.get("cpu_info", {}).get("isa", "")
    goal = TARGET_BUILD_SPEEDUP_INT8_HW if isa in ("amx", "avx512_vnni", "avx2_vnni") \
        else TARGET_BUILD_SPEEDUP
    row = r["scifact"]["backends"].get(chosen, {})
    speedup = row.get("speedup_vs_torch", NAN)
    return Target(f"build >= {goal:.0f}x PyTorch ({isa})",
                  f"{chosen} {row.get('passages_per_s', NAN):.1f} passages/s = {speedup:.2f}x",
                  speedup >= goal)


def _quality_target(r: dict[str, Any], chosen: str) -> Target:
    row = r["scifact"]["backends"].get(chosen, {})
    dense, hybrid = row.get("delta_dense", NAN), row.get("delta_hybrid", NAN)
    if "delta_dense" not in row:
        return Target(f"SciFact nDCG@10 within {TARGET_NDCG_DROP} of PyTorch, dense and hybrid",
                      "run without --no-quality, with torch among --backends", None)
    return Target(f"SciFact nDCG@10 within {TARGET_NDCG_DROP} of PyTorch, dense and hybrid",
                  f"{chosen} dense {dense:+.4f}, hybrid {hybrid:+.4f}",
                  abs(dense) <= TARGET_NDCG_DROP and abs(hybrid) <= TARGET_NDCG_DROP)
