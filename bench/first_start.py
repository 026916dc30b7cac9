"""The first start's levers, each measured on this machine (bench/README.md, "First start").

1. Converting the model: to ONNX with `torch.onnx` (what `korea_qa.models.export` does, then read by
   OpenVINO) against straight to OpenVINO (`openvino.convert_model` on the same module),
   each in a fresh process, imports included, in alternating rounds.
2. Measuring the backends: every candidate against the candidates this CPU's flags leave
   (`korea_qa.models.backends.candidates_for`), from exported and calibrated files already there.
3. The server's start-up: what importing the serving modules costs and whether PyTorch is
   among them; loading the model from the cache; BM25's loops compiled (an empty numba
   cache, as in a fresh clone) against loaded from numba's cache.

Cache folders are temporary (the model's exports are copied from KOREA_QA_CACHE_DIR, made
first when missing). Prints a table with the machine; JSON in bench/results/.

    .venv/bin/python bench/first_start.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe

import korea_qa.models.backend_probe as probe
import korea_qa.models.backends as backends
import korea_qa.models.export as export
from korea_qa.models.embed import load_backend
from korea_qa.settings import Settings

ROOT = Path(__file__).resolve().parents[1]

TO_ONNX = """
import sys, time; t0 = time.perf_counter()
from pathlib import Path
from korea_qa.models.export import _export_onnx
import openvino as ov
_export_onnx(sys.argv[1], Path(sys.argv[2]))
ov.Core().read_model(sys.argv[2])
print(time.perf_counter() - t0)
"""
TO_OPENVINO = """
import sys, time; t0 = time.perf_counter()
import openvino as ov, torch
from korea_qa.models.export import INPUTS, traceable
model, example = traceable(sys.argv[1])
with torch.no_grad():
    converted = ov.convert_model(model, example_input=dict(zip(INPUTS, example)), input=[
        (name, ov.PartialShape([-1, -1]), ov.Type.i64) for name in INPUTS])
ov.save_model(converted, sys.argv[2].replace(".onnx", ".xml"), compress_to_fp16=False)
print(time.perf_counter() - t0)
"""
SERVE_IMPORTS = """
import json, sys, time; t0, c0 = time.perf_counter(), time.process_time()
import korea_qa.cli, korea_qa.startup, korea_qa.library.lifecycle, korea_qa.api, uvicorn
import openvino, tokenizers
print(json.dumps([time.perf_counter() - t0, time.process_time() - c0, sorted(
    m for m in sys.modules if m.split(".")[0] in ("torch", "transformers", "nncf", "numba"))]))
"""
WARM_UP = """
import time; t0 = time.perf_counter()
from korea_qa import lexical_top
t1 = time.perf_counter(); lexical_top.warm_up(); print(time.perf_counter() - t1)
"""


def child(code: str, *args: str, env: dict[str, str] | None = None,
          bytecode: bool = True) -> str:
    """Run `code` in a fresh interpreter; its last line of output. `bytecode`: Python keeps
    the bytecode of what it imports (as under `make`, whatever the environment says)."""
    env = {**os.environ, **(env or {})}
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, check=True, env=env)
    return done.stdout.strip().splitlines()[-1]


def conversions(model_path: str, work: Path, rounds: int) -> dict[str, list[float]]:
    # Both import the same packages: compile their bytecode once first, for neither to pay.
    child("import torch, transformers, openvino, korea_qa.models.export; "
          "from transformers import AutoModel; print(0)")
    out: dict[str, list[float]] = {"onnx_then_read": [], "straight_to_openvino": []}
    for i in range(rounds):
        out["onnx_then_read"].append(float(child(TO_ONNX, model_path, str(work / f"a{i}.onnx"))))
        out["straight_to_openvino"].append(
            float(child(TO_OPENVINO, model_path, str(work / f"b{i}.onnx"))))
    return out


def measurements(settings: Settings) -> dict[str, Any]:
    """The measurement alone (exports present), all candidates, then the CPU's."""
    out: dict[str, Any] = {}
    narrowed, why = backends.candidates_here()
    for name, candidates in (("all", backends.CANDIDATES), ("narrowed", narrowed)):
        started = time.perf_counter()
        choice = probe.measure(settings, candidates, loader=load_backend, why=why)
        out[name] = {"candidates": list(candidates), "seconds": time.perf_counter() - started,
                     "chosen": choice.backend}
    return out


def start_up(settings: Settings, work: Path) -> dict[str, Any]:
    """Imports compiling every module (no bytecode kept), then as a second start makes them
    (the first one kept the bytecode)."""
    # Bytecode in folders of their own, so what earlier runs kept in .venv does not count.
    compiling, compiling_cpu, _ = json.loads(child(SERVE_IMPORTS, env={
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": str(work / "none")},
        bytecode=False))
    kept = {"PYTHONPYCACHEPREFIX": str(work / "pyc")}
    child(SERVE_IMPORTS, env=kept)
    seconds, cpu, heavy = json.loads(child(SERVE_IMPORTS, env=kept))
    started = time.perf_counter()
    load_backend(settings, "openvino-int8")
    model_s = time.perf_counter() - started
    numba = {"NUMBA_CACHE_DIR": str(work / "numba")}
    cold = float(child(WARM_UP, env=numba))
    warm = float(child(WARM_UP, env=numba))
    return {"imports_s": seconds, "imports_cpu_s": cpu, "imports_compiling_s": compiling,
            "imports_compiling_cpu_s": compiling_cpu,
            "heavy_modules_imported": heavy,
            "load_openvino_int8_s": model_s, "bm25_compile_s": cold, "bm25_cached_s": warm}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()
    base = Settings(backend="openvino-int8")
    export.openvino_int8_model(base.model_path(), base.cache_dir)  # made once if missing
    machine = describe()
    with tempfile.TemporaryDirectory(prefix="korea-qa-first-start-") as tmp:
        work = Path(tmp)
        shutil.copytree(base.cache_dir / "onnx", work / "cache" / "onnx")
        settings = base.model_copy(update={"cache_dir": work / "cache"})
        result: dict[str, Any] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine,
            "convert": conversions(base.model_path(), work, args.rounds),
            "measure": measurements(settings), "start_up": start_up(settings, work),
            "load_average_end": [round(x, 2) for x in os.getloadavg()]}
    print(f"{machine['cpu']}, {machine['cores']} cores; load {machine['load_average']} -> "
          f"{result['load_average_end']}")
    for name, times in result["convert"].items():
        print(f"convert {name:<22} " + ", ".join(f"{t:.1f} s" for t in times))
    for name, m in result["measure"].items():
        print(f"measure {name:<9} {', '.join(m['candidates']):<38} {m['seconds']:.1f} s "
              f"-> {m['chosen']}")
    s = result["start_up"]
    print(f"serve imports {s['imports_compiling_s']:.2f} s ({s['imports_compiling_cpu_s']:.2f} "
          f"s CPU) compiling every module, {s['imports_s']:.2f} s ({s['imports_cpu_s']:.2f} s "
          f"CPU) from kept bytecode (PyTorch, NNCF, numba among them: "
          f"{sorted({m.split('.')[0] for m in s['heavy_modules_imported']}) or 'none'}); "
          f"load openvino-int8 {s['load_openvino_int8_s']:.2f} s; BM25 loops compiled "
          f"{s['bm25_compile_s']:.1f} s, from the cache {s['bm25_cached_s']:.2f} s")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"first-start-{result['date'][:10]}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
