"""The reader on OpenVINO: float32 (`reader_backend=openvino`), converted at load; or int8
(`openvino-int8`), quantised once with NNCF, static activation scales, kept in the cache folder.

Static scales come from calibration, not from the batch (as for the embedder's int8,
korea_qa.models.export); even so the runtime pads each int8 pair to a width set by its own
length, never by its batch mates', since padding can still tip an activation across a step
(`runtime` says how much). The transformer
model type keeps attention's activation-by-activation products and the normalisations in
float and applies SmoothQuant. Calibration reads fixed pairs built from the text the package
ships for the embedder's calibration (`korea_qa/data/calibration.txt`): each of its
questions with one of its passages, in order; nothing is downloaded or sampled at random.

Measured on the window reader (eval/README.md, "Third attempt"): about half the float32
OpenVINO time on a search's 5-7 windows, F1 on the news validation pages within 0.1. The
probabilities shift a little, so figures and decisions are stated per backend.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from korea_qa.reading_model.pairs import Batch, Pair, Shape, encode
from korea_qa.util.files import atomic_path, fsync_file, locked, replace_durably
from korea_qa.util.steps import step

RECIPE = "2"  # bump when the calibration pairs or NNCF options below change
PAIRS = 160
PASSAGE_WORDS = 110
INPUTS = ("input_ids", "attention_mask", "token_type_ids", "sentence_mask")


def inputs(b: Batch) -> tuple[np.ndarray, ...]:
    """The network's inputs: its mask of scored positions is the unit's tokens and [CLS]
    (whose start + end logits are the no-answer score a span is measured against; spans
    are still taken from the unit's tokens only, `decode.best_spans`)."""
    scored = b.sentence_mask.copy()
    scored[:, 0] = True
    return b.input_ids, b.attention_mask, b.token_type_ids, scored


def calibration_pairs() -> list[Pair]:
    """The shipped calibration text's questions, each with one of its longer passages."""
    data = resources.files("korea_qa") / "data" / "calibration.txt"
    lines = [x for x in data.read_text(encoding="utf-8").splitlines() if x.strip()]
    questions = [x for x in lines if x.rstrip().endswith("?")]
    passages = [" ".join(x.split()[:PASSAGE_WORDS]) for x in lines if len(x.split()) > 40]
    return [Pair(q, passages[i % len(passages)]) for i, q in enumerate(questions[:PAIRS])]


def digest(weights_sha256: str, shape: Shape) -> str:
    """Names the quantised model: the weights, their input shape, the recipe and the pairs."""
    pairs = "\n".join(f"{p.question}\t{p.sentence}" for p in calibration_pairs())
    blob = f"{RECIPE}\n{weights_sha256}\n{shape}\n{pairs}"
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def to_openvino(net: Any, tokenizer: Tokenizer) -> Any:
    """The network as an OpenVINO model, batch and length left free, inputs named."""
    import openvino as ov
    import torch

    example = encode(tokenizer, [Pair("a question", "a sentence to read.")] * 2)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes, once per start
        model = ov.convert_model(net, example_input=tuple(
            torch.from_numpy(x) for x in inputs(example)))
    for port, name in zip(model.inputs, INPUTS, strict=True):
        port.get_tensor().set_names({name})
    return model


def quantised(net: Any, tokenizer: Tokenizer, shape: Shape, target: Path | None) -> Any:
    """The int8 model: read from `target` when it is there, else calibrated (and saved to
    `target`, when given, for the next start)."""
    import openvino as ov

    if target is not None and target.exists():
        return ov.Core().read_model(str(target))
    with step(f"calibrating the reader in int8 on {PAIRS} pairs (once)"):
        model = _calibrate(to_openvino(net, tokenizer), tokenizer, shape)
    if target is not None:
        with locked(target.parent):
            if not target.exists():
                _save(model, target)
    return model


def _calibrate(model: Any, tokenizer: Tokenizer, shape: Shape) -> Any:
    import nncf

    nncf.set_log_level(logging.ERROR)
    samples = [dict(zip(INPUTS, (np.ascontiguousarray(x) for x in inputs(
        encode(tokenizer, [p], shape))), strict=True)) for p in calibration_pairs()]
    return nncf.quantize(model, nncf.Dataset(samples), model_type=nncf.ModelType.TRANSFORMER,
                         preset=nncf.QuantizationPreset.MIXED, subset_size=len(samples))


def _save(model: Any, target: Path) -> None:
    import openvino as ov

    target.parent.mkdir(parents=True, exist_ok=True)
    # The weights (.bin, beside the .xml) go into place first: the .xml says "done".
    with atomic_path(target, suffix=".xml") as tmp:
        ov.save_model(model, str(tmp))
        fsync_file(tmp.with_suffix(".bin"))
        replace_durably(tmp.with_suffix(".bin"), target.with_suffix(".bin"))


def compiled(model: Any, threads: int) -> Any:
    """Compiled for the CPU in float32 where not int8: without the hint OpenVINO runs bf16
    where the CPU has it, which would make a reading differ between machines."""
    import openvino as ov

    return ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                  "INFERENCE_NUM_THREADS": threads})
