"""Reports of a gold run: a JSON record, a Markdown table and a self-contained HTML page.

`eval/results/gold-<timestamp>.json` keeps every run; `latest.json` and `report.html` are
overwritten. The HTML embeds its plots as base64 PNG, so it opens anywhere, offline.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from korea_qa.evaluate import abstention, abstention_plots, calibration, plotting
from korea_qa.evaluate.gold import GoldRun, misses, summarise
from korea_qa.evaluate.provenance import git_commit
from korea_qa.util.files import atomic_write

SETTINGS_RECORDED = ("model", "backend", "chunk_min_words", "chunk_max_words",
                     "chunk_overlap_sentences", "fusion", "dense_weight", "rrf_k", "candidates",
                     "abstain_threshold", "answerable_rule")


def build_record(run: GoldRun, settings: Any, *, gold_path: Path, target: str,
                 split: str = "all",
                 index_manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything about one run, as plain JSON-ready data."""
    from korea_qa.reading.answerability import Rule, decision_for

    record_settings = {name: getattr(settings, name) for name in SETTINGS_RECORDED}
    record_settings["model"] = settings.model_id()
    decision = decision_for(settings.model_id(), settings.reader, settings.answerability_file)
    return {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "gold": str(gold_path),
        "split": split,  # the part of the gold set asked: train, test or all
        "target": target,  # "in-process" or the server URL
        "k": run.k,
        "modes": list(run.modes),
        "settings": record_settings,
        # What decided `answerable` in this run (answerable_rule `auto` resolved).
        "answerable_by": "fitted" if Rule.of(settings).fitted else "cosine",
        "index": index_manifest,
        "summary": {mode: summarise(run, mode) for mode in run.modes},
        # Today's cosine rule and the fitted decision on the same responses.
        "answerability": abstention.compare(
            run, cosine_threshold=settings.abstain_threshold,
            decision_threshold=decision.threshold if decision else None,
            with_cosine=decision is not None and decision.with_cosine),
        # The probability's Brier score and ten-bin reliability table, per mode.
        "calibration": {mode: _calibration(run, mode) for mode in run.modes},
        "reader": {"name": settings.reader if target.startswith("in-process") else None,
                   "reads_spans": run.reads_spans},
        "misses": {mode: [_miss(q) for q in misses(run, mode)] for mode in run.modes},
        "questions": [asdict(q) for q in run.questions],
    }


def _calibration(run: GoldRun, mode: str) -> dict[str, Any] | None:
    rows = [q for q in run.questions if q.mode == mode]
    return calibration.calibration([q.probability for q in rows], [q.answerable for q in rows])


def _miss(q: Any) -> dict[str, Any]:
    return {"id": q.id, "style": q.style, "question": q.question, "expected": q.expected,
            "first_hit": q.first_hit, "top": q.top}


def write_reports(record: dict[str, Any], out_dir: Path, *, html_page: bool = True) -> list[Path]:
    """Write the timestamped record, latest.json and (optionally) report.html."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = record["created_at"].replace(":", "").replace("-", "").replace("+0000", "Z")
    blob = json.dumps(record, indent=2, ensure_ascii=False)
    paths = [out_dir / f"gold-{stamp}.json", out_dir / "latest.json"]
    for path in paths:
        atomic_write(path, blob)  # a reader never sees half a report
    if html_page:
        paths.append(out_dir / "report.html")
        atomic_write(paths[-1], render_html(record))
    return paths


# ---------------------------------------------------------------- text


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def table_rows(record: dict[str, Any]) -> list[list[str]]:
    k = record["k"]
    header = ["mode", "hit@1", "hit@3", "hit@5", f"hit@{k}", f"MRR@{k}", f"nDCG@{k}",
              "answer acc.", "abstain (unans.)", "false abstain", "p50 ms", "p95 ms"]
    rows = [header]
    for mode, s in record["summary"].items():
        hit = {int(n): v for n, v in s["hit_at"].items()}
        rows.append([mode, *(_pct(hit.get(n, float("nan"))) for n in (1, 3, 5, k)),
                     f"{s[f'mrr@{k}']:.3f}", f"{s[f'ndcg@{k}']:.3f}",
                     _pct(s["answer_accuracy"]), _pct(s["abstention_accuracy"]),
                     _pct(s["false_abstain_rate"]), f"{s['latency_ms']['p50']:.1f}",
                     f"{s['latency_ms']['p95']:.1f}"])
    return rows


def kind_rows(record: dict[str, Any]) -> list[list[str]]:
    """Abstention per kind of question and mode: "rate (abstained/questions)" per cell."""
    first = next(iter(record["summary"].values()))["abstention_by_kind"]
    header = ["mode", *(f"{name} (n={g['questions']})" if name != "answerable"
                        else f"false abstain (n={g['questions']})" for name, g in first.items())]
    rows = [header]
    for mode, s in record["summary"].items():
        rows.append([mode, *(_share(g) for g in s["abstention_by_kind"].values())])
    return rows


def _share(group: dict[str, Any]) -> str:
    if group["rate"] is None:
        return "–"
    return f"{_pct(group['rate'])} ({group['abstained']}/{group['questions']})"


def _markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def render_side_by_side(records: dict[str, dict[str, Any]]) -> str:
    """Several runs (one per store) as one table: each mode's row, store by store."""
    rows: list[list[str]] = []
    for store, record in records.items():
        table = table_rows(record)
        rows = rows or [["store", *table[0]]]
        rows += [[store, *row] for row in table[1:]]
    rows[1:] = sorted(rows[1:], key=lambda r: (list(records[r[0]]["summary"]).index(r[1]),
                                               list(records).index(r[0])))
    return _markdown(rows)


