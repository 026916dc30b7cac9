"""What machine a benchmark ran on: every figure is printed with it (machines here differ by
2-4x, so figures are compared only within one run)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

INTERESTING = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile",
               "amx_bf16", "amx_int8")


def _cpuinfo() -> list[str]:
    path = Path("/proc/cpuinfo")
    return path.read_text().splitlines() if path.exists() else []


def cpu_model() -> str:
    names = [ln.split(":", 1)[1].strip() for ln in _cpuinfo() if ln.startswith("model name")]
    return names[0] if names else platform.machine()


def cpu_flags() -> list[str]:
    """The SIMD flags that decide inference and vector-search speed."""
    flags = next((ln.split(":", 1)[1].split() for ln in _cpuinfo() if ln.startswith("flags")),
                 [])
    return [f for f in INTERESTING if f in flags]


def describe() -> dict[str, object]:
    return {"cpu": cpu_model(), "flags": cpu_flags(), "cores": len(os.sched_getaffinity(0)),
            "load_average": [round(x, 2) for x in os.getloadavg()]}
