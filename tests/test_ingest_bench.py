"""bench/extraction.py: its scores on hand-checked cases, and a quality floor on the real
saved pages of ../shared/benchmarks/article-extraction (skipped when that folder is absent)."""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from extraction import DATA, SETS, load_pages, main, overlap, prf, run_page, summarise  # noqa: E402

needs_pages = pytest.mark.skipif(
    not (DATA / "ground-truth.json").is_file(),
    reason=f"the saved pages are not here: {DATA} (../shared/benchmarks/article-extraction)",
)


def test_token_overlap_counts_repeats_as_multisets() -> None:
    assert overlap(["a", "a", "b", "c"], ["a", "b", "b", "d", "e"]) == (2, 2, 3)
    assert prf(2, 2, 3) == pytest.approx((0.5, 0.4, 4 / 9))
    assert prf(0, 0, 5) == (0.0, 0.0, 0.0)


def test_missing_benchmark_folder_says_so_and_fails(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", str(tmp_path)]) == 2
    assert "extraction benchmark not found" in capsys.readouterr().err


@needs_pages
def test_real_pages_quality_floor() -> None:
    rows = [run_page(page, html, body, SETS["precision"]) for page, html, body in load_pages(DATA)]
    summary = summarise(rows)
    assert summary["errors"] == 0
    # Measured 0.954 / 0.957 (eval/README.md); the floor catches a broken walk of the tree.
    assert summary["f1"] >= 0.93
    assert summary["shingle_f1"] >= 0.93
    assert summary["title_has_headline"] >= 25
    assert summary["date_exact"] >= 28


@needs_pages
def test_printed_pages_without_chromium_say_how_to_get_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    import extraction_pdf

    monkeypatch.setattr(extraction_pdf, "chromium", lambda: None)
    assert main(["--printed", "only", "--out", str(tmp_path / "out.json")]) == 2
    assert "Chromium not found (`make browser` installs it)" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


@needs_pages
@pytest.mark.browser
def test_a_saved_page_prints_its_article_with_scripts_off() -> None:
    """Reuters' saved page: run offline, its scripts blank the article (a print of the
    print header and footer only); with scripts off it prints what was saved."""
    import extraction_pdf

    binary = extraction_pdf.chromium()
    if binary is None:
        pytest.skip("Chromium not found (`make browser` installs it)")
    page = "57d46c9d751e3fd3"
    html, body = next((h, b) for p, h, b in load_pages(DATA) if p == page)
    opening = " ".join(body.split()[:8])  # the article's first words
    texts = {scripts: " ".join(unicodedata.normalize("NFKC", extraction_pdf.raw_text(
        extraction_pdf.print_page(binary, page, html, scripts=scripts).pdf)).split())
        for scripts in (True, False)}
    assert opening not in texts[True] and opening in texts[False]
    assert "file:///" in texts[False]  # the print header and footer stay on
