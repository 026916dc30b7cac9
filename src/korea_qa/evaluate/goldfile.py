"""The gold file, eval/gold.jsonl: its items, loading and validation, and the train/test split.

The format and the rules are in eval/README.md ("Gold set format"). The split is written into
the file once; `assign_splits` is the rule that made it, kept so that a test can check the
file still agrees with it (nobody re-splits by hand) and new items can be placed by it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from korea_qa.errors import KoreaQAError

STYLES = ("paraphrase", "direct", "unanswerable")
SPLITS = ("train", "test")
SPLIT_CHOICES = (*SPLITS, "all")
OFF_TOPIC = "off-topic"
# Why an on-topic question is unanswerable (eval/README.md, "Unanswerable questions").
ON_TOPIC_KINDS = ("nearby", "combined", "number", "entity")
KINDS = (OFF_TOPIC, *ON_TOPIC_KINDS)
_FIELDS = frozenset({"id", "doc_id", "question", "answer", "evidence", "style", "split", "kind",
                     "checked"})
_ID_RE = re.compile(r"^(?:[a-z]+-\d+)$")


class GoldSetError(KoreaQAError):
    def __init__(self, path: object, line: int, problem: str) -> None:
        self.path, self.line, self.problem = str(path), line, problem
        super().__init__(f"{path}:{line}: {problem}")


@dataclass(frozen=True, slots=True)
class GoldItem:
    id: str
    question: str
    style: str
    doc_id: str | None = None
    answer: str | None = None
    evidence: str | None = None
    split: str | None = None  # "train" or "test"; always set in a loaded file
    kind: str | None = None  # unanswerable items only: one of KINDS
    checked: str | None = None  # unanswerable items only: what was checked against the text
    line: int = 0

    @property
    def answerable(self) -> bool:
        return self.answer is not None

    @property
    def stratum(self) -> str:
        """The group the split balances: article and style, or the kind of unanswerable."""
        return f"{self.doc_id}/{self.style}" if self.answerable else f"unanswerable/{self.kind}"


# ---------------------------------------------------------------- loading


def load_gold(path: Path) -> list[GoldItem]:
    """Every item of a gold file; a GoldSetError names the first bad line and its problem."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise GoldSetError(path, 0, f"cannot read the gold set ({exc})") from None
    items: list[GoldItem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        item = _parse_line(path, number, line)
        if item.id in seen:
            raise GoldSetError(path, number, f"id {item.id!r} already used on line {seen[item.id]}")
        seen[item.id] = number
        items.append(item)
    if not items:
        raise GoldSetError(path, 0, "the gold set has no questions")
    return items


def _parse_line(path: Path, number: int, line: str) -> GoldItem:
    try:
        row = json.loads(line)
    except ValueError as exc:
        raise GoldSetError(path, number, f"not valid JSON ({exc})") from None
    if not isinstance(row, dict):
        raise GoldSetError(path, number, "expected a JSON object")
    problem = _problem(row)
    if problem:
        raise GoldSetError(path, number, problem)
    return GoldItem(id=row["id"], question=row["question"], style=row["style"],
                    doc_id=row.get("doc_id"), answer=row.get("answer"),
                    evidence=row.get("evidence"), split=row["split"], kind=row.get("kind"),
                    checked=row.get("checked"), line=number)


def _problem(row: dict[str, Any]) -> str | None:
    """What is wrong with one parsed line, or None."""
    unknown = set(row) - _FIELDS
    if unknown:
        return f"unknown field(s) {', '.join(sorted(unknown))}"
    for name in ("id", "question", "style", "split"):
        if not _text(row.get(name)):
            return f"{name!r} must be a non-empty string"
    if not _ID_RE.match(row["id"]):
        return f"id {row['id']!r} is not of the form prefix-NN"
    if row["style"] not in STYLES:
        return f"style {row['style']!r} is not one of {', '.join(STYLES)}"
    if row["split"] not in SPLITS:
        return f"split {row['split']!r} is not one of {', '.join(SPLITS)}"
    if row["style"] == "unanswerable":
        return _unanswerable_problem(row)
    for name in ("doc_id", "answer", "evidence"):
        if not _text(row.get(name)):
            return f"{name!r} must be a non-empty string for a {row['style']} item"
    if row["answer"] not in row["evidence"]:
        return "answer is not a substring of evidence"
    for name in ("kind", "checked"):
        if row.get(name) is not None:
            return f"{name!r} is for unanswerable items only"
    return None


def _unanswerable_problem(row: dict[str, Any]) -> str | None:
    if any(row.get(name) is not None for name in ("doc_id", "answer", "evidence")):
        return "an unanswerable item has null doc_id, answer and evidence"
    if not _text(row.get("kind")):
        return "'kind' must be a non-empty string for an unanswerable item"
    if row["kind"] not in KINDS:
        return f"kind {row['kind']!r} is not one of {', '.join(KINDS)}"
    if not _text(row.get("checked")):
        return "'checked' must say what was checked against the articles"
    return None


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


# ---------------------------------------------------------------- the split


def select_split(items: Iterable[GoldItem], split: str) -> list[GoldItem]:
    """The items of one part ("train" or "test"), or all of them ("all")."""
    if split not in SPLIT_CHOICES:
        raise KoreaQAError(f"split {split!r} is not one of {', '.join(SPLIT_CHOICES)}")
    return [item for item in items if split == "all" or item.split == split]


def assign_splits(items: Sequence[GoldItem]) -> dict[str, str]:
    """The rule that made the split (eval/README.md, "The train/test split").

    In file order, within each stratum, an item joins the part that has fewer items of the
    stratum so far; on a tie, the first byte of SHA-256 of its id decides (below 128: test).
    So each stratum is halved (one more in one part when it is odd), every consecutive pair
    is split one and one, which of the pair goes to test is chance, and appending items to
    the file never moves an earlier one.
    """
    counts: dict[str, Counter[str]] = {}
    parts: dict[str, str] = {}
    for item in items:
        seen = counts.setdefault(item.stratum, Counter())
        if seen["test"] == seen["train"]:
            part = "test" if hashlib.sha256(item.id.encode("utf-8")).digest()[0] < 128 else "train"
        else:
            part = "test" if seen["test"] < seen["train"] else "train"
        seen[part] += 1
        parts[item.id] = part
    return parts
