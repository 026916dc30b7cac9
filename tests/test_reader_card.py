"""The shipped reader against its card: the file is the one the card names, and the model
reproduces the card's sample readings (exact spans, probabilities to 1e-3) on each backend
(int8: on a CPU like the card's); a reading does not depend on what else is in its batch."""

from __future__ import annotations

import json

import pytest

from korea_qa.errors import KoreaQAError
from korea_qa.models.cpu import cpu_info
from korea_qa.reading_model.pairs import Pair
from korea_qa.reading_model.runtime import BACKENDS, SHIPPED, ReaderModel
from korea_qa.util.files import sha256

CARD = json.loads((SHIPPED / "reader.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module", params=BACKENDS)
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> ReaderModel:
    if request.param == "openvino-int8" and not cpu_info().int8_dot_products:
        pytest.skip("no int8 dot products here: the int8 reader is refused (tested below)")
    return ReaderModel(backend=request.param, cache_dir=tmp_path_factory.mktemp("cache"))


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
    key = "sample"
    if model.backend == "openvino-int8":
        # int8 reads a little differently, so the card records its readings apart; and its
        # arithmetic differs with the CPU's int8 instructions, so they hold on a CPU like the
        # card's (the batch test below still runs everywhere).
        key, isa = "sample_int8", CARD["about"]["machine"].get("isa")
        if key not in CARD["about"] or isa != cpu_info().isa:
            pytest.skip(f"the card's int8 readings were taken on {isa}, this CPU is "
                        f"{cpu_info().isa}")
    sample = CARD["about"][key]
    pairs = [Pair(s["question"], s["sentence"]) for s in sample]
    for s, pair, got in zip(sample, pairs, model.read(pairs), strict=True):
        assert got.probability == pytest.approx(s["probability"], abs=1e-3)
        assert pair.sentence[got.start:got.end] == s["span"]


def test_int8_is_refused_on_a_cpu_without_int8_dot_products(monkeypatch) -> None:
    from korea_qa.models.cpu import CpuInfo
    from korea_qa.reading_model import runtime

    avx2 = CpuInfo("an older CPU", "AuthenticAMD", frozenset({"avx2", "fma"}), 2000.0, 2)
    monkeypatch.setattr(runtime, "cpu_info", lambda: avx2)
    with pytest.raises(KoreaQAError, match="needs int8 dot products"):
        ReaderModel(backend="openvino-int8")


def test_a_reading_does_not_depend_on_its_batch(model: ReaderModel) -> None:
    sample = CARD["about"]["sample"]
    pairs = [Pair(s["question"], s["sentence"]) for s in sample]
    together = model.read(pairs)
    alone = [model.read([p])[0] for p in pairs]
    for a, b in zip(together, alone, strict=True):
        assert (a.start, a.end) == (b.start, b.end)
        assert a.probability == pytest.approx(b.probability, abs=1e-4)


@pytest.mark.skipif(not cpu_info().int8_dot_products, reason="no int8 dot products here")
def test_int8_is_calibrated_once_into_the_cache_and_read_back(tmp_path) -> None:
    first = ReaderModel(backend="openvino-int8", cache_dir=tmp_path)
    saved = sorted(tmp_path.glob("reader/int8-*/model.*"))
    assert [p.name for p in saved] == ["model.bin", "model.xml"]
    before = saved[0].stat().st_mtime_ns
    again = ReaderModel(backend="openvino-int8", cache_dir=tmp_path)
    assert saved[0].stat().st_mtime_ns == before  # read, not calibrated again
    pairs = [Pair(s["question"], s["sentence"]) for s in CARD["about"]["sample"]]
    assert [(r.start, r.end, r.probability) for r in first.read(pairs)] == \
        [(r.start, r.end, r.probability) for r in again.read(pairs)]


def test_the_cards_no_answer_rule_makes_the_probability(tmp_path) -> None:
    import math

    (tmp_path / "reader.safetensors").write_bytes((SHIPPED / "reader.safetensors").read_bytes())
    pair = Pair(CARD["about"]["sample"][0]["question"], CARD["about"]["sample"][0]["sentence"])
    readings = {}
    for rule in ("has", "margin", "sum"):
        (tmp_path / "reader.json").write_text(json.dumps({**CARD, "no_answer": rule}))
        (readings[rule],) = ReaderModel(tmp_path, backend="torch").read([pair])
    has, margin = readings["has"].has_logit, readings["has"].margin
    assert margin is not None
    for rule, logit in (("has", has), ("margin", margin), ("sum", has + margin)):
        assert readings[rule].probability == pytest.approx(1 / (1 + math.exp(-logit)))
        assert (readings[rule].start, readings[rule].end) == (readings["has"].start,
                                                              readings["has"].end)
    (tmp_path / "reader.json").write_text(json.dumps({**CARD, "no_answer": "vote"}))
    with pytest.raises(KoreaQAError, match="unknown no_answer rule"):
        ReaderModel(tmp_path)


def test_each_backend_reads_at_its_own_thresholds() -> None:
    from korea_qa.reading_model.pairs import Shape
    from korea_qa.reading_model.runtime import Card

    about = {"shipped": {"threshold": 0.86}, "int8": {"threshold": 0.8},
             "news": {"threshold": 0.4}}
    card = Card(Shape(), 6, "0" * 64, about)
    assert (card.threshold, card.threshold_of("openvino")) == (0.86, 0.86)
    assert card.threshold_of("openvino-int8") == 0.8
    # The span from the threshold chosen on our news validation pages, where measured.
    assert (card.span_threshold_of("torch"), card.span_threshold_of("openvino")) == (0.4, 0.4)
    assert card.span_threshold_of("openvino-int8") == 0.8  # no news figures for int8 here
    bare = Card(Shape(), 6, "0" * 64, {})
    assert bare.threshold_of("openvino-int8") == bare.span_threshold_of("torch") == 0.5


def test_auto_takes_int8_only_with_int8_dot_products_and_int8_figures(monkeypatch) -> None:
    from korea_qa.models.cpu import CpuInfo
    from korea_qa.reading_model import runtime
    from korea_qa.reading_model.pairs import Shape
    from korea_qa.reading_model.runtime import Card, resolve_backend

    def on(flags: set[str]) -> None:
        cpu = CpuInfo("a CPU", "GenuineIntel", frozenset(flags), 2000.0, 2)
        monkeypatch.setattr(runtime, "cpu_info", lambda: cpu)

    measured = Card(Shape(), 6, "0" * 64, {"int8": {"threshold": 0.8}})
    unmeasured = Card(Shape(), 6, "0" * 64, {})
    on({"avx2", "fma", "avx512f", "avx512_vnni"})
    assert resolve_backend("auto", measured) == "openvino-int8"
    assert resolve_backend("auto", unmeasured) == "torch"
    assert resolve_backend("openvino", measured) == "openvino"
    on({"avx2", "fma"})
    assert resolve_backend("auto", measured) == "torch"
