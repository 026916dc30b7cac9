"""`backend = "auto"`: measure the inference backends on this machine once, use the fastest
that keeps the quality bound, and remember the choice.

Which backend is fastest depends on the CPU (OpenVINO in bfloat16 on Intel AMX, int8 where
there is VNNI, ...), so it is measured where the service runs, not fixed at development
time. The measurement is a short fixed workload on text the package ships
(`data/probe.txt`, held out from the int8 calibration): its questions one at a time and its
passages in small batches, in two interleaved rounds (the best round counts, as a busy
neighbour only ever slows a round down).

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

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np

from korea_qa.cpu import CpuInfo, cpu_info, resolve_threads
from korea_qa.embed import Embedder, load_backend
from korea_qa.errors import KoreaQAError
from korea_qa.files import atomic_write, locked
from korea_qa.settings import Settings
from korea_qa.steps import step

log = logging.getLogger("korea_qa.backends")

# Validated offline by the bench (SciFact within 0.005 of PyTorch float32, dense and
# hybrid; vectors independent of batch mates). onnx-int8 is left out: dynamic
# quantisation makes a text's vector depend on the other texts in its batch.
CANDIDATES: tuple[str, ...] = ("openvino-int8", "openvino", "onnx", "torch")
REFERENCES: tuple[str, ...] = ("onnx", "torch")
MIN_MEAN_COSINE = 0.995
MIN_COSINE = 0.985
MAX_BATCH_DIFF = 2e-3
ROUNDS = 2
PASSAGE_BATCH = 8
CLOCK: Callable[[], float] = time.perf_counter  # tests put a fake one here
PACKAGES = ("korea-qa", "onnxruntime", "openvino", "nncf", "torch", "sentence-transformers",
            "tokenizers")

Loader = Callable[[Settings, str], Embedder]


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


# ---------------------------------------------------------------- the record


def resolve_backend(settings: Settings, *, loader: Loader = load_backend,
                    candidates: Sequence[str] | None = None) -> Choice:
    """The recorded choice for this machine, model and versions; measured once if none."""
    narrowed, why = candidates_here()
    candidates = tuple(candidates or narrowed)
    key, context = choice_key(settings, candidates)
    choice = read_record(record_path(settings), key)
    if choice is None:
        choice = measure_and_record(settings, candidates, loader, key, context, why)
    return choice


def measure_and_record(settings: Settings, candidates: Sequence[str], loader: Loader,
                       key: str, context: dict[str, Any], why: str = "") -> Choice:
    """Measure under the record's lock (another process may be measuring: then its record
    is read), and record the choice."""
    path = record_path(settings)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(locked(path.parent))
        except OSError as exc:  # a read-only cache: choose anyway, for this process only
            log.warning("backend auto: cannot lock %s (%s); the choice is not recorded",
                        path.parent, exc)
        choice = read_record(path, key)  # another process may have measured meanwhile
        if choice is not None:
            return choice
        log.info("backend auto: measuring %s on this CPU (once; recorded in %s)",
                 ", ".join(candidates), path)
        choice = measure(settings, candidates, loader=loader, key=key, context=context, why=why)
        try:
            atomic_write(path, choice.to_json())
        except OSError as exc:
            log.warning("backend auto: cannot record the choice in %s (%s)", path, exc)
        return choice


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
    vnni = sorted(cpu.flags & {"avx512_vnni", "avx_vnni"})
    if vnni:
        return ("openvino-int8",), f"int8 dot products ({', '.join(vnni)})"
    return CANDIDATES, "no int8 dot products: every candidate"


def record_path(settings: Settings) -> Path:
    from korea_qa.export import model_key

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
    from korea_qa.export import model_key

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


# ---------------------------------------------------------------- the measurement


def probe_text() -> tuple[list[str], list[str]]:
    """(questions, passages) of the shipped probe text: short lines are questions."""
    data = resources.files("korea_qa") / "data" / "probe.txt"
    lines = [line for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [t for t in lines if len(t) < 300], [t for t in lines if len(t) >= 300]


def measure(settings: Settings, candidates: Sequence[str], *, loader: Loader = load_backend,
            key: str = "", context: dict[str, Any] | None = None, why: str = "",
            clock: Callable[[], float] | None = None) -> Choice:
    """Every candidate against the float32 reference on the probe text. The CPU flags may
    have narrowed the candidates (`candidates_for`, `why`): when none of those passes, the
    rest of `CANDIDATES` are measured too."""
    kept = loader if isinstance(loader, KeptLoader) else KeptLoader(loader)
    clock = clock or CLOCK
    with step(f"measuring {', '.join(candidates)} against the float32 reference (once)"):
        trials, reference = _trials(settings, candidates, kept, clock)
    rest = [b for b in CANDIDATES if b not in candidates]
    if rest and all(t.problem for t in trials):
        log.warning("backend auto: %s refused (%s); measuring %s", ", ".join(candidates),
                    "; ".join(f"{t.backend}: {t.problem}" for t in trials), ", ".join(rest))
        with step(f"measuring {', '.join(rest)} as well"):
            trials += _trials(settings, rest, kept, clock)[0]
    chosen, reason = choose(trials)
    skipped = [b for b in CANDIDATES if b not in {t.backend for t in trials}]
    if skipped:
        reason += f"; not measured: {', '.join(skipped)} ({why or 'not candidates'})"
    return Choice(chosen, f"{reason}; reference {reference}", key,
                  datetime.now(UTC).isoformat(timespec="seconds"), context or {}, tuple(trials))


class KeptLoader:
    """A loader that keeps what it loaded: measuring loads each backend once (the reference
    too, when it is also a candidate), and the chosen one is then used as it was loaded."""

    def __init__(self, loader: Loader = load_backend) -> None:
        self.loader = loader
        self.loaded: dict[str, Embedder] = {}

    def __call__(self, settings: Settings, backend: str) -> Embedder:
        if backend not in self.loaded:
            self.loaded[backend] = self.loader(settings, backend)
        return self.loaded[backend]


def _trials(settings: Settings, candidates: Sequence[str], loader: Loader,
            clock: Callable[[], float]) -> tuple[list[Trial], str]:
    questions, passages = probe_text()
    texts = questions + passages
    embedders: dict[str, Embedder] = {}
    errors: dict[str, str] = {}

    def load(backend: str) -> None:
        try:
            embedders[backend] = loader(settings, backend)
        except Exception as exc:  # a runtime missing or failing here: not a candidate
            errors[backend] = f"{type(exc).__name__}: {exc}"
            log.warning("backend auto: %s unavailable: %s", backend, errors[backend])

    for backend in REFERENCES:  # the first that loads; torch only when ONNX Runtime fails
        load(backend)
        if backend in embedders:
            break
    reference = next((b for b in REFERENCES if b in embedders), None)
    if reference is None:
        raise KoreaQAError(f"no float32 reference backend loads: {errors}")
    for backend in candidates:
        if backend not in embedders:
            load(backend)
    expected = embedders[reference].encode(texts, batch_size=PASSAGE_BATCH)
    timings: dict[str, list[tuple[float, float]]] = {b: [] for b in candidates}
    for _ in range(ROUNDS):  # interleaved, so a noisy moment hits every backend alike
        for backend in candidates:
            if backend in embedders:
                timings[backend].append(_timed(embedders[backend], questions, passages, clock))
    trials = [_trial(backend, embedders[backend], texts, expected, timings[backend],
                     len(questions), len(passages)) if backend in embedders else
              Trial(backend, error=errors.get(backend, "not loaded")) for backend in candidates]
    return trials, reference


def _timed(embedder: Embedder, questions: list[str], passages: list[str],
           clock: Callable[[], float]) -> tuple[float, float]:
    """(median seconds per lone question, seconds for the passages in batches)."""
    embedder.encode(questions[:2])  # first shapes compile
    per_question = []
    for q in questions:
        t0 = clock()
        embedder.encode([q])
        per_question.append(clock() - t0)
    t0 = clock()
    embedder.encode(passages, batch_size=PASSAGE_BATCH)
    return float(np.median(per_question)), clock() - t0


def _trial(backend: str, embedder: Embedder, texts: list[str], expected: np.ndarray,
           rounds: list[tuple[float, float]], n_questions: int, n_passages: int) -> Trial:
    batched = embedder.encode(texts, batch_size=PASSAGE_BATCH)
    alone = np.stack([embedder.encode([t])[0] for t in texts[::4]])
    cosines = (batched * expected).sum(axis=1)
    question_s = min(r[0] for r in rounds)
    passages_s = min(r[1] for r in rounds)
    return Trial(backend, question_ms=round(question_s * 1000, 3),
                 passages_per_s=round(n_passages / max(passages_s, 1e-9), 2),
                 workload_s=round(question_s * n_questions + passages_s, 4),
                 cosine_mean=round(float(cosines.mean()), 5),
                 cosine_min=round(float(cosines.min()), 5),
                 batch_max_diff=float(np.abs(alone - batched[::4]).max()))
