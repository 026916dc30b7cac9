"""Train the reader on the SQuAD dev articles of the training part (see reader_data).

    python train/train_reader.py --out train/runs/reader      # resumes if a checkpoint is there

Seeded; checkpoints every --checkpoint-every steps (model, optimiser, schedule, step), so a
killed run resumes where it stopped. Validation figures go to OUT/log.jsonl as it trains; at
the end OUT/final holds the weights and OUT/final/reader.json the settings they need.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import distil
import numpy as np
import reader_pairs
import torch
from tokenizers import Tokenizer
from torch.nn import functional as F
from tqdm.auto import tqdm

from korea_qa.evaluate import news_qa, squad
from korea_qa.models.cpu import cpu_info
from korea_qa.reading_model import ov_backend
from korea_qa.reading_model.decode import Reading, best_spans
from korea_qa.reading_model.net import ReaderNet
from korea_qa.reading_model.pairs import (
    Batch,
    Pair,
    Shape,
    Units,
    char_span_to_tokens,
    encode,
    units,
)
from korea_qa.reading_model.runtime import encoder_folder, tokenizer_of


class Features:
    """Every example tokenised once: one row each, with its answer's token span."""

    def __init__(self, tokenizer: Tokenizer, examples: Sequence[reader_pairs.Example],
                 shape: Shape) -> None:
        self.rows: list[tuple[Batch, int, int, int]] = []  # (1-row batch, has, start, end)
        self.cut = 0
        for i in range(0, len(examples), 512):
            chunk = examples[i:i + 512]
            batch = encode(tokenizer, [Pair(e.question, e.sentence, e.context) for e in chunk],
                           shape)
            for j, ex in enumerate(chunk):
                row = Batch(*(getattr(batch, f)[j:j + 1, :int(batch.attention_mask[j].sum())]
                              for f in Batch.__dataclass_fields__))
                span = char_span_to_tokens(row.offsets[0], row.sentence_mask[0],
                                           *ex.answer) if ex.answer else None
                if ex.answer and span is None:
                    self.cut += 1  # the answer lies past the tokens kept: not a negative
                    continue
                self.rows.append((row, int(span is not None), *(span or (0, 0))))
        self.lengths = np.array([int(r[0].attention_mask.sum()) for r in self.rows])

    def batches(self, size: int, seed: int) -> list[list[int]]:
        """Rows in batches of similar length (little padding), in a seeded random order."""
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(self.rows))
        groups = [order[i:i + size * 50] for i in range(0, len(order), size * 50)]
        out: list[list[int]] = []
        for group in groups:
            ranked = group[np.argsort(self.lengths[group], kind="stable")]
            out += [ranked[i:i + size].tolist() for i in range(0, len(ranked), size)]
        return [out[i] for i in rng.permutation(len(out))]

    def tensors(self, rows: Sequence[int]) -> dict[str, torch.Tensor]:
        width = int(self.lengths[list(rows)].max())
        parts = [self.rows[r] for r in rows]

        def stack(name: str) -> torch.Tensor:
            arrays = [getattr(b, name)[0] for b, *_ in parts]
            out = np.zeros((len(arrays), width), dtype=arrays[0].dtype)
            for i, a in enumerate(arrays):
                out[i, :len(a)] = a
            return torch.from_numpy(out)

        return {"input_ids": stack("input_ids"), "attention_mask": stack("attention_mask"),
                "token_type_ids": stack("token_type_ids"),
                "sentence_mask": stack("sentence_mask"),
                "has": torch.tensor([p[1] for p in parts], dtype=torch.float32),
                "start": torch.tensor([p[2] for p in parts]),
                "end": torch.tensor([p[3] for p in parts])}


