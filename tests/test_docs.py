"""Docs that cannot drift: the settings table is what the class gives, the README stays a
front door, and every relative link in the docs leads somewhere."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import Field

from korea_qa.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md",
        ROOT / "eval" / "README.md", ROOT / "corpus" / "README.md", ROOT / "index" / "README.md"]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("settings_table",
                                                  ROOT / "docs" / "settings_table.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generator = _load_generator()


def test_committed_settings_table_is_what_the_class_gives() -> None:
    _, committed, _ = generator.split((ROOT / "docs" / "CONFIGURATION.md").read_text())
    assert committed == generator.table(), "run `make docs` and commit docs/CONFIGURATION.md"


def test_every_setting_has_a_row_with_its_real_default() -> None:
    rows = {line.split("|")[1].strip(" `"): line.split("|")[2].strip()
            for line in generator.table().splitlines()[2:]}
    assert set(rows) == {f"KOREA_QA_{name.upper()}" for name in Settings.model_fields}
    assert rows["KOREA_QA_BACKEND"] == "`auto`"
    assert rows["KOREA_QA_BATCH_WAIT_MS"] == "`0.0`"
    assert rows["KOREA_QA_API_KEY"] == "unset"
    assert rows["KOREA_QA_MAX_BODY_BYTES"] == "`16384`"


def test_a_new_setting_changes_the_table_or_fails_without_description() -> None:
    class Documented(Settings):
        shiny: int = Field(default=3, ge=0, description="A new knob.")

    class Undocumented(Settings):
        bare: int = 3

    assert "| `KOREA_QA_SHINY` | `3` | integer ≥ 0 | A new knob. |" in generator.table(Documented)
    assert generator.table(Documented) != generator.table()
    with pytest.raises(ValueError, match="bare has no description"):
        generator.table(Undocumented)


def test_readme_is_a_front_door_under_10_kb() -> None:
    assert len((ROOT / "README.md").read_bytes()) < 10 * 1024


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path = (doc.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{doc.relative_to(ROOT)}: broken link {target}"
