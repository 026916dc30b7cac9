"""Threads follow the cores this process may use: affinity, then the cgroup quota."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from korea_qa.models import cpu
from korea_qa.models.cpu import CpuInfo, cgroup_cpu_quota, peak_flops, resolve_threads, usable_cores
from korea_qa.settings import Settings


def _cgroup(root: Path, self_file: Path, v2_path: str = "/", cpu_max: str | None = None) -> None:
    self_file.write_text(f"0::{v2_path}\n")
    folder = root.joinpath(*[p for p in v2_path.split("/") if p])
    folder.mkdir(parents=True, exist_ok=True)
    if cpu_max is not None:
        (folder / "cpu.max").write_text(cpu_max + "\n")


def test_cgroup_v2_quota_is_read_along_the_path(tmp_path: Path) -> None:
    root, me = tmp_path / "cg", tmp_path / "self"
    _cgroup(root, me, "/kubepods/pod1", "150000 100000")
    (root / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(root, me) == 1.5
    (root / "kubepods" / "cpu.max").write_text("50000 100000\n")  # a tighter parent wins
    assert cgroup_cpu_quota(root, me) == 0.5


def test_cgroup_v2_unlimited_is_none(tmp_path: Path) -> None:
    root, me = tmp_path / "cg", tmp_path / "self"
    _cgroup(root, me, "/", "max 100000")
    assert cgroup_cpu_quota(root, me) is None


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    root, me = tmp_path / "cg", tmp_path / "self"
    me.write_text("4:memory:/x\n1:cpu,cpuacct:/docker/abc\n0::/\n")
    folder = root / "cpu" / "docker" / "abc"
    folder.mkdir(parents=True)
    (folder / "cpu.cfs_quota_us").write_text("300000\n")
    (folder / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(root, me) == 3.0
    (folder / "cpu.cfs_quota_us").write_text("-1\n")  # -1: no limit
    assert cgroup_cpu_quota(root, me) is None


def test_usable_cores_takes_the_smaller_of_affinity_and_quota(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    monkeypatch.setattr(cpu, "cgroup_cpu_quota", lambda root=None: None)
    assert usable_cores() == 8
    monkeypatch.setattr(cpu, "cgroup_cpu_quota", lambda root=None: 2.5)
    assert usable_cores() == 3  # 2.5 CPUs' worth of time: three threads, rounded up
    monkeypatch.setattr(cpu, "cgroup_cpu_quota", lambda root=None: 0.2)
    assert usable_cores() == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    monkeypatch.setattr(cpu, "cgroup_cpu_quota", lambda root=None: 4.0)
    assert usable_cores() == 1


def test_threads_setting_auto_follows_the_cores_and_a_number_wins(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    monkeypatch.setattr(cpu, "cgroup_cpu_quota", lambda root=None: None)
    assert resolve_threads("auto") == 3
    assert resolve_threads(Settings().threads) == 3
    assert resolve_threads(Settings(threads=1).threads) == 1


def test_old_threads_env_name_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KOREA_QA_TORCH_THREADS", "4")
    assert Settings().threads == 4
    monkeypatch.delenv("KOREA_QA_TORCH_THREADS")
    monkeypatch.setenv("KOREA_QA_THREADS", "auto")
    assert Settings().threads == "auto"
    with pytest.raises(ValueError):
        Settings(threads=0)


def test_isa_and_peak() -> None:
    amd = CpuInfo("AMD EPYC", "AuthenticAMD", frozenset({"avx2", "fma", "avx512f",
                                                          "avx512_vnni"}), 2600.0, 2)
    assert amd.isa == "avx512_vnni"
    peak, how = peak_flops(amd, "fp32")
    assert peak == 2 * 2.6e9 * 32  # AVX-512 on 256-bit pipes: 32 fp32 FLOP a cycle
    assert "2 cores" in how
    avx2 = CpuInfo("EPYC", "AuthenticAMD", frozenset({"avx2", "fma"}), 2000.0, 2)
    assert avx2.isa == "avx2" and peak_flops(avx2, "int8")[0] == 2 * 2e9 * 64
    amx = CpuInfo("Xeon", "GenuineIntel", frozenset({"avx512f", "avx512_vnni", "amx_tile",
                                                      "amx_int8", "amx_bf16"}), 2000.0, 2)
    assert amx.isa == "amx" and peak_flops(amx, "bf16")[0] == 2 * 2e9 * 1024
