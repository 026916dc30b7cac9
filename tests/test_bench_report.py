"""The bench table: targets judged from the figures, and no placeholder numbers."""

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from bench_report import format_report


def _report(http_p50: float, local_p50: float, rps16: float, cache_on_levels: tuple[str, ...],
            speedup: float) -> dict[str, Any]:
    row = {"requests_per_s": rps16, "p50_ms": 30.0, "p99_ms": 60.0, "errors": 0}
    return {
        "date": "2026-11-25T19:00:00+00:00", "nproc": 2, "cpu": "test cpu", "questions": 103,
        "served_backend": "openvino",
        "in_process": {"openvino": {"p50_ms": local_p50, "p95_ms": 5.0}},
        "http": {
            "backend": "openvino",
            "in_process": {"p50_ms": local_p50, "p95_ms": 5.0},
            "single_client": {"p50_ms": http_p50, "p95_ms": 7.0, "p99_ms": 9.0, "errors": 0},
            "round_ratios": [1.2, 1.3],
            "in_process_paused": {"p50_ms": local_p50 + 0.5, "p95_ms": 6.0, "pause_ms": 2.0},
            "memory_probe": {"mib": 16, "pause_ms": 2.0, "back_to_back_ms": 0.9,
                             "paused_ms": 1.1},
            "cache_off": {"16": row},
            "cache_on": {level: {**row, "p50_ms": 1.0} for level in cache_on_levels},
            "rss_start_mib": 300.0, "rss_after_load_mib": 340.0,
        },
        "seed": {"openvino": {"build_s": 0.8, "model_load_s": 0.3}},
        "scifact": {"documents": 200, "batch_size": 32, "queries": 300, "backends": {
            "openvino": {"passages_per_s": 100.0, "speedup_vs_torch": speedup}}},
    }


def _line(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(start))


def test_ratio_target_is_judged_against_the_alternating_in_process_run() -> None:
    missed = format_report(_report(5.4, 4.0, 400.0, ("1", "16"), 3.5))
    assert "1.35" in _line(missed, "ratio p50") and "1.25: MISSED" in missed
    met = format_report(_report(4.8, 4.0, 400.0, ("1", "16"), 3.5))
    assert "1.20" in _line(met, "ratio p50") and "1.25: met" in met


def test_throughput_and_build_targets() -> None:
    slow = format_report(_report(5.0, 4.5, 120.0, ("1",), 2.5))
    assert "150 req/s, 0 errors: MISSED" in slow
    assert "target >= 3x: MISSED" in slow
    fast = format_report(_report(5.0, 4.5, 400.0, ("1",), 3.5))
    assert "150 req/s, 0 errors: met" in fast and "target >= 3x: met" in fast


def test_a_level_not_measured_prints_no_placeholder() -> None:
    text = format_report(_report(5.0, 4.5, 400.0, ("16",), 3.5))
    assert "nan" not in text
    assert "every question cached" not in text
    assert "every question cached" in format_report(_report(5.0, 4.5, 400.0, ("1",), 3.5))
