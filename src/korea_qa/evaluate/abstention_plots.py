"""The answerability plots of the gold report: the trade-off curve and the reliability
diagram, for one mode (hybrid when it was run; the probability does not depend on the mode,
the cosine of lexical mode does)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from korea_qa.evaluate.plotting import png, pyplot

# The targets of issue 17 on the test part, drawn on the trade-off plot.
TARGET_FALSE_ABSTAIN = 0.05
TARGET_ON_TOPIC = 0.40


def plotted_mode(record: dict[str, Any]) -> str | None:
    comparison = record.get("answerability") or {}
    modes = [m for m in ("hybrid", *comparison) if comparison.get(m, {}).get("cosine")
             or comparison.get(m, {}).get("fitted")]
    return modes[0] if modes else None


def sections(record: dict[str, Any], img: Callable[[bytes, str], str]) -> list[str]:
    mode = plotted_mode(record)
    if mode is None:
        return []
    rules = record["answerability"][mode]
    out = [f"<h3>Trade-off ({mode})</h3>",
           "<p>Every cut of each score: the share of answerable questions abstained on "
           "(false abstention) against the share of on-topic unanswerable (solid) and "
           "off-topic (dotted) ones abstained on. Dots: the cuts in use. Shaded: the "
           "targets (false abstention at most 5%, on-topic abstention at least 40%).</p>",
           img(plot_tradeoff(rules), "trade-off of abstention")]
    if rules.get("calibration"):
        c = rules["calibration"]
        out += [f"<h3>Calibration of the probability ({mode})</h3>",
                f"<p>Questions binned by the probability the service gives (API "
                f"<code>confidence</code>), against the share of them that the articles "
                f"answer; the number of questions is written by each point. Brier score "
                f"{c['brier']:.3f} (always saying the share of answerable questions: "
                f"{c['brier_base_rate']:.3f}).</p>",
                img(plot_reliability(c), "reliability diagram")]
    return out


def plot_tradeoff(rules: dict[str, Any]) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 5))
    ax.add_patch(plt.Rectangle((0, 100 * TARGET_ON_TOPIC), 100 * TARGET_FALSE_ABSTAIN,
                               100 * (1 - TARGET_ON_TOPIC), color="tab:green", alpha=0.15,
                               lw=0, label="targets"))
    for name, colour, label in (("cosine", "tab:grey", "best cosine"),
                                ("fitted", "tab:blue", "fitted probability")):
        r = rules.get(name)
        if r is None:
            continue
        xs, ys = zip(*r["curve_on_topic"], strict=True)
        ax.plot([100 * x for x in xs], [100 * y for y in ys], color=colour, drawstyle="steps-post",
                label=f"{label}: on-topic (AUC {r['auc_on_topic']:.2f})")
        xs, ys = zip(*r["curve_off_topic"], strict=True)
        ax.plot([100 * x for x in xs], [100 * y for y in ys], color=colour, ls=":",
                drawstyle="steps-post", label=f"{label}: off-topic")
        at = r["by_kind"]
        for kind, marker in (("on-topic", "o"), ("off-topic", "s")):
            if at[kind]["rate"] is not None and at["answerable"]["rate"] is not None:
                ax.plot(100 * at["answerable"]["rate"], 100 * at[kind]["rate"], marker,
                        color=colour, ms=7)
    ax.set_xlabel("answerable questions abstained on (false abstention), %")
    ax.set_ylabel("unanswerable questions abstained on, %")
    ax.set_xlim(-2, 102)
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return png(fig)


def plot_reliability(calibration: dict[str, Any]) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--", label="perfectly calibrated")
    points = [b for b in calibration["bins"] if b["questions"]]
    ax.plot([b["mean_probability"] for b in points], [b["observed"] for b in points],
            marker="o", color="tab:blue", label="questions in the bin")
    for b in points:
        ax.annotate(str(b["questions"]), (b["mean_probability"], b["observed"]),
                    textcoords="offset points", xytext=(6, -10), fontsize=8)
    ax.set_xlabel("mean probability given (confidence)")
    ax.set_ylabel("share that the articles answer")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return png(fig)
