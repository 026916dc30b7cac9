"""Ship a trained reader: its weights in the package's form, measured, with a card.

    python train/ship_reader.py --run train/runs/reader      # after train_reader.py

Writes src/korea_qa/reading_model/model/: reader.safetensors (int8 matrices, see
korea_qa.reading_model.weights) and reader.json (shape, depth, sha256, the no-answer rule
and threshold chosen on the validation part, the test part's figures, and a fixed sample of
readings that tests/test_reader_card.py reproduces), and MODEL_CARD.md from them. The float32
weights are measured beside the shipped form, so the card says what the smaller form costs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from model_card import render

from korea_qa.evaluate import news_qa, squad
from korea_qa.models.cpu import cpu_info
from korea_qa.reading_model import weights
from korea_qa.reading_model.decode import RULES, Reading, rescored
from korea_qa.reading_model.pairs import Pair
from korea_qa.reading_model.runtime import SHIPPED, ReaderModel
from korea_qa.util.files import atomic_write, sha256

SAMPLE = 12  # pairs of the test part whose readings the card records


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=Path("../shared/datasets/squad-dev"))
    p.add_argument("--run", type=Path, default=Path("train/runs/reader"))
    p.add_argument("--news", type=Path,
                   default=Path("../shared/benchmarks/article-extraction"),
                   help="the pages of our own news questions, measured too ('' skips them)")
    p.add_argument("--checkpoint", action="store_true",
                   help="ship the last checkpoint instead of RUN/final (to look early)")
    p.add_argument("--out", type=Path, default=SHIPPED)
    p.add_argument("--skip-float32", action="store_true",
                   help="do not measure the float32 weights beside the shipped form")
    p.add_argument("--skip-int8", action="store_true",
                   help="do not measure the OpenVINO int8 backend (reader_backend=openvino-int8)")
    p.add_argument("--note", default="", help="how the run went, for the card")
    p.add_argument("--unmeasured", action="store_true",
                   help="write the weights and a card without figures (a quick look only)")
    return p.parse_args(argv)


def state_of(args: argparse.Namespace) -> dict[str, torch.Tensor]:
    if args.checkpoint:
        return torch.load(args.run / "checkpoint.pt", weights_only=False)["net"]
    return torch.load(args.run / "final" / "reader.pt", weights_only=True)


def choose_rule(model: ReaderModel, validation: list[squad.Paragraph],
                span_negatives: bool) -> tuple[str, dict[str, dict[str, float]]]:
    """The no-answer rule (`decode.RULES`) with the best F1 on the validation part, each at
    its own best threshold; only `has` for a model whose span heads never saw a negative
    (its [CLS] logits mean nothing)."""
    readings: list[Reading] = []

    def keep(pairs: Sequence[Pair]) -> list[Reading]:
        got = model.read(pairs)
        readings.extend(got)
        return got

    squad.predict(validation, keep, units=model.units)
    figures = {}
    for rule in RULES if span_negatives else ("has",):
        predicted = squad.predict(validation, _replay([rescored(r, rule) for r in readings]),
                                  units=model.units)
        figures[rule] = squad.summary(predicted, squad.best_threshold(predicted))
    return max(figures, key=lambda rule: figures[rule]["f1"]), figures


def _replay(readings: list[Reading]) -> squad.Read:
    """Readings handed out again in the order they were read (the same pairs, asked again)."""
    left = iter(readings)
    return lambda pairs: [next(left) for _ in pairs]


def measure(model: ReaderModel, parts: dict[str, list[squad.Paragraph]]) -> dict[str, object]:
    """Validation picks the no-answer threshold; the test part is scored at it."""
    started = time.perf_counter()
    validation = squad.predict(parts["validation"], model.read, units=model.units)
    threshold = squad.best_threshold(validation)
    test = squad.predict(parts["test"], model.read, units=model.units)
    return {"threshold": threshold,
            "validation": squad.summary(validation, threshold),
            "test": squad.summary(test, threshold),
            "seconds": round(time.perf_counter() - started, 1)}


def measure_news(model: ReaderModel, folder: Path, threshold: float) -> dict[str, object]:
    """Our own news questions (korea_qa.evaluate.news_qa): the test pages at the card's
    threshold, and at the one best on the news validation pages (what in-domain tuning would
    give)."""
    loaded = news_qa.load(folder)
    parts = news_qa.split(list(loaded.pages))
    read = {name: squad.predict([p for page in pages for p in loaded.pages[page]], model.read,
                                units=model.units) for name, pages in parts.items()
            if name != "train"}
    own = squad.best_threshold(read["validation"])
    return {"split": parts, "dropped": list(loaded.dropped), "threshold": own,
            "test": squad.summary(read["test"], threshold),
            "validation": squad.summary(read["validation"], threshold),
            "test_at_news_threshold": squad.summary(read["test"], own)}


def sample(model: ReaderModel, paragraphs: list[squad.Paragraph]) -> list[dict[str, object]]:
    """The first SAMPLE pairs of the test part, read: the card's reproducible figures."""
    pairs = []
    for paragraph in paragraphs:
        pieces = model.units(paragraph.context, paragraph.sentences())
        for q in paragraph.questions[:2]:
            pairs += [Pair(q.text, paragraph.context[u.start:u.end]) for u in pieces[:2]]
    pairs = pairs[:SAMPLE]
    return [{"question": p.question, "sentence": p.sentence, "probability": round(r.probability, 4),
             "span": p.sentence[r.start:r.end]} for p, r in zip(pairs, model.read(pairs),
                                                                  strict=True)]


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    torch.set_num_threads(2)
    config = json.loads((args.run / "config.json").read_text())
    articles = squad.load(args.data)
    parts = {name: [p for t in titles for p in articles[t]]
             for name, titles in squad.split(args.data).items()}
    state = state_of(args)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "reader.safetensors"
    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        weights.save(state, Path(tmp) / path.name)
        Path(tmp, path.name).chmod(0o644)
        Path(tmp, path.name).replace(path)
    card = {"shape": config["shape"], "layers": config["layers"], "sha256": sha256(path)}
    atomic_write(args.out / "reader.json", json.dumps(card, indent=2))
    if args.unmeasured:
        return 0
    shipped = ReaderModel(args.out)
    card["no_answer"], rules = choose_rule(shipped, parts["validation"],
                                           config["args"].get("span_negatives") == "True")
    atomic_write(args.out / "reader.json", json.dumps(card, indent=2))
    shipped = ReaderModel(args.out)
    about: dict[str, object] = {"no_answer_rules": rules,
        "training": config, "log": _log(args.run), "split": squad.split(args.data),
        "machine": {"cpu": cpu_info().model, "isa": cpu_info().isa, "torch": torch.__version__},
        "bytes": path.stat().st_size, "shipped": measure(shipped, parts),
        "sample": sample(shipped, parts["test"]), "note": args.note}
    news = str(args.news) not in ("", ".")
    if news:
        about["news"] = measure_news(shipped, args.news, _threshold(about["shipped"]))
    if not args.skip_float32:
        about["float32"] = measure(_float32(args.out, state), parts)
    if not args.skip_int8:
        int8 = ReaderModel(args.out, backend="openvino-int8")
        about["int8"] = measure(int8, parts)
        about["sample_int8"] = sample(int8, parts["test"])
        if news:
            about["news_int8"] = measure_news(int8, args.news, _threshold(about["int8"]))
    card["about"] = about
    atomic_write(args.out / "reader.json", json.dumps(card, indent=2))
    atomic_write(args.out / "MODEL_CARD.md", render(card))
    print(json.dumps({k: about[k] for k in ("shipped", "float32", "int8", "news")
                      if k in about}, indent=2))
    return 0


def _float32(folder: Path, state: dict[str, torch.Tensor]) -> ReaderModel:
    """The trained weights as they were, before packing (on PyTorch: the OpenVINO backend
    converts the network once at load, from the shipped weights)."""
    model = ReaderModel(folder, backend="torch")
    model.net.load_state_dict(state)
    model.net.eval()
    return model


def _threshold(figures: object) -> float:
    assert isinstance(figures, dict)
    return float(figures["threshold"])


def _log(run: Path) -> list[dict[str, object]]:
    path = run / "log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


if __name__ == "__main__":
    sys.exit(main())
