"""The explicit start-up step: which inference backend runs here, and the model, loaded once.

Settings never resolve `backend = "auto"` themselves. Each entry point (a CLI command, the
server, an evaluation) calls `open_model` once; it returns the loaded embedder with settings
whose `backend` names what runs, so every later `model_id()` and fingerprint is a plain
function of the fields. For `auto`:

- a record of this machine's choice (`korea_qa.models.backends`) is read back: that backend;
- none yet: measured now (exporting the model and calibrating int8 first, each in a child
  process), recorded, and the measured embedder used as it was loaded;
- none yet, and the caller can finish the choice later (`korea-qa serve --build`, which is
  what `make serve` runs) while the corpus is small: the float32 reference (`onnx`, which
  needs no calibration and no check against itself) serves at once, marked `pending`; the
  server then calls `finish_auto` in the background and re-embeds the corpus into a new
  index with the chosen backend, swapped in whole (`korea_qa.api.state`). Vectors of two
  backends never meet in one index: the first index is all `onnx`, the next all the chosen
  backend's, and the model id, which names the backend, is checked at every load.

The line for the provisional start is `PROVISIONAL_MAX_BYTES` of article text: past it, the
corpus embedded twice (once at float32, once with the chosen backend) costs more than
measuring first saves (bench/README.md, "First start").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from korea_qa.errors import KoreaQAError
from korea_qa.library.corpus import corpus_files
from korea_qa.models.backend_probe import KeptLoader, measure_and_record
from korea_qa.models.backends import Choice, candidates_here, choice_key, read_record, record_path
from korea_qa.models.embed import Embedder, load_backend, load_embedder
from korea_qa.settings import Settings
from korea_qa.util.steps import say, step

log = logging.getLogger("korea_qa.startup")

# The float32 reference of `korea_qa.models.backends`: within the quality bound by definition, and
# it needs only the ONNX export.
PROVISIONAL = "onnx"
# About 80,000 words, some 600 passages: the provisional start stops paying there.
PROVISIONAL_MAX_BYTES = 500_000
Loader = Callable[[Settings, str], Embedder]


@dataclass(frozen=True)
class Resolution:
    """Which backend runs here, before the model is loaded (reading a record loads nothing;
    a measurement keeps what it loaded, so the chosen model is not loaded twice)."""

    settings: Settings  # `backend` named
    choice: Choice | None = None  # auto's record, when read or measured here
    pending: bool = False  # auto not measured yet: `finish_auto` still has to run
    loaded: dict[str, Embedder] = field(default_factory=dict)


@dataclass(frozen=True)
class Model:
    """The model a process runs: settings naming its backend, and the loaded embedder."""

    settings: Settings
    embedder: Embedder
    choice: Choice | None = None
    pending: bool = False


def open_model(settings: Settings, *, provisional: bool = False,
               loader: Loader = load_backend) -> Model:
    """The model the settings ask for, loaded, on the backend that runs here."""
    return load(resolve(settings, provisional=provisional, loader=loader), loader=loader)


def resolve(settings: Settings, *, provisional: bool = False,
            loader: Loader = load_backend) -> Resolution:
    """Which backend runs here (see the module); measures only when `auto` has no record
    and the start cannot be provisional."""
    if settings.model.startswith("hash:") or settings.backend != "auto":
        return Resolution(settings)
    narrowed, why = candidates_here()
    key, context = choice_key(settings, narrowed)
    choice = read_record(record_path(settings), key)
    if choice is not None:
        log.info("backend auto: %s (%s; measured %s)", choice.backend, choice.reason,
                 choice.measured_at)
        return Resolution(named(settings, choice.backend), choice)
    if provisional and corpus_bytes(settings) <= PROVISIONAL_MAX_BYTES:
        say(f"backend auto is not measured on this CPU yet: {PROVISIONAL} (float32) serves "
            "first; the server measures, then re-embeds and switches in the background")
        return Resolution(named(settings, PROVISIONAL), pending=True)
    kept = KeptLoader(loader)
    choice = measure_and_record(settings, narrowed, kept, key, context, why)
    say(f"backend auto: {choice.backend} ({choice.reason})")
    return Resolution(named(settings, choice.backend), choice,
                      loaded={choice.backend: kept.loaded[choice.backend]}
                      if choice.backend in kept.loaded else {})


def load(resolution: Resolution, *, loader: Loader = load_backend) -> Model:
    settings = resolution.settings
    if settings.model.startswith("hash:"):
        embedder = load_embedder(settings)
    else:
        embedder = resolution.loaded.get(settings.backend) or \
            _load(settings, settings.backend, loader)
    return Model(settings, embedder, resolution.choice, resolution.pending)


def finish_auto(model: Model, *, loader: Loader = load_backend) -> Model:
    """For a model opened provisionally: measure now, with its embedder as the float32
    reference, record the choice, and return the chosen model (the same one when the
    reference itself won)."""
    if not model.pending:
        raise KoreaQAError("finish_auto: this model's backend is already settled")
    settings = model.settings.model_copy(update={"backend": "auto"})
    kept = KeptLoader(loader)
    kept.loaded[PROVISIONAL] = model.embedder
    narrowed, why = candidates_here()
    key, context = choice_key(settings, narrowed)
    choice = measure_and_record(settings, narrowed, kept, key, context, why)
    log.info("backend auto: %s (%s)", choice.backend, choice.reason)
    embedder = kept.loaded.get(choice.backend) or _load(settings, choice.backend, loader)
    return Model(named(settings, choice.backend), embedder, choice)


def named(settings: Settings, backend: str) -> Settings:
    """The settings with `backend` named, as the rest of the process sees them."""
    return settings.model_copy(update={"backend": backend})


def corpus_bytes(settings: Settings) -> int:
    """Article text in the corpus folder (0 when there is none yet)."""
    try:
        return sum(path.stat().st_size for path in corpus_files(settings.corpus_dir))
    except (KoreaQAError, OSError):
        return 0


def _load(settings: Settings, backend: str, loader: Loader) -> Embedder:
    with step(f"loading the model ({backend})"):
        return loader(settings, backend)
