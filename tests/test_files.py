"""Replacing a file: the old one or the new one, never a part, and no leftovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from korea_qa.util.files import atomic_open, atomic_path, atomic_write


def test_atomic_write_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_text("old")
    atomic_write(target, "new é")
    atomic_write(tmp_path / "b.bin", b"\x00\x01")
    assert target.read_bytes() == "new é".encode()
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.bin"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.md"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write(b"half of the new")
        raise RuntimeError("the disk is full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.md"]


def test_the_temporary_is_hidden_beside_the_target(tmp_path: Path) -> None:
    # Hidden and not ending in .md, so a folder scan (the corpus) never takes it for a file.
    with atomic_path(tmp_path / "a.md", suffix=".xml") as tmp:
        assert tmp.parent == tmp_path
        assert tmp.name.startswith(".a.md.") and tmp.name.endswith(".tmp.xml")
        tmp.write_text("written by a library")
        assert not (tmp_path / "a.md").exists()
    assert (tmp_path / "a.md").read_text() == "written by a library"
    with atomic_path(tmp_path / "b") as one, atomic_path(tmp_path / "b") as two:
        assert one != two  # two writers in one process never share a temporary
        one.write_text("1")
        two.write_text("2")
    assert (tmp_path / "b").read_text() == "1"