def loss_of(net: ReaderNet, batch: dict[str, torch.Tensor], bf16: bool,
            span_negatives: bool = False, distil_weight: float = 0.0,
            temperature: float = 2.0) -> torch.Tensor:
    """Has-answer cross-entropy, plus the span heads' on positives; with `span_negatives`
    the span heads also learn from negatives, whose span is [CLS] (SQuAD 2.0's usual
    formulation: a negative is 2 pairs in 3, and otherwise teaches them nothing). With a
    teacher's logits in the batch, `distil_weight` of the loss is learning from them
    (train/distil.py) and the rest from the labels."""
    mask = batch["sentence_mask"]
    if span_negatives:
        mask = mask.clone()
        mask[:, 0] = True  # [CLS] may be pointed at while training; serving masks it
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        start, end, has = net(batch["input_ids"], batch["attention_mask"],
                              batch["token_type_ids"], mask)
    loss = F.binary_cross_entropy_with_logits(has, batch["has"])
    taught = torch.ones_like(batch["has"], dtype=torch.bool) if span_negatives \
        else batch["has"] > 0
    if taught.any():
        loss = loss + 0.5 * (F.cross_entropy(start[taught], batch["start"][taught])
                             + F.cross_entropy(end[taught], batch["end"][taught]))
    if distil_weight and "teacher_has" in batch:
        soft = distil.distillation_loss(start, end, has, batch, temperature)
        loss = (1 - distil_weight) * loss + distil_weight * soft
    return loss


def units_of(tokenizer: Tokenizer, shape: Shape) -> Units:
    return lambda text, sentences: units(tokenizer, shape, text, sentences)


def make_reader(net: ReaderNet, tokenizer: Tokenizer, shape: Shape, bf16: bool,
                batch_size: int = 64, rule: str = "has") -> squad.Read:
    """The network as the evaluation's reader, fed as the service feeds it (`[CLS]` scored,
    spans from the unit only); with a rule other than `has` the span margin over [CLS] makes
    the probability."""
    margin = rule != "has"

    def read(pairs: Sequence[Pair]) -> list[Reading]:
        out: list[Reading] = []
        net.eval()
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for i in range(0, len(pairs), batch_size):
                b = encode(tokenizer, pairs[i:i + batch_size], shape)
                start, end, has = net(*(torch.from_numpy(x) for x in ov_backend.inputs(b)))
                s, e = start.float().numpy(), end.float().numpy()
                out += best_spans(s, e, b.sentence_mask, b.offsets, has.float().numpy(),
                                  null_logits=s[:, 0] + e[:, 0] if margin else None, rule=rule)
        net.train()
        return out
    return read


