"""Distillation for the reader: a trained reader (the teacher) reads every training pair once,
and a smaller network (the student) learns from its logits beside the gold labels.

Why: the reader's cost is its depth, and a 3-layer reader trained on the labels alone never
learnt spans worth showing (eval/README "Depth: 3 layers tried, dropped"). The teacher's
start/end distributions say which tokens are near-misses, and its has-answer logit how sure
it is, which a one-hot label does not (Hinton et al. 2015; DistilBERT's SQuAD recipe).

The teacher's logits are computed once, in eval mode (no dropout), and kept in OUT/teacher.pt
beside the checkpoint, so a resumed run does not read the training set again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from korea_qa.reading_model.net import NEG, ReaderNet
from korea_qa.reading_model.runtime import encoder_folder

if TYPE_CHECKING:
    from train_reader import Features


class Teacher:
    """Every training row's teacher logits: has-answer, and start/end over the row's tokens."""

    def __init__(self, has: np.ndarray, start: list[np.ndarray], end: list[np.ndarray]) -> None:
        self.has, self.start, self.end = has, start, end

    def tensors(self, rows: list[int], width: int) -> dict[str, torch.Tensor]:
        def stack(arrays: list[np.ndarray]) -> torch.Tensor:
            out = np.full((len(rows), width), NEG, dtype=np.float32)
            for i, r in enumerate(rows):
                out[i, :len(arrays[r])] = arrays[r]
            return torch.from_numpy(out)

        return {"teacher_has": torch.from_numpy(self.has[rows].astype(np.float32)),
                "teacher_start": stack(self.start), "teacher_end": stack(self.end)}


def load_teacher(run: Path) -> ReaderNet:
    """The teacher's network from a training run's final weights (RUN/final)."""
    config = json.loads((run / "final" / "reader.json").read_text())
    net = ReaderNet.from_config(encoder_folder(), config["layers"])
    net.load_state_dict(torch.load(run / "final" / "reader.pt", weights_only=True))
    return net.eval()


def teacher_logits(net: ReaderNet, features: Features, span_negatives: bool, bf16: bool,
                   batch: int = 64) -> Teacher:
    """The teacher read every row as the student will see it (the same mask, [CLS] included
    when negatives point at it)."""
    n = len(features.rows)
    has = np.zeros(n, dtype=np.float32)
    start: list[np.ndarray] = [np.zeros(0, np.float32)] * n
    end: list[np.ndarray] = [np.zeros(0, np.float32)] * n
    order = np.argsort(features.lengths, kind="stable")
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for i in tqdm(range(0, n, batch), desc="teacher", unit="batch", dynamic_ncols=True):
            rows = order[i:i + batch].tolist()
            t = features.tensors(rows)
            mask = t["sentence_mask"].clone()
            if span_negatives:
                mask[:, 0] = True
            s, e, h = net(t["input_ids"], t["attention_mask"], t["token_type_ids"], mask)
            for j, r in enumerate(rows):
                length = int(features.lengths[r])
                start[r] = s[j, :length].float().numpy().copy()
                end[r] = e[j, :length].float().numpy().copy()
            has[rows] = h.float().numpy()
    return Teacher(has, start, end)


def cached_teacher(run: Path, out: Path, features: Features, span_negatives: bool,
                   bf16: bool) -> Teacher:
    """The teacher's logits from OUT/teacher.pt, or read now (and kept there)."""
    path = out / "teacher.pt"
    if path.exists():
        kept = torch.load(path, weights_only=False)
        if kept["rows"] == len(features.rows) and kept["run"] == str(run):
            return Teacher(kept["has"], kept["start"], kept["end"])
        raise SystemExit(f"{path} was read by another teacher or over other pairs: remove it")
    started = time.perf_counter()
    teacher = teacher_logits(load_teacher(run), features, span_negatives, bf16)
    tmp = path.with_suffix(".tmp")
    torch.save({"run": str(run), "rows": len(features.rows), "has": teacher.has,
                "start": teacher.start, "end": teacher.end}, tmp)
    tmp.replace(path)
    tqdm.write(f"teacher {run} read {len(features.rows)} pairs in "
               f"{time.perf_counter() - started:.0f} s")
    return teacher


def distillation_loss(start: torch.Tensor, end: torch.Tensor, has: torch.Tensor,
                      batch: dict[str, torch.Tensor], temperature: float) -> torch.Tensor:
    """KL from the teacher's softened start and end distributions, and cross-entropy against
    its has-answer probability; × T² so the gradients keep their scale as T changes."""
    t = temperature

    def kl(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        return F.kl_div(F.log_softmax(student / t, dim=-1), F.softmax(teacher / t, dim=-1),
                        reduction="batchmean")

    spans = 0.5 * (kl(start, batch["teacher_start"]) + kl(end, batch["teacher_end"]))
    answer = F.binary_cross_entropy_with_logits(has / t, torch.sigmoid(batch["teacher_has"] / t))
    return (spans + answer) * t * t
