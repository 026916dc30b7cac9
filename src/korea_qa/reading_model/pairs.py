"""Question-text pairs as model inputs: `[CLS] question [SEP] context text [SEP]`.

The text read is a unit of a passage: one sentence, or a window of consecutive sentences
packed up to a token budget (`Shape.unit`; the card says which the model was trained on).
The context (the tail of the text before the unit) lets the reader resolve "he" or "the
team"; the answer may only be taken from the unit. Token offsets are kept, relative to the
unit, so a predicted span maps back to exact characters.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Encoding, Tokenizer


@dataclass(frozen=True, slots=True)
class Shape:
    """How long each part of a pair may be, in tokens."""

    max_len: int = 96
    max_question: int = 32
    max_context: int = 16
    unit: str = "sentence"  # what one pair reads: "sentence" or "window" (of sentences)

    @property
    def window_tokens(self) -> int:
        """Most tokens of text a window packs: what is left when question and context are
        at their longest, so a window is never cut."""
        return self.max_len - self.max_question - self.max_context - 3


@dataclass(frozen=True, slots=True)
class Unit:
    """A piece of a text read as one pair: characters [start, end), its context from
    `context_start` (the start of the sentence before it)."""

    start: int
    end: int
    context_start: int


# How a text with its sentence spans is cut into units (a model's `units`, bound to its
# tokenizer and shape).
Units = Callable[[str, Sequence[tuple[int, int]]], list[Unit]]


def sentence_units(text: str, sentences: Sequence[tuple[int, int]]) -> list[Unit]:
    """Each sentence a unit, read with the previous sentence as its context."""
    return [Unit(s, e, sentences[i - 1][0] if i else s) for i, (s, e) in enumerate(sentences)]


def units(tokenizer: Tokenizer, shape: Shape, text: str,
          sentences: Sequence[tuple[int, int]]) -> list[Unit]:
    """The units a text is read in: its sentences, or windows of consecutive sentences of at
    most `shape.window_tokens` tokens (a longer sentence is a window alone)."""
    if shape.unit == "sentence":
        return sentence_units(text, sentences)
    if shape.unit != "window":
        raise ValueError(f"unknown reading unit {shape.unit!r}")
    lengths = [len(e.ids) for e in tokenizer.encode_batch(
        [text[s:e] for s, e in sentences], add_special_tokens=False)] if sentences else []
    out: list[Unit] = []
    first, used = 0, 0
    for i, n in enumerate(lengths):
        if i > first and used + n > shape.window_tokens:
            out.append(_window(sentences, first, i))
            first, used = i, 0
        used += n
    if sentences:
        out.append(_window(sentences, first, len(sentences)))
    return out


def _window(sentences: Sequence[tuple[int, int]], first: int, stop: int) -> Unit:
    return Unit(sentences[first][0], sentences[stop - 1][1],
                sentences[first - 1][0] if first else sentences[first][0])


@dataclass(frozen=True, slots=True)
class Pair:
    question: str
    sentence: str  # the unit read: a sentence or a window of sentences
    context: str = ""  # text before the unit in its passage (its tail is used)


@dataclass(frozen=True, slots=True)
class Batch:
    """Model inputs for n pairs padded to one length, and where each sentence's tokens are."""

    input_ids: np.ndarray  # (n, L) int64
    attention_mask: np.ndarray  # (n, L) int64
    token_type_ids: np.ndarray  # (n, L) int64
    sentence_mask: np.ndarray  # (n, L) bool: tokens of the sentence (answer may start/end here)
    offsets: np.ndarray  # (n, L, 2) int32: character offsets in the sentence (-1 elsewhere)

    @property
    def lengths(self) -> np.ndarray:
        """Each row's own length in tokens (without padding)."""
        return self.attention_mask.sum(axis=1)

    def rows(self, rows: Sequence[int], width: int) -> Batch:
        """These rows padded (or cut) to `width` tokens; never shorter than the longest."""
        if width < int(self.lengths[list(rows)].max()):
            raise ValueError(f"width {width} would cut a row")
        out = []
        for name, fill in (("input_ids", 0), ("attention_mask", 0), ("token_type_ids", 0),
                           ("sentence_mask", False), ("offsets", -1)):
            a = getattr(self, name)[list(rows), :width]
            if a.shape[1] < width:
                pad = np.full((len(rows), width - a.shape[1], *a.shape[2:]), fill, a.dtype)
                a = np.concatenate([a, pad], axis=1)
            out.append(a)
        return Batch(*out)


def _ids(tokenizer: Tokenizer, token: str) -> int:
    found = tokenizer.token_to_id(token)
    if found is None:
        raise ValueError(f"the tokenizer has no {token} token")
    return found


def encode(tokenizer: Tokenizer, pairs: Sequence[Pair], shape: Shape = Shape()) -> Batch:
    """Encode pairs, truncating the question, then the context, then the sentence's end."""
    cls, sep = _ids(tokenizer, "[CLS]"), _ids(tokenizer, "[SEP]")
    questions = tokenizer.encode_batch([p.question for p in pairs], add_special_tokens=False)
    sentences = tokenizer.encode_batch([p.sentence for p in pairs], add_special_tokens=False)
    contexts = tokenizer.encode_batch([p.context[-400:] for p in pairs],
                                      add_special_tokens=False)
    rows = [_row(q, c, s, cls, sep, shape) for q, c, s in zip(questions, contexts, sentences,
                                                             strict=True)]
    width = max(len(r[0]) for r in rows)
    n = len(rows)
    batch = Batch(np.zeros((n, width), np.int64), np.zeros((n, width), np.int64),
                  np.zeros((n, width), np.int64), np.zeros((n, width), bool),
                  np.full((n, width, 2), -1, np.int32))
    for i, (ids, types, first, offsets) in enumerate(rows):
        batch.input_ids[i, :len(ids)] = ids
        batch.attention_mask[i, :len(ids)] = 1
        batch.token_type_ids[i, :len(ids)] = types
        batch.sentence_mask[i, first:first + len(offsets)] = True
        batch.offsets[i, first:first + len(offsets)] = offsets
    return batch


def _row(question: Encoding, context: Encoding, sentence: Encoding, cls: int, sep: int,
         shape: Shape) -> tuple[list[int], list[int], int, list[tuple[int, int]]]:
    """One pair's ids, token types, first sentence token and the sentence tokens' offsets."""
    q = question.ids[:shape.max_question]
    room = shape.max_len - len(q) - 3
    s_ids, s_offsets = sentence.ids[:room], sentence.offsets[:room]
    c = context.ids[len(context.ids) - min(shape.max_context, room - len(s_ids)):] \
        if room > len(s_ids) else []
    ids = [cls, *q, sep, *c, *s_ids, sep]
    types = [0] * (len(q) + 2) + [1] * (len(c) + len(s_ids) + 1)
    return ids, types, len(q) + 2 + len(c), list(s_offsets)


def char_span_to_tokens(offsets: np.ndarray, mask: np.ndarray, start: int,
                        end: int) -> tuple[int, int] | None:
    """The first and last token of one row covering characters [start, end) of its sentence,
    or None when the span reaches past the sentence's kept tokens."""
    inside = np.flatnonzero(mask)
    if not len(inside) or offsets[inside[-1], 1] < end:
        return None
    first = inside[offsets[inside, 1] > start]
    last = inside[offsets[inside, 0] < end]
    if not len(first) or not len(last) or first[0] > last[-1]:
        return None
    return int(first[0]), int(last[-1])
