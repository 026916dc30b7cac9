"""How the reader's pairs are cut into model calls: int8 by padded width, float32 in order."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer

from korea_qa.reading_model.pairs import Pair, encode
from korea_qa.reading_model.runtime import (
    BATCH,
    WIDTH_STEP,
    by_width,
    encoder_folder,
    in_order,
    tokenizer_of,
)


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return tokenizer_of(encoder_folder())


def test_int8_groups_rows_of_one_width_each_row_once() -> None:
    lengths = np.array([40, 70, 33, 64, 65, 190, 32, 96, 97])
    groups = by_width(lengths)
    seen = sorted(r for rows, _ in groups for r in rows)
    assert seen == list(range(len(lengths)))
    for rows, width in groups:
        assert width % WIDTH_STEP == 0
        # every row of a group has the width its own length gives it, whatever its mates
        assert all(width - WIDTH_STEP < lengths[r] <= width for r in rows)
    assert {w for _, w in groups} == {32, 64, 96, 128, 192}


def test_int8_groups_hold_at_most_a_batch() -> None:
    groups = by_width(np.full(BATCH * 2 + 3, 50))
    assert [len(rows) for rows, _ in groups] == [BATCH, BATCH, 3]
    assert {w for _, w in groups} == {64}


def test_float32_reads_in_order_padded_to_the_longest() -> None:
    lengths = np.array([10, 50, 20] * BATCH)
    groups = in_order(lengths)
    assert [r for rows, _ in groups for r in rows] == list(range(len(lengths)))
    assert all(width == 50 for _, width in groups)


def test_rows_are_padded_like_a_batch_encoded_at_that_width(tokenizer: Tokenizer) -> None:
    pairs = [Pair("Who met whom?", "The two leaders met in Pyongyang in June."),
             Pair("Where?", "Seoul."),
             Pair("When did the summit of the two leaders take place, and where?",
                  "It took place in the summer of 2000 in the northern capital, Pyongyang.")]
    whole = encode(tokenizer, pairs)
    longest = int(whole.lengths.max())
    picked = whole.rows([1, 0], longest + 7)
    alone = encode(tokenizer, [pairs[1], pairs[0]])
    assert picked.input_ids.shape == (2, longest + 7)
    n = alone.input_ids.shape[1]
    for name in ("input_ids", "attention_mask", "token_type_ids", "sentence_mask", "offsets"):
        got, want = getattr(picked, name), getattr(alone, name)
        assert np.array_equal(got[:, :n], want)
    assert not picked.attention_mask[:, n:].any() and not picked.sentence_mask[:, n:].any()
    assert (picked.offsets[:, n:] == -1).all()
    assert picked.lengths.tolist() == alone.lengths.tolist()


def test_rows_refuse_a_width_that_would_cut_one(tokenizer: Tokenizer) -> None:
    whole = encode(tokenizer, [Pair("Who?", "A sentence of several words to read.")])
    with pytest.raises(ValueError, match="would cut"):
        whole.rows([0], int(whole.lengths[0]) - 1)