def save_atomic(obj: object, path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def log(out: Path, record: dict) -> None:
    with open(out / "log.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    tqdm.write(json.dumps(record))


def validate(net: ReaderNet, tokenizer: Tokenizer, paragraphs: Sequence[squad.Paragraph],
             shape: Shape, bf16: bool, span_negatives: bool = False) -> dict[str, Any]:
    """SQuAD 2.0 figures at the best threshold by the has-answer head; for a run whose span
    heads learn from negatives, under "margin" the same by the span margin (the head alone
    can look hopeless where the margin is not)."""
    figures: dict[str, Any] = {}
    for rule in ("has", "margin") if span_negatives else ("has",):
        predicted = squad.predict(paragraphs, make_reader(net, tokenizer, shape, bf16, rule=rule),
                                  units=units_of(tokenizer, shape))
        summary = squad.summary(predicted, squad.best_threshold(predicted))
        figures |= summary if rule == "has" else {rule: summary}
    return figures


def arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=Path("../shared/datasets/squad-dev"))
    p.add_argument("--out", type=Path, default=Path("train/runs/reader"))
    p.add_argument("--news", type=Path,
                   default=Path("../shared/benchmarks/article-extraction"),
                   help="the pages our own news questions (eval/news_qa) were written over; "
                   "their training part joins SQuAD's ('' leaves them out)")
    p.add_argument("--news-repeat", type=int, default=2,
                   help="how many times the news training pairs are drawn (each with its "
                   "own sample of negatives): they are few, and the service reads news")
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--max-len", type=int, default=192)
    p.add_argument("--max-context", type=int, default=16)
    p.add_argument("--unit", choices=("sentence", "window"), default="window",
                   help="what one pair reads: a sentence, or a window of sentences")
    p.add_argument("--span-negatives", action="store_true",
                   help="negatives teach the span heads too (their span: [CLS])")
    p.add_argument("--teacher", type=Path, default=None,
                   help="a finished run (RUN/final) whose logits the network also learns "
                   "from: distillation, for a smaller --layers")
    p.add_argument("--distil-weight", type=float, default=0.5,
                   help="with --teacher: the share of the loss learnt from its logits")
    p.add_argument("--temperature", type=float, default=2.0,
                   help="with --teacher: how much its distributions are softened")
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--no-bf16", dest="bf16", action="store_false")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    p.add_argument("--checkpoint-every", type=int, default=150)
    p.add_argument("--validate-every", type=int, default=600)
    p.add_argument("--validation-paragraphs", type=int, default=40,
                   help="paragraphs of the validation part read at each periodic check")
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop after this many steps (to measure a shape's speed)")
    return p.parse_args(argv)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def prepare(args: argparse.Namespace, shape: Shape, tokenizer: Tokenizer
            ) -> tuple[Features, list[squad.Paragraph]]:
    articles = squad.load(args.data)
    parts = squad.split(args.data)
    train = [p for t in parts["train"] for p in articles[t]]
    validation = [p for t in parts["validation"] for p in articles[t]]
    started = time.perf_counter()
    units = units_of(tokenizer, shape)
    pairs = reader_pairs.examples(train, seed=args.seed, units=units)
    news = news_training(args.news)
    for n in range(args.news_repeat if news else 0):
        pairs += reader_pairs.examples(news, seed=args.seed + 1 + n, units=units)
    random.Random(args.seed).shuffle(pairs)
    features = Features(tokenizer, pairs, shape)
    tqdm.write(f"{len(features.rows)} training pairs ({len(news)} news passages × "
               f"{args.news_repeat if news else 0} among them) tokenised in "
               f"{time.perf_counter() - started:.0f} s ({features.cut} positives dropped: "
               "the answer past the tokens kept)")
    return features, validation


def news_training(folder: Path) -> list[squad.Paragraph]:
    """The training part of our own news questions (korea_qa.evaluate.news_qa), if asked."""
    if not str(folder) or str(folder) == ".":
        return []
    loaded = news_qa.load(folder)
    return [p for page in news_qa.split(list(loaded.pages))["train"]
            for p in loaded.pages[page]]


def machine() -> dict[str, str | int]:
    info = cpu_info()
    return {"cpu": info.model, "cores": info.cores, "torch": torch.__version__}


def steps_of(args: argparse.Namespace, per_epoch: int) -> int:
    total = math.ceil(per_epoch * args.epochs)
    return min(total, args.max_steps) if args.max_steps else total


def schedule(optimizer: torch.optim.Optimizer, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = max(1, total // 10)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / (total - warmup))))


def batches_from(features: Features, args: argparse.Namespace, step: int
                 ) -> Iterator[tuple[int, list[int]]]:
    """(step, rows) from `step` on, epoch after epoch, each epoch in its own seeded order."""
    per_epoch = len(features.batches(args.batch, args.seed))
    epoch, skip = divmod(step, per_epoch)
    while True:
        for rows in features.batches(args.batch, args.seed + epoch)[skip:]:
            yield step, rows
            step += 1
        epoch, skip = epoch + 1, 0


class Trainer:
    """One run: the network, its optimiser and schedule, resumed from OUT/checkpoint.pt."""

    def __init__(self, args: argparse.Namespace, features: Features, total: int,
                 teacher: distil.Teacher | None = None) -> None:
        self.args = args
        self.features = features
        self.teacher = teacher
        self.total = total
        self.net = ReaderNet.from_encoder(encoder_folder(), args.layers)
        self.optimizer = torch.optim.AdamW(self.net.parameters(), lr=args.lr, weight_decay=0.01)
        self.scheduler = schedule(self.optimizer, total)
        self.step, self.seconds = 0, 0.0
        self.checkpoint = args.out / "checkpoint.pt"
        if self.checkpoint.exists():
            state = torch.load(self.checkpoint, weights_only=False)
            self.net.load_state_dict(state["net"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            self.step, self.seconds = state["step"], state["seconds"]
            torch.set_rng_state(state["rng"])
            tqdm.write(f"resumed at step {self.step} of {total}")

    def train_step(self, rows: list[int]) -> float:
        batch = self.features.tensors(rows)
        if self.teacher is not None:
            batch |= self.teacher.tensors(rows, batch["input_ids"].shape[1])
        loss = loss_of(self.net, batch, self.args.bf16, self.args.span_negatives,
                       self.args.distil_weight if self.teacher else 0.0, self.args.temperature)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.optimizer.step()
        self.scheduler.step()
        return float(loss.item())

    def save(self, seconds: float) -> None:
        save_atomic({"net": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                     "scheduler": self.scheduler.state_dict(), "step": self.step,
                     "seconds": seconds, "rng": torch.get_rng_state()}, self.checkpoint)

    def run(self, validate_on: Callable[[bool], dict[str, Any]]) -> None:
        """Train to the last step, checkpointing and validating on the way."""
        self.net.train()
        bar = tqdm(total=self.total, initial=self.step, unit="step", dynamic_ncols=True)
        examples, started, resumed = 0, time.perf_counter(), self.seconds
        for step, rows in batches_from(self.features, self.args, self.step):
            if step >= self.total:
                break
            loss = self.train_step(rows)
            self.step = step + 1
            examples += len(rows)
            elapsed = time.perf_counter() - started
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", ex_s=f"{examples / elapsed:.1f}")
            last = self.step == self.total
            if self.step % self.args.checkpoint_every == 0 or last:
                self.save(resumed + elapsed)
            if self.step % self.args.validate_every == 0 or last:
                log(self.args.out, {"step": self.step, "loss": round(loss, 4),
                                    "train_seconds": round(resumed + elapsed, 1),
                                    "examples_per_s": round(examples / elapsed, 1),
                                    "validation": validate_on(last)})
        bar.close()


# What a checkpoint must agree with to be resumed (the rest, threads or how often to
# validate, may change between sessions).
RESUME_KEYS = ("data", "news", "news_repeat", "layers", "max_len", "max_context", "unit",
               "span_negatives", "teacher", "distil_weight", "temperature", "epochs", "batch",
               "lr", "seed", "bf16", "max_steps")


def refuse_another_runs_checkpoint(args: argparse.Namespace, shape: Shape) -> None:
    """A checkpoint in OUT is resumed only by the run that wrote it: same shape and recipe."""
    config = args.out / "config.json"
    if not (args.out / "checkpoint.pt").exists() or not config.exists():
        return
    before = json.loads(config.read_text())
    now = {k: str(v) for k, v in vars(args).items()}
    # A key newer than the checkpoint's run had its default there.
    was = {k: str(v) for k, v in vars(arguments([])).items()} | before.get("args", {})
    changed = [k for k in RESUME_KEYS if was.get(k) != now.get(k)]
    if changed or before.get("shape") != asdict(shape):
        raise SystemExit(f"{args.out} holds the checkpoint of another run (it differs in "
                         f"{', '.join(changed) or 'shape'}): choose another --out")


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments(argv)
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    shape = Shape(max_len=args.max_len, max_context=args.max_context, unit=args.unit)
    tokenizer = tokenizer_of(encoder_folder())
    args.out.mkdir(parents=True, exist_ok=True)
    refuse_another_runs_checkpoint(args, shape)
    features, validation = prepare(args, shape, tokenizer)
    teacher = None if args.teacher is None else distil.cached_teacher(
        args.teacher, args.out, features, args.span_negatives, args.bf16)
    trainer = Trainer(args, features,
                      steps_of(args, len(features.batches(args.batch, args.seed))), teacher)
    config = {"shape": asdict(shape), "layers": args.layers,
              "args": {k: str(v) for k, v in vars(args).items()}, "machine": machine(),
              "total_steps": trainer.total, "training_pairs": len(features.rows),
              "positives_cut": features.cut}
    (args.out / "config.json").write_text(json.dumps(config, indent=2))

    def validate_on(everything: bool) -> dict[str, Any]:
        sample = validation if everything else validation[:args.validation_paragraphs]
        return validate(trainer.net, tokenizer, sample, shape, args.bf16, args.span_negatives)

    trainer.run(validate_on)
    final = args.out / "final"
    final.mkdir(exist_ok=True)
    torch.save(trainer.net.state_dict(), final / "reader.pt")
    (final / "reader.json").write_text(json.dumps(config, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
