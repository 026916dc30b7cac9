"""The reader network: the embedder's BERT encoder (optionally its first layers only), a
has-answer head on [CLS] and start/end heads on every token.

Training starts it from the bundled all-MiniLM-L6-v2 weights (`from_encoder`); serving builds
the same shape from the encoder's config alone (`from_config`) and loads the shipped weights
into it, so nothing is read from the embedder's weights at run time.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import BertConfig, BertModel

NEG = -1e4  # logit for tokens outside the sentence (finite: bf16 and ONNX stay well behaved)


def _truncate(encoder: BertModel, layers: int | None) -> BertModel:
    if layers is not None and layers < encoder.config.num_hidden_layers:
        encoder.encoder.layer = encoder.encoder.layer[:layers]
        encoder.config.num_hidden_layers = layers
    return encoder


class ReaderNet(nn.Module):
    def __init__(self, encoder: BertModel) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(0.1)
        self.span = nn.Linear(hidden, 2)
        self.has = nn.Linear(hidden, 1)

    @classmethod
    def from_encoder(cls, path: Path, layers: int | None = None) -> ReaderNet:
        """Started from the pretrained encoder in `path` (training)."""
        encoder = BertModel.from_pretrained(str(path), add_pooling_layer=False)
        return cls(_truncate(encoder, layers))

    @classmethod
    def from_config(cls, path: Path, layers: int | None = None) -> ReaderNet:
        """The same shape with untrained weights, from the encoder's config.json only."""
        config = BertConfig.from_json_file(str(path / "config.json"))
        return cls(_truncate(BertModel(config, add_pooling_layer=False), layers))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor, sentence_mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Start and end logits (outside the sentence: NEG) and the has-answer logit."""
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state
        hidden = self.dropout(hidden)
        span = self.span(hidden).float()
        outside = ~sentence_mask
        start = span[..., 0].masked_fill(outside, NEG)
        end = span[..., 1].masked_fill(outside, NEG)
        return start, end, self.has(hidden[:, 0]).float().squeeze(-1)
