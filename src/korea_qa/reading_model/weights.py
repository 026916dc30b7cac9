"""The shipped form of the reader's weights: int8 matrices with one scale per row, the rest
in float16, in one safetensors file.

Only the weights are int8; activations stay float32, so a question's reading does not depend
on what else is in its batch (dynamic int8 would scale activations per batch). Per-row scales
keep each word's embedding and each output unit at its own range. The file is about a quarter
of the float32 state dict; the card records what this costs in F1 (model card, "Form").
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

MIN_ROWS = 64  # smaller matrices (token types, heads) stay float16: too small to matter


def _quantised(name: str, value: np.ndarray) -> bool:
    return value.ndim == 2 and min(value.shape) >= MIN_ROWS and name.endswith("weight")


def pack(state: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """float32 tensors to the shipped arrays: NAME.q (int8) and NAME.scale, or NAME.f16."""
    out: dict[str, np.ndarray] = {}
    for name, tensor in state.items():
        value = tensor.detach().float().numpy()
        if _quantised(name, value):
            scale = np.abs(value).max(axis=1, keepdims=True) / 127.0
            scale[scale == 0] = 1.0
            out[f"{name}.q"] = np.clip(np.rint(value / scale), -127, 127).astype(np.int8)
            out[f"{name}.scale"] = scale.astype(np.float32)
        else:
            out[f"{name}.f16"] = value.astype(np.float16)
    return out


def unpack(arrays: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The shipped arrays back to float32 tensors, by parameter name."""
    out: dict[str, torch.Tensor] = {}
    for key, value in arrays.items():
        name, kind = key.rsplit(".", 1)
        if kind == "q":
            out[name] = torch.from_numpy(value.astype(np.float32) * arrays[f"{name}.scale"])
        elif kind == "f16":
            out[name] = torch.from_numpy(value.astype(np.float32))
    return out


def save(state: Mapping[str, torch.Tensor], path: Path) -> None:
    save_file(pack(state), str(path))


def load(path: Path) -> dict[str, torch.Tensor]:
    return unpack(load_file(str(path)))
