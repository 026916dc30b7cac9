"""`backend = "auto"`: the inference backends are measured on this machine once, the fastest
that keeps the quality bound is used, and the choice is remembered. This module judges
(the candidates, the checks, the choice) and keeps the record; `korea_qa.models.backend_probe`
measures.

Which backend is fastest depends on the CPU (OpenVINO in bfloat16 on Intel AMX, int8 where
there is VNNI, ...), so it is measured where the service runs, not fixed at development
time, on a short fixed workload (`korea_qa.models.backend_probe`).

"Keeps the quality bound" is judged in two steps. Offline, the bench measures SciFact test
nDCG@10 of every backend against PyTorch float32 (bench/README.md); only the backends that
stayed within 0.005 there, and whose vectors do not depend on their batch mates, are
candidates (`CANDIDATES`). At selection, each candidate's vectors of the probe text are
compared with the float32 reference (ONNX Runtime float32, the PyTorch graph to 2e-5):
a candidate whose cosines fall below `MIN_MEAN_COSINE` / `MIN_COSINE` (as int8 would on a
CPU whose kernels saturate), or whose vector of a text alone differs from the same text's
vector in a batch by more than `MAX_BATCH_DIFF`, is refused on this machine.

Where the CPU's flags already decide (`candidates_for`), only the candidates they leave are
measured; the others are measured too if those all fail a check.

The choice, the reason and every figure go to `<cache_dir>/backend/<model>.json` and the
log; later starts read it back (milliseconds) while the CPU, the model weights, the thread
count and the package versions are the same, and measure again when any of them changes.
Nothing here runs unless asked: resolving `auto` is a start-up step (`korea_qa.startup`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from korea_qa.errors import KoreaQAError
from korea_qa.models.cpu import CpuInfo, cpu_info, resolve_threads
from korea_qa.settings import Settings

# Validated offline by the bench (SciFact within 0.005 of PyTorch float32, dense and
# hybrid; vectors independent of batch mates). onnx-int8 is left out: dynamic
# quantisation makes a text's vector depend on the other texts in its batch.
CANDIDATES: tuple[str, ...] = ("openvino-int8", "openvino", "onnx", "torch")
REFERENCES: tuple[str, ...] = ("onnx", "torch")
MIN_MEAN_COSINE = 0.995
MIN_COSINE = 0.985
MAX_BATCH_DIFF = 2e-3
PACKAGES = ("korea-qa", "onnxruntime", "openvino", "nncf", "torch", "sentence-transformers",
            "tokenizers")


@dataclass(frozen=True)
class Trial:
    """One backend on the probe workload. Times are the best of the rounds."""

    backend: str
    question_ms: float = float("nan")  # median, one question per call
    passages_per_s: float = float("nan")
    workload_s: float = float("inf")  # all questions one by one + all passages batched
    cosine_mean: float = float("nan")  # to the float32 reference
    cosine_min: float = float("nan")
    batch_max_diff: float = float("nan")  # a text alone vs in a batch, max |difference|
    error: str | None = None

    @property
    def problem(self) -> str | None:
        if self.error:
            return self.error
        if not (self.cosine_mean >= MIN_MEAN_COSINE and self.cosine_min >= MIN_COSINE):
            return (f"vectors too far from float32 (cosine mean {self.cosine_mean:.4f}, "
                    f"min {self.cosine_min:.4f})")
        if not self.batch_max_diff <= MAX_BATCH_DIFF:
            return f"vectors depend on batch mates (max difference {self.batch_max_diff:.2g})"
        return None


@dataclass(frozen=True)
class Choice:
    backend: str
    reason: str
    key: str = ""
    measured_at: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    trials: tuple[Trial, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Choice:
        data = json.loads(text)
        data["trials"] = tuple(Trial(**t) for t in data.get("trials", ()))
        return cls(**data)


def choose(trials: Sequence[Trial]) -> tuple[str, str]:
    """The fastest trial without a problem, and why."""
    good = sorted((t for t in trials if t.problem is None), key=lambda t: t.workload_s)
    if not good:
        raise KoreaQAError("no inference backend passed the checks on this machine: " +
                           "; ".join(f"{t.backend}: {t.problem}" for t in trials))
    best = good[0]
    figures = (f"{best.workload_s:.3f} s; question {best.question_ms:.2f} ms, "
               f"{best.passages_per_s:.1f} passages/s; cosine mean {best.cosine_mean:.4f}, "
               f"min {best.cosine_min:.4f}")
    why = (f"fastest of {', '.join(t.backend for t in good)} on the probe workload ({figures})"
           if len(trials) > 1 else f"passed the checks on the probe workload ({figures})")
    refused = [f"{t.backend} ({t.problem})" for t in trials if t.problem]
    return best.backend, why + (f"; refused: {'; '.join(refused)}" if refused else "")


# ---------------------------------------------------------------- candidates and the record


def candidates_here() -> tuple[tuple[str, ...], str]:
    return candidates_for(cpu_info())


def candidates_for(cpu: CpuInfo) -> tuple[tuple[str, ...], str]:
    """The candidates worth measuring on this CPU, and why. Where the CPU has int8 dot
    products (VNNI) and no AMX, OpenVINO int8 was the fastest on every such CPU measured
    (bench/README.md: 1.4x the next on the AMD EPYC, 2.7x on the Intel Xeon), so it alone is
    measured and checked; the others only if it fails a check. With AMX, bfloat16 may
    compete, so both OpenVINO precisions are measured; elsewhere every candidate."""
    if {"amx_tile", "amx_int8"} <= cpu.flags:
        return ("openvino-int8", "openvino"), "AMX: OpenVINO's int8 and bfloat16"
    if cpu.int8_dot_products:
        return ("openvino-int8",), f"int8 dot products ({', '.join(cpu.int8_dot_products)})"
    return CANDIDATES, "no int8 dot products: every candidate"


def record_path(settings: Settings) -> Path:
    from korea_qa.models.export import model_key

    return settings.cache_dir / "backend" / f"{model_key(settings.model_path())}.json"


def read_record(path: Path, key: str | None = None) -> Choice | None:
    """The recorded choice; None when missing, unreadable or made for another `key`."""
    try:
        choice = Choice.from_json(path.read_text())
    except (OSError, ValueError, TypeError):
        return None
    return choice if key is None or choice.key == key else None


def choice_key(settings: Settings, candidates: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """What a choice depends on, and its hash: CPU, cores, threads, model weights, versions."""
    from korea_qa.models.export import model_key

    cpu = cpu_info()
    context = {"cpu": cpu.summary(), "all_flags_sha": hashlib.sha256(
                   " ".join(sorted(cpu.flags)).encode()).hexdigest()[:16],
               "threads": resolve_threads(settings.threads),
               "model": model_key(settings.model_path()), "versions": versions(),
               "candidates": list(candidates),
               "bounds": [MIN_MEAN_COSINE, MIN_COSINE, MAX_BATCH_DIFF]}
    blob = json.dumps({k: v for k, v in context.items() if k != "cpu"} | {
        "cpu": [cpu.model, cpu.cores]}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16], context


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out
