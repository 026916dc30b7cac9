"""`korea-qa add DIR` as a process: killed mid-run it keeps the batches it finished and a re-run
skips them; thousands of files go in under a small open-file limit."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import build_index, open_view
from korea_qa.models.embed import HashEmbedder
from korea_qa.settings import Settings
from procs import cli_env, korea_qa
from test_bulk import note
from test_write_safety import answers, copy_of

pytestmark = pytest.mark.slow


def folder_of(folder: Path, count: int) -> Path:
    folder.mkdir()
    for i in range(count):
        (folder / f"note-{i:05d}.txt").write_text(note(i))
    return folder


def add_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {**cli_env(settings, "warning"), "PYTHONUNBUFFERED": "1", **extra}


def new_articles(settings: Settings) -> int:
    view = open_view(settings)
    try:
        return sum(row["doc_id"].startswith("note-") for row in view.articles(limit=100_000))
    finally:
        view.close()


def test_kill_9_keeps_the_finished_batches_and_a_rerun_skips_them(
        built: Settings, tmp_path: Path) -> None:
    folder = folder_of(tmp_path / "in", 200)
    command = korea_qa("add", "--json", str(folder))
    proc = subprocess.Popen(command, env=add_env(built, KOREA_QA_ADD_BATCH_ARTICLES="5"),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    try:
        reported = [proc.stdout.readline() for _ in range(10)]  # two batches committed
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert all('"status": "created"' in line for line in reported)
    kept = new_articles(built)
    assert 10 <= kept < 200  # the kill landed mid-run, after the batches it reported

    rerun = subprocess.run([*command[:-2], str(folder)], env=add_env(built), text=True,
                           capture_output=True, timeout=600, check=False)
    assert rerun.returncode == 0, rerun.stderr
    counts = re.search(r"(\d+) created, 0 updated, (\d+) unchanged, 0 failed", rerun.stdout)
    assert counts is not None, rerun.stdout
    created, unchanged = int(counts[1]), int(counts[2])
    assert unchanged >= kept and created + unchanged == 200
    assert new_articles(built) == 200
    # And the index answers as a full rebuild of the same corpus does.
    grown = answers(built)
    fresh = copy_of(built, tmp_path / "fresh")
    build_index(fresh, HashEmbedder(64))
    assert answers(fresh) == grown


def test_ctrl_c_finishes_the_commit_under_way_and_says_what_was_stored(
        built: Settings, tmp_path: Path) -> None:
    from korea_qa.library.lifecycle import Library

    folder = folder_of(tmp_path / "in", 200)
    proc = subprocess.Popen(korea_qa("add", "--json", str(folder)), text=True,
                            env=add_env(built, KOREA_QA_ADD_BATCH_ARTICLES="5"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        reported = [proc.stdout.readline() for _ in range(10)]  # two batches committed
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert all('"status": "created"' in line for line in reported)
    assert "interrupted" in err
    counts = re.search(r"(\d+) of 200 files .*: (\d+) created", err)
    assert counts is not None, err
    kept = new_articles(built)
    assert kept == int(counts[2]) and 10 <= kept < 200  # the summary says what is stored
    assert Library(built).plan().reason() is None  # no corpus file ahead of the index


def _small_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


# One segment per batch, and a store whose segments hold no descriptors (docs/DESIGN.md,
# "Descriptors are bounded by design"): before both, this died with EMFILE (after 55 articles
# one commit each at a limit of 1,024; after about 4,096 batched at 256).
def test_five_thousand_articles_under_an_open_file_limit_of_256(
        built: Settings, tmp_path: Path) -> None:
    folder = folder_of(tmp_path / "in", 5000)
    added = subprocess.run(korea_qa("add", str(folder)),
                           env=add_env(built), text=True, capture_output=True, timeout=1800,
                           check=False, preexec_fn=_small_fd_limit)
    assert added.returncode == 0, added.stderr[-3000:]
    assert "5000 created, 0 updated, 0 unchanged, 0 failed" in added.stdout
    assert new_articles(built) == 5000
    assert os.listdir(built.corpus_dir).count("note-04999.md") == 1
