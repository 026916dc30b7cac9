"""The reader's training loss (train/train_reader.py): what each head learns from."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F
from transformers import BertConfig, BertModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))

import distil
import numpy as np
from train_reader import Features, loss_of, make_reader

from korea_qa.reading_model.net import NEG, ReaderNet
from korea_qa.reading_model.pairs import Batch


def tiny_net() -> ReaderNet:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32)
    net = ReaderNet(BertModel(config, add_pooling_layer=False))
    net.eval()  # no dropout: the two losses below are compared exactly
    return net


def batch(has: list[float]) -> dict[str, torch.Tensor]:
    n, width = len(has), 8
    mask = torch.zeros(n, width, dtype=torch.bool)
    mask[:, 3:7] = True  # the unit's tokens; 0 is [CLS]
    positive = torch.tensor(has) > 0
    return {"input_ids": torch.randint(1, 50, (n, width)),
            "attention_mask": torch.ones(n, width, dtype=torch.long),
            "token_type_ids": torch.zeros(n, width, dtype=torch.long),
            "sentence_mask": mask, "has": torch.tensor(has),
            "start": torch.where(positive, 4, 0), "end": torch.where(positive, 5, 0)}


def span_grad(net: ReaderNet, b: dict[str, torch.Tensor], span_negatives: bool) -> float:
    net.zero_grad()
    loss_of(net, b, bf16=False, span_negatives=span_negatives).backward()
    grad = net.span.weight.grad
    return 0.0 if grad is None else float(grad.abs().sum())


def test_negatives_teach_the_span_heads_only_when_asked() -> None:
    net, negatives = tiny_net(), batch([0.0, 0.0, 0.0])
    assert span_grad(net, negatives, span_negatives=False) == 0.0
    assert span_grad(net, negatives, span_negatives=True) > 0.0
    assert span_grad(net, batch([1.0]), span_negatives=False) > 0.0


def test_with_span_negatives_a_negatives_span_is_cls() -> None:
    net, mixed = tiny_net(), batch([1.0, 0.0])
    mask = mixed["sentence_mask"].clone()
    mask[:, 0] = True  # [CLS] is a candidate for every row while training
    with torch.no_grad():
        start, end, has = net(mixed["input_ids"], mixed["attention_mask"],
                              mixed["token_type_ids"], mask)
        targets = torch.tensor([4, 0])  # the positive's span starts at 4; the negative's: [CLS]
        want = F.binary_cross_entropy_with_logits(has, mixed["has"]) + 0.5 * (
            F.cross_entropy(start, targets) + F.cross_entropy(end, torch.tensor([5, 0])))
        got = loss_of(net, mixed, bf16=False, span_negatives=True)
    assert float(got) == pytest.approx(float(want), abs=1e-6)


def teacher_batch(net: ReaderNet, b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch with `net`'s own logits as the teacher's (the mask training uses)."""
    mask = b["sentence_mask"].clone()
    mask[:, 0] = True
    with torch.no_grad():
        start, end, has = net(b["input_ids"], b["attention_mask"], b["token_type_ids"], mask)
    return b | {"teacher_start": start, "teacher_end": end, "teacher_has": has}


def test_distillation_weighs_the_teachers_loss_against_the_labels() -> None:
    net = tiny_net()
    b = teacher_batch(tiny_net(), batch([1.0, 0.0, 0.0]))
    b["teacher_has"] = torch.tensor([3.0, -2.0, 1.0])  # a teacher that disagrees somewhat
    with torch.no_grad():
        hard = loss_of(net, b, bf16=False, span_negatives=True)
        mask = b["sentence_mask"].clone()
        mask[:, 0] = True
        start, end, has = net(b["input_ids"], b["attention_mask"], b["token_type_ids"], mask)
        soft = distil.distillation_loss(start, end, has, b, temperature=2.0)
        mixed = loss_of(net, b, bf16=False, span_negatives=True, distil_weight=0.25,
                        temperature=2.0)
    assert float(mixed) == pytest.approx(0.75 * float(hard) + 0.25 * float(soft), abs=1e-6)
    assert float(soft) > 0


