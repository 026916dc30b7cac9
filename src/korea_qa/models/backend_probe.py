"""Measuring the candidate backends on this machine (`backend = "auto"`, `korea_qa.models.backends`
says how they are judged): the probe workload, its trials, and the record written once.

The workload is a short fixed one on text the package ships (`data/probe.txt`, held out
from the int8 calibration): its questions one at a time and its passages in small batches,
in two interleaved rounds (the best round counts, as a busy neighbour only ever slows a
round down). Each backend is loaded once (`KeptLoader`), the float32 reference too, and the
chosen one is handed on as loaded.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import numpy as np

from korea_qa.errors import KoreaQAError
from korea_qa.models.backends import (
    CANDIDATES,
    REFERENCES,
    Choice,
    Trial,
    candidates_here,
    choice_key,
    choose,
    read_record,
    record_path,
)
from korea_qa.models.embed import Embedder, load_backend
from korea_qa.settings import Settings
from korea_qa.util.files import atomic_write, locked
from korea_qa.util.steps import step

log = logging.getLogger("korea_qa.backends")

ROUNDS = 2
PASSAGE_BATCH = 8
CLOCK: Callable[[], float] = time.perf_counter  # tests put a fake one here
Loader = Callable[[Settings, str], Embedder]


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
