import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from korea_qa.cli import main
from korea_qa.settings import Settings


def _env(settings: Settings) -> dict[str, str]:
    return {**os.environ, "KOREA_QA_MODEL": "hash:64",
            "KOREA_QA_CORPUS_DIR": str(settings.corpus_dir),
            "KOREA_QA_INDEX_DIR": str(settings.index_dir)}


def test_build_then_if_stale_skips(settings: Settings, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["--model", "hash:64", "--corpus-dir", str(settings.corpus_dir),
            "--index-dir", str(settings.index_dir)]
    assert main([*args, "build", "--quiet"]) == 0
    assert "2 articles" in capsys.readouterr().out
    assert main([*args, "build", "--if-stale"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_ask_prints_citations_and_marks_the_answer(built: Settings, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["--model", "hash:64", "--corpus-dir", str(built.corpus_dir),
            "--index-dir", str(built.index_dir)]
    assert main([*args, "ask", "Khusnullin construction industry", "-k", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Q: Khusnullin construction industry")
    assert "[1] " in out and "[2] " in out and "[3] " not in out
    assert "paragraph" in out and "»" in out and "«" in out
    assert main([*args, "ask", "Khusnullin construction industry", "--json", "--mode",
                 "lexical"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert set(body) == {"query", "answerable", "confidence", "missing_terms", "took_ms",
                         "results"}
    # Lexical mode returns only passages that share a term with the question.
    assert 1 <= len(body["results"]) <= 5
    assert all(r["score"] > 0 for r in body["results"])


@pytest.mark.slow
def test_errors_are_one_line_without_traceback(settings: Settings, tmp_path: Path) -> None:
    env = {**_env(settings), "KOREA_QA_INDEX_DIR": str(tmp_path / "empty")}
    run = subprocess.run([sys.executable, "-m", "korea_qa.cli", "ask", "anything"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "no index" in run.stderr and "korea-qa build" in run.stderr
    (settings.corpus_dir / "broken.md").write_text("no header\n")
    run = subprocess.run([sys.executable, "-m", "korea_qa.cli", "build", "--quiet"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip().endswith("broken.md: missing header: the file must start with "
                                       "a line '---'")
    assert "Traceback" not in run.stderr


def test_empty_question_is_refused(built: Settings, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["--model", "hash:64", "--index-dir", str(built.index_dir)]
    assert main([*args, "ask", "   "]) == 2
    assert "empty" in capsys.readouterr().err


def test_a_bad_setting_is_named_as_it_was_set(monkeypatch: pytest.MonkeyPatch,
                                              capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("KOREA_QA_PORT", "abc")
    monkeypatch.setenv("KOREA_QA_DENSE_WEIGHT", "2")
    monkeypatch.setenv("KOREA_QA_TORCH_THREADS", "0")  # the old name of `threads`
    assert main(["documents"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = sorted(err.strip().splitlines())
    assert lines == [
        "korea-qa: error: KOREA_QA_DENSE_WEIGHT='2': Input should be less than or equal to 1",
        "korea-qa: error: KOREA_QA_PORT='abc': Input should be a valid integer, unable to "
        "parse string as an integer",
        "korea-qa: error: KOREA_QA_THREADS='0': Input should be greater than or equal to 1; "
        "or Input should be 'auto'",
    ]