def render_markdown(record: dict[str, Any]) -> str:
    """The mode comparison as a Markdown table (hit, accuracy and abstention figures in %)."""
    return _markdown(table_rows(record))


def render_summary(record: dict[str, Any]) -> str:
    first = next(iter(record["summary"].values()))
    lines = [render_markdown(record), "",
             f"{first['answerable']} answerable and {first['unanswerable']} unanswerable "
             f"questions ({record.get('split', 'all')} part of the gold set), k={record['k']}, "
             f"abstain_threshold={record['settings']['abstain_threshold']}, "
             f"target {record['target']}.", "",
             "Abstained on, by kind of question (%):", "", _markdown(kind_rows(record)), ""]
    decision_rows = abstention.table_rows(record.get("answerability") or {})
    if decision_rows:
        lines += [f"Answerability rules on the same responses (the service uses "
                  f"{record.get('answerable_by', 'cosine')}; %, ROC AUC of the "
                  "score):", "", _markdown(decision_rows), ""]
    for mode, s in record["summary"].items():
        best = s["best_threshold"]
        if best:
            lines.append(f"{mode}: best-balanced-accuracy threshold {best['threshold']:.3f} "
                         f"(balanced accuracy {best['balanced_accuracy']:.3f})")
    return "\n".join(lines)


# ---------------------------------------------------------------- HTML


def render_html(record: dict[str, Any]) -> str:
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        "<title>korea-qa gold evaluation</title>",
        f"<style>{_CSS}</style>",
        "<h1>korea-qa gold evaluation</h1>",
        f"<p>{html.escape(_meta_line(record))}</p>",
        "<h2>Modes</h2>", _html_table(table_rows(record)),
        "<p>hit@n, answer accuracy and false abstain over answerable questions; abstain over "
        "unanswerable ones; all in %. Latency is wall time per question.</p>",
        "<h2>Abstention by kind of question</h2>", _html_table(kind_rows(record)),
        "<p>Share of each kind the service flagged unanswerable, in % (abstained/questions). "
        "Off-topic: not about the articles' subject; on-topic: the four kinds after it "
        "together (eval/README.md).</p>",
        "<h2>hit@k</h2>", _img(plot_hits(record), "hit@k by mode"),
    ]
    decision_rows = abstention.table_rows(record.get("answerability") or {})
    if decision_rows:
        parts += ["<h2>Answerability: today's cosine rule and the fitted decision</h2>",
                  _html_table(decision_rows),
                  "<p>Both rules applied to the same responses; abstained on, in % "
                  "(abstained/questions), and the ROC AUC of each score for answerable "
                  "against on-topic unanswerable and against all unanswerable questions "
                  "(eval/README.md, \"An answerability decision\").</p>"]
        parts += abstention_plots.sections(record, _img)
    parts += calibration.html_section(record)
    if any(q["best_cosine"] is not None for q in record["questions"]):
        parts += ["<h2>Best cosine of answerable and unanswerable questions</h2>",
                  "<p>Best dense cosine per question. Solid line: the configured threshold; "
                  "dashed: the threshold with the best balanced accuracy on this set.</p>",
                  _img(plot_best_cosine(record), "best cosine of answerable and unanswerable")]
    parts.append("<h2>Misses (rank 1 is not a hit)</h2>")
    for mode, rows_ in record["misses"].items():
        parts.append(f"<details><summary>{html.escape(mode)}: {len(rows_)} misses</summary>"
                     + _miss_table(rows_) + "</details>")
    parts.append("</html>")
    return "\n".join(parts)


