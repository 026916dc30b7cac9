"""The shipped reader against its card: the file is the one the card names, and the model
reproduces the card's sample readings (exact spans, probabilities to 1e-3) on each backend; a
reading does not depend on what else is in its batch."""

from __future__ import annotations

import json

import pytest

from korea_qa.errors import KoreaQAError
from korea_qa.reading_model.pairs import Pair
from korea_qa.reading_model.runtime import BACKENDS, SHIPPED, ReaderModel
from korea_qa.util.files import sha256

CARD = json.loads((SHIPPED / "reader.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=BACKENDS)
def model(request: pytest.FixtureRequest) -> ReaderModel:
    return ReaderModel(backend=request.param)


def test_the_weights_are_the_ones_the_card_names() -> None:
    assert sha256(SHIPPED / "reader.safetensors") == CARD["sha256"]
    card_text = (SHIPPED / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert CARD["sha256"] in card_text


def test_a_file_that_does_not_match_its_card_is_refused(tmp_path) -> None:
    (tmp_path / "reader.json").write_text(json.dumps({**CARD, "sha256": "0" * 64}))
    (tmp_path / "reader.safetensors").write_bytes((SHIPPED / "reader.safetensors").read_bytes())
    with pytest.raises(KoreaQAError, match="does not match its card"):
        ReaderModel(tmp_path)
    with pytest.raises(KoreaQAError, match="unknown reader backend"):
        ReaderModel(backend="gpu")


def test_the_model_reproduces_the_cards_sample(model: ReaderModel) -> None:
    sample = CARD["about"]["sample"]
    pairs = [Pair(s["question"], s["sentence"]) for s in sample]
    for s, pair, got in zip(sample, pairs, model.read(pairs), strict=True):
        assert got.probability == pytest.approx(s["probability"], abs=1e-3)
        assert pair.sentence[got.start:got.end] == s["span"]


def test_a_reading_does_not_depend_on_its_batch(model: ReaderModel) -> None:
    sample = CARD["about"]["sample"]
    pairs = [Pair(s["question"], s["sentence"]) for s in sample]
    together = model.read(pairs)
    alone = [model.read([p])[0] for p in pairs]
    for a, b in zip(together, alone, strict=True):
        assert (a.start, a.end) == (b.start, b.end)
        assert a.probability == pytest.approx(b.probability, abs=1e-4)
