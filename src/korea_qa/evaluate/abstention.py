"""Answerability on a gold run: today's cosine rule next to the fitted probability.

For each mode, both rules are applied to the same responses (each carries the best cosine and
the probability): abstention by kind of question, ROC AUC of each score (answerable against
on-topic unanswerable, and against all unanswerable), the trade-off curve (on-topic and
off-topic abstention against false abstention, over every cut) and, for the probability, its
calibration (reliability bins and Brier score). The plots are drawn by `report`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from korea_qa.evaluate import metrics
from korea_qa.evaluate.gold import GoldRun, QuestionResult, abstention_by_kind
from korea_qa.evaluate.goldfile import OFF_TOPIC, ON_TOPIC_KINDS

RELIABILITY_BINS = 5


def _score(name: str) -> Callable[[QuestionResult], float | None]:
    return (lambda q: q.best_cosine) if name == "cosine" else (lambda q: q.probability)


def rule(rows: Sequence[QuestionResult], name: str, threshold: float,
         guard: float | None = None) -> dict[str, Any] | None:
    """One rule (`score >= threshold` is answerable; with `guard`, the best cosine must reach
    it too) on one mode's questions, or None when the run lacks the score (a server does not
    send the cosine). The AUCs and curves read the score alone."""
    score = _score(name)
    if any(score(q) is None for q in rows) or (
            guard is not None and any(q.best_cosine is None for q in rows)):
        return None
    values = {q.id: float(score(q)) for q in rows}  # type: ignore[arg-type]
    answerable = [values[q.id] for q in rows if q.answerable]
    on_topic = [values[q.id] for q in rows if q.kind in ON_TOPIC_KINDS]
    off_topic = [values[q.id] for q in rows if q.kind == OFF_TOPIC]
    return {
        "threshold": threshold, "guard": guard,
        "by_kind": abstention_by_kind(rows, lambda q: values[q.id] >= threshold and (
            guard is None or float(q.best_cosine) >= guard)),  # type: ignore[arg-type]
        "auc_on_topic": metrics.roc_auc(answerable, on_topic),
        "auc_unanswerable": metrics.roc_auc(answerable, on_topic + off_topic),
        "curve_on_topic": metrics.tradeoff(answerable, on_topic),
        "curve_off_topic": metrics.tradeoff(answerable, off_topic),
    }


def calibration(rows: Sequence[QuestionResult]) -> dict[str, Any] | None:
    """Reliability of the probability: equal-width bins and the Brier score (with that of
    always saying the share of answerable questions, for scale)."""
    if not rows or any(q.probability is None for q in rows):
        return None
    p = [float(q.probability) for q in rows]  # type: ignore[arg-type]
    outcome = [q.answerable for q in rows]
    base = sum(outcome) / len(outcome)
    return {"bins": [asdict(b) for b in metrics.reliability(p, outcome, RELIABILITY_BINS)],
            "brier": metrics.brier(p, outcome),
            "brier_base_rate": metrics.brier([base] * len(p), outcome)}


def compare(run: GoldRun, *, cosine_threshold: float, decision_threshold: float | None,
            with_cosine: bool = False) -> dict[str, Any]:
    """Per mode: the cosine rule, the fitted rule (when a decision applies; `with_cosine`:
    it needs the cosine rule too) and the probability's calibration."""
    out: dict[str, Any] = {}
    for mode in run.modes:
        rows = [q for q in run.questions if q.mode == mode]
        out[mode] = {
            "cosine": rule(rows, "cosine", cosine_threshold),
            "fitted": None if decision_threshold is None
            else rule(rows, "probability", decision_threshold,
                      cosine_threshold if with_cosine else None),
            "calibration": calibration(rows) if decision_threshold is not None else None,
        }
    return out


def table_rows(comparison: dict[str, Any]) -> list[list[str]]:
    """Abstention by kind and ROC AUC, one row per mode and rule (%; AUC as a fraction)."""
    rows: list[list[str]] = []
    for mode, rules in comparison.items():
        for name, label in (("cosine", "cosine ≥ {t:g} (today)"),
                            ("fitted", "probability ≥ {t:.3f}{g} (fitted)")):
            r = rules.get(name)
            if r is None:
                continue
            groups = r["by_kind"]
            if not rows:
                rows.append(["mode", "rule", *(_header(k, g) for k, g in groups.items()),
                             "AUC vs on-topic", "AUC vs all unans."])
            guard = f", cosine ≥ {r['guard']:g}" if r.get("guard") is not None else ""
            rows.append([mode, label.format(t=r["threshold"], g=guard),
                         *(_share(g) for g in groups.values()),
                         _auc(r["auc_on_topic"]), _auc(r["auc_unanswerable"])])
    return rows


def _header(kind: str, group: dict[str, Any]) -> str:
    return (f"false abstain (n={group['questions']})" if kind == "answerable"
            else f"{kind} (n={group['questions']})")


def _share(group: dict[str, Any]) -> str:
    if group["rate"] is None:
        return "–"
    return f"{100 * group['rate']:.1f} ({group['abstained']}/{group['questions']})"


def _auc(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