def _html_table(rows: list[list[str]]) -> str:
    head = "<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in rows[0]) + "</tr>"
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                   for r in rows[1:])
    return f"<table>{head}{body}</table>"


_CSS = ("body{font:14px/1.4 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:3px 7px;text-align:left;vertical-align:top}th{background:#f3f3f3}"
        "img{max-width:100%}summary{cursor:pointer;margin:.5em 0}")


def _meta_line(record: dict[str, Any]) -> str:
    s = record["settings"]
    return (f"{record['created_at']} · commit {record['git_commit'] or '?'} · "
            f"split {record.get('split', 'all')} · target {record['target']} · "
            f"model {s['model']} · fusion {s['fusion']} "
            f"(dense_weight {s['dense_weight']}, rrf_k {s['rrf_k']}) · abstain_threshold "
            f"{s['abstain_threshold']} · k={record['k']}")


def _miss_table(rows: list[dict[str, Any]]) -> str:
    out = ["<table><tr><th>id</th><th>question</th><th>expected</th><th>first hit</th>"
           "<th>rank 1: doc, paragraph, text</th></tr>"]
    for r in rows:
        top = r["top"] or {}
        where = f"{top.get('doc_id')} ¶{top.get('paragraph')}: {top.get('text', '')}…"
        out.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
            r["id"], r["question"], r["expected"], r["first_hit"] or "not in top k", where))
            + "</tr>")
    return "".join(out) + "</table>"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


_pyplot = plotting.pyplot
_png = plotting.png


def plot_hits(record: dict[str, Any]) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for mode, s in record["summary"].items():
        ks = sorted(int(n) for n in s["hit_at"])
        ax.plot(ks, [100 * s["hit_at"][str(n)] for n in ks],
                marker="o", label=mode)
    ax.set_xlabel("k (passages returned)")
    ax.set_ylabel("hit@k, % of answerable questions")
    ax.set_xticks(range(1, record["k"] + 1))
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("Answer passage within the top k")
    return _png(fig)


_CONFIDENCE_GROUPS = ("answerable", "on-topic unans.", "off-topic")
_COLOURS = ("tab:blue", "tab:orange", "tab:red")


def _group(question: dict[str, Any]) -> str:
    if question["answerable"]:
        return "answerable"
    return "off-topic" if question.get("kind") == "off-topic" else "on-topic unans."


def plot_best_cosine(record: dict[str, Any]) -> bytes:
    import numpy as np

    plt = _pyplot()
    modes = [m for m in record["modes"]
             if any(q["mode"] == m and q["best_cosine"] is not None for q in record["questions"])]
    fig, axes = plt.subplots(len(modes), 1, figsize=(8, 2.3 * len(modes) + 0.6), sharex=True,
                             squeeze=False)
    rng = np.random.default_rng(0)  # fixed jitter: the same run draws the same picture
    threshold = record["settings"]["abstain_threshold"]
    for ax, mode in zip(axes[:, 0], modes, strict=True):
        for row, (group, colour) in enumerate(zip(_CONFIDENCE_GROUPS, _COLOURS, strict=True)):
            xs = [q["best_cosine"] for q in record["questions"] if q["mode"] == mode
                  and _group(q) == group and q["best_cosine"] is not None]
            ax.scatter(xs, row + rng.uniform(-0.18, 0.18, len(xs)), s=16, alpha=0.7,
                       color=colour, label=f"{group} ({len(xs)})")
        ax.axvline(threshold, color="black", lw=1.2, label=f"abstain_threshold {threshold:g}")
        best = record["summary"][mode]["best_threshold"]
        title = mode
        if best:
            ax.axvline(best["threshold"], color="black", lw=1, ls="--",
                       label="best balanced accuracy on this set")
            title += f" (best cut {best['threshold']:.3f})"
        ax.set_yticks(range(len(_CONFIDENCE_GROUPS)), _CONFIDENCE_GROUPS)
        ax.set_ylim(-0.5, len(_CONFIDENCE_GROUPS) - 0.5)
        ax.set_title(title, fontsize=10, loc="left")
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("best dense cosine")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.tight_layout()
    top = max(ax.get_position().y1 for ax in axes[:, 0])
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, top + 0.04), ncol=3,
               fontsize=8, frameon=False)
    return _png(fig)