def test_a_student_that_reads_as_its_teacher_has_nothing_left_to_learn() -> None:
    """The distillation loss is at its minimum where the student's logits are the teacher's:
    zero gradient there, and a positive one once a student's start logits move."""
    b = teacher_batch(tiny_net(), batch([1.0, 0.0]))
    start = b["teacher_start"].clone().requires_grad_(True)
    end = b["teacher_end"].clone().requires_grad_(True)
    has = b["teacher_has"].clone().requires_grad_(True)
    distil.distillation_loss(start, end, has, b, temperature=2.0).backward()
    for g in (start.grad, end.grad, has.grad):
        assert g is not None and float(g.abs().max()) < 1e-6
    moved = b["teacher_start"].clone()
    moved[:, 4] += 3.0
    moved.requires_grad_(True)
    distil.distillation_loss(moved, b["teacher_end"], b["teacher_has"], b, 2.0).backward()
    assert moved.grad is not None and float(moved.grad[:, 4].min()) > 0


def test_teacher_logits_are_each_rows_own_and_padded_as_outside() -> None:
    """Rows of different lengths read in one batch: each row's logits are what the network
    gives that row alone, and tensors() pads past a row's end with NEG."""
    net = tiny_net()
    rows = []
    for length in (5, 8, 6):
        ids = np.arange(1, length + 1, dtype=np.int64)[None, :]
        mask = np.zeros((1, length), dtype=bool)
        mask[0, 2:length - 1] = True
        rows.append((Batch(input_ids=ids, attention_mask=np.ones_like(ids),
                           token_type_ids=np.zeros_like(ids), sentence_mask=mask,
                           offsets=np.zeros((1, length, 2), dtype=np.int64)), 0, 0, 0))
    features = Features.__new__(Features)
    features.rows, features.cut = rows, 0
    features.lengths = np.array([5, 8, 6])
    teacher = distil.teacher_logits(net, features, span_negatives=True, bf16=False)
    for r, (row, *_) in enumerate(rows):
        mask = torch.from_numpy(row.sentence_mask).clone()
        mask[:, 0] = True
        with torch.no_grad():
            start, _, has = net(*(torch.from_numpy(x) for x in (
                row.input_ids, row.attention_mask, row.token_type_ids)), mask)
        assert np.allclose(teacher.start[r], start[0].numpy(), atol=1e-5)
        assert teacher.has[r] == pytest.approx(float(has[0]), abs=1e-5)
    padded = teacher.tensors([0, 1], width=8)
    assert padded["teacher_start"].shape == (2, 8)
    assert torch.all(padded["teacher_start"][0, 5:] == NEG)
    assert torch.allclose(padded["teacher_start"][1], torch.from_numpy(teacher.start[1]))


def test_validation_reads_the_span_margin_over_cls_when_asked() -> None:
    """make_reader's `margin` rule scores [CLS] as the service's network does: a reading's
    margin is its span's start + end logits over [CLS]'s, and its probability that margin's
    sigmoid; the `has` rule leaves [CLS] out (margin None), as training validation always did."""
    from korea_qa.reading_model.pairs import Pair, Shape, encode
    from korea_qa.reading_model.runtime import encoder_folder, tokenizer_of

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32)
    net = ReaderNet(BertModel(config, add_pooling_layer=False))
    tokenizer, shape = tokenizer_of(encoder_folder()), Shape(max_len=64, unit="window")
    pairs = [Pair("Who wrote it?", "Kim wrote the letter in 2019.", ""),
             Pair("When?", "It came in July 2000 after talks.", "Before that.")]
    margin = make_reader(net, tokenizer, shape, bf16=False, rule="margin")(pairs)
    has = make_reader(net, tokenizer, shape, bf16=False)(pairs)
    b = encode(tokenizer, pairs, shape)
    mask = b.sentence_mask.copy()
    mask[:, 0] = True
    net.eval()  # reading put it back in training mode (dropout)
    with torch.no_grad():
        start, end, _ = net(*(torch.from_numpy(x) for x in (
            b.input_ids, b.attention_mask, b.token_type_ids, mask)))
    for i, r in enumerate(margin):
        null = float(start[i, 0] + end[i, 0])
        assert r.margin == pytest.approx(r.span_score - null, abs=1e-4)
        assert r.probability == pytest.approx(1 / (1 + math.exp(-r.margin)), abs=1e-6)
        assert (has[i].start, has[i].end) == (r.start, r.end)  # [CLS] is never the span
        assert has[i].margin is None
