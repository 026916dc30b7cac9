"""The reader's training loss (train/train_reader.py): what each head learns from."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F
from transformers import BertConfig, BertModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))

from train_reader import loss_of

from korea_qa.reading_model.net import ReaderNet


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
