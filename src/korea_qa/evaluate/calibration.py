"""Calibration of a search's `probability` (the API's `confidence`: that the articles answer):
the Brier score and a reliability table of ten equal-width bins (mean predicted probability,
observed share answerable, questions), for any set of questions with known answerability.

The gold report (`korea_qa.evaluate.report`) and the SQuAD-as-corpus run
(`korea_qa.evaluate.squad_corpus`) both use it, so the two test parts are judged alike.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from korea_qa.evaluate import metrics

BINS = 10


def calibration(probability: Sequence[float | None], answerable: Sequence[bool],
                bins: int = BINS) -> dict[str, Any] | None:
    """Brier score, that of always saying the base rate (for scale) and the reliability
    bins; None when any question lacks a probability (no decision for this model)."""
    if not probability or any(p is None for p in probability):
        return None
    p = [float(x) for x in probability if x is not None]
    base = sum(answerable) / len(answerable)
    return {"questions": len(p), "answerable": int(sum(answerable)),
            "brier": metrics.brier(p, answerable),
            "brier_base_rate": metrics.brier([base] * len(p), answerable),
            "bins": [asdict(b) for b in metrics.reliability(p, answerable, bins)]}


def reliability_rows(result: dict[str, Any]) -> list[list[str]]:
    """The reliability table: one row per bin (empty bins show a dash)."""
    rows = [["predicted", "mean predicted", "observed answerable", "questions"]]
    for b in result["bins"]:
        rows.append([f"{b['low']:.1f}–{b['high']:.1f}", _num(b["mean_probability"]),
                     _num(b["observed"]), str(b["questions"])])
    return rows


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def headline(result: dict[str, Any] | None) -> str:
    if result is None:
        return "no probability (no answerability decision for this model)"
    return (f"Brier {result['brier']:.4f} (always the base rate "
            f"{result['answerable'] / result['questions']:.2f}: "
            f"{result['brier_base_rate']:.4f}), {result['questions']} questions")


def format_text(title: str, result: dict[str, Any] | None) -> str:
    """A title line, the Brier line and the reliability table, for a terminal."""
    lines = [f"{title}: {headline(result)}"]
    if result is not None:
        rows = reliability_rows(result)
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines += ["    " + "  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True))
                  for r in rows]
    return "\n".join(lines)


def html_section(record: dict[str, Any]) -> list[str]:
    """The gold report's calibration section: per mode, the Brier line and the table."""
    by_mode = record.get("calibration") or {}
    if not any(by_mode.values()):
        return []
    parts = ["<h2>Calibration of the probability (10 bins)</h2>",
             "<p>Per mode: the Brier score of the probability that the articles answer "
             "(the API's <code>confidence</code>) against whether the gold set says they "
             "do, and the reliability table (mean predicted against observed share "
             "answerable, per bin of predicted probability).</p>"]
    for mode, result in by_mode.items():
        if result is None:
            continue
        rows = reliability_rows(result)
        head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                       for r in rows[1:])
        parts += [f"<h3>{html.escape(mode)}: {html.escape(headline(result))}</h3>",
                  f"<table><tr>{head}</tr>{body}</table>"]
    return parts
