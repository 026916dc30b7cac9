"""The worker process: results and errors cross intact; no file can stall or exhaust the
caller, and a worker that is killed or runs out of memory is replaced."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fpdf import FPDF

from korea_qa.errors import DamagedFile, ExtractionLimit, UnsupportedFormat
from korea_qa.ingest import ExtractLimits, extract
from korea_qa.ingest.dispatch import extract_here
from korea_qa.ingest.sandbox import Sandbox
from korea_qa.settings import Settings

LIMITS = ExtractLimits(timeout_s=60.0, memory_mb=1024, max_chars=100_000_000)
SENTENCE = "Gyeongbokgung palace stands in the north of Seoul. " * 20


def big_page(paragraphs: int) -> bytes:
    body = "".join(f"<p>{i}: {SENTENCE}</p>" for i in range(paragraphs))
    return f"<html><head><title>Big</title></head><body><article>{body}</article></body>".encode()


def two_page_pdf() -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    pdf.set_author("Kim")
    for line in ("First page text.", "Second page text."):
        pdf.add_page()
        pdf.cell(0, 6, line)
    return bytes(pdf.output())


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    box = Sandbox()
    yield box
    box.close()


def test_results_cross_the_process_boundary_intact(sandbox: Sandbox) -> None:
    for data, name in ((two_page_pdf(), "a.pdf"), (b"---\ntitle: T\ndoc_id: t\n---\nA[note]n"
                                                    b"[/note].\n", "a.md")):
        assert sandbox.run(data, name, LIMITS) == extract_here(data, name, LIMITS.max_chars)


def test_errors_cross_with_their_class_and_details(sandbox: Sandbox) -> None:
    with pytest.raises(UnsupportedFormat) as unsupported:
        sandbox.run(b"\x89PNG\r\n\x1a\n" + bytes(64), "a.html", LIMITS)
    assert unsupported.value.what == "a PNG image"
    with pytest.raises(ExtractionLimit) as limit:
        sandbox.run(b"One sentence of text.", None, ExtractLimits(max_chars=5))
    assert limit.value.limit == "characters"


def test_the_public_entry_point_uses_a_worker() -> None:
    got = extract(two_page_pdf(), filename="x.pdf", limits=LIMITS)
    assert (got.text, got.page_starts, got.author) == (
        "First page text.\n\nSecond page text.", (0, 18), "Kim")


def test_past_the_time_limit_the_worker_is_killed_and_replaced(sandbox: Sandbox) -> None:
    sandbox.start(LIMITS)
    first = sandbox.pid
    with pytest.raises(ExtractionLimit) as err:
        sandbox.run(big_page(2000), "big.html", ExtractLimits(timeout_s=0.05))
    assert err.value.limit == "time"
    assert "longer than 0.05 s (KOREA_QA_EXTRACT_TIMEOUT_S)" in str(err.value)
    assert sandbox.pid is None
    assert sandbox.run(b"Still working.", None, LIMITS).text == "Still working."
    assert sandbox.pid not in (None, first)


def test_past_the_memory_limit_says_so_and_the_next_file_is_read(sandbox: Sandbox) -> None:
    with pytest.raises(ExtractionLimit) as err:
        sandbox.run(big_page(10_000), "big.html", ExtractLimits(memory_mb=150))
    assert err.value.limit == "memory"
    assert "more than 150 MiB (KOREA_QA_EXTRACT_MEMORY_MB)" in str(err.value)
    assert sandbox.run(b"Next file.", None, LIMITS).text == "Next file."


def test_a_worker_killed_between_calls_is_replaced(sandbox: Sandbox) -> None:
    sandbox.start(LIMITS)
    pid = sandbox.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert sandbox.run(b"After the kill.", None, LIMITS).text == "After the kill."
    assert sandbox.pid != pid


def test_a_worker_killed_during_a_call_fails_that_call_only(sandbox: Sandbox) -> None:
    sandbox.start(LIMITS)
    pid = sandbox.pid
    assert pid is not None
    threading.Timer(0.3, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(DamagedFile, match=r"extractor stopped on this file \(signal SIGKILL\)"):
        sandbox.run(big_page(10_000), "big.html", LIMITS)
    assert sandbox.run(b"Fine again.", None, LIMITS).text == "Fine again."


def test_concurrent_callers_each_get_their_own_result(sandbox: Sandbox) -> None:
    texts = [f"Article number {i} is here." for i in range(12)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda t: sandbox.run(t.encode(), None, LIMITS).text, texts))
    assert got == texts


def test_limits_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOREA_QA_EXTRACT_TIMEOUT_S", "7.5")
    monkeypatch.setenv("KOREA_QA_EXTRACT_MEMORY_MB", "512")
    monkeypatch.setenv("KOREA_QA_MAX_EXTRACTED_CHARS", "20000")
    assert ExtractLimits.from_settings(Settings()) == ExtractLimits(7.5, 512, 20000)


def test_the_settings_defaults_are_the_limits_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TIMEOUT_S", "MEMORY_MB"):
        monkeypatch.delenv(f"KOREA_QA_EXTRACT_{name}", raising=False)
    monkeypatch.delenv("KOREA_QA_MAX_EXTRACTED_CHARS", raising=False)
    assert ExtractLimits.from_settings(Settings()) == ExtractLimits() == ExtractLimits(
        30.0, 1024, 1_000_000)
