"""What machine a benchmark ran on: every figure is printed with it (machines here differ by
2-4x, so figures are compared only within one run). The CPU facts come from
`korea_qa.models.cpu`, the same the backend choice records."""

from __future__ import annotations

import os

from korea_qa.models.cpu import cpu_info


def cpu_model() -> str:
    return cpu_info().model


def describe() -> dict[str, object]:
    info = cpu_info()
    return {"cpu": info.model, "flags": info.summary()["flags"], "isa": info.isa,
            "cores": info.cores, "load_average": [round(x, 2) for x in os.getloadavg()]}
