"""What CPU this process runs on, and how many of its cores it may use.

The thread count for the model follows the cores this process may really use: its affinity
mask (`taskset`, `docker --cpuset-cpus`) and its cgroup CPU quota (`docker --cpus`,
Kubernetes limits), whichever is smaller, never the host's core count. The ISA class and the
peak FLOP/s feed the backend choice's record and the bench.
"""

from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Flags that decide which kernels the runtimes can use, strongest last.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16",
             "amx_bf16", "amx_int8", "amx_tile")


@dataclass(frozen=True)
class CpuInfo:
    model: str
    vendor: str
    flags: frozenset[str]
    mhz: float
    cores: int  # usable by this process (affinity and cgroup quota)

    @property
    def int8_dot_products(self) -> list[str]:
        """The CPU's int8 dot-product extensions (VNNI, AMX): where int8 models pay off."""
        return sorted(self.flags & {"avx512_vnni", "avx_vnni", "amx_int8"})

    @property
    def isa(self) -> str:
        """The best matrix-math extension: amx, avx512_vnni, avx512, avx2_vnni, avx2 or sse."""
        f = self.flags
        if {"amx_tile", "amx_int8"} <= f:
            return "amx"
        if "avx512_vnni" in f:
            return "avx512_vnni"
        if "avx512f" in f:
            return "avx512"
        if "avx_vnni" in f:
            return "avx2_vnni"
        return "avx2" if {"avx2", "fma"} <= f else "sse"

    def summary(self) -> dict[str, object]:
        return {"model": self.model, "vendor": self.vendor, "isa": self.isa,
                "flags": sorted(self.flags & set(ISA_FLAGS)), "mhz": self.mhz,
                "cores": self.cores}


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    fields: dict[str, str] = {}
    try:
        for line in cpuinfo.read_text().splitlines():
            if not line.strip():
                break  # the first processor is enough
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    return CpuInfo(model=fields.get("model name") or platform.processor() or "unknown",
                   vendor=fields.get("vendor_id", "unknown"),
                   flags=frozenset(fields.get("flags", "").split()),
                   mhz=float(fields.get("cpu MHz") or 0.0), cores=usable_cores())


def usable_cores(cgroup_root: Path = CGROUP_ROOT) -> int:
    """Cores this process may use: its affinity, capped by its cgroup quota (rounded up)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def cgroup_cpu_quota(root: Path = CGROUP_ROOT,
                     self_cgroup: Path = Path("/proc/self/cgroup")) -> float | None:
    """CPUs' worth of time the cgroup allows (cgroup v2 `cpu.max`, or v1 `cfs_quota_us` /
    `cfs_period_us`), the tightest along the path to the root; None when unlimited."""
    v2, v1 = _cgroup_paths(self_cgroup)
    limits = []
    for folder in _ancestors(root, v2):
        text = _read(folder / "cpu.max")
        if text:
            quota, _, period = text.partition(" ")
            if quota != "max" and period:
                limits.append(int(quota) / int(period))
    for folder in _ancestors(root / "cpu", v1) + _ancestors(root / "cpu,cpuacct", v1):
        quota_text, period_text = _read(folder / "cpu.cfs_quota_us"), _read(
            folder / "cpu.cfs_period_us")
        if quota_text and period_text and int(quota_text) > 0:
            limits.append(int(quota_text) / int(period_text))
    return min(limits) if limits else None


def _cgroup_paths(self_cgroup: Path) -> tuple[str, str]:
    """This process's cgroup path in the v2 hierarchy and in v1's cpu controller."""
    v2 = v1 = "/"
    for line in (_read(self_cgroup) or "").splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":
            v2 = path
        elif "cpu" in controllers.split(","):
            v1 = path
    return v2, v1


def _ancestors(root: Path, path: str) -> list[Path]:
    parts = [p for p in path.split("/") if p]
    return [root.joinpath(*parts[:n]) for n in range(len(parts), -1, -1)]


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def resolve_threads(setting: int | str) -> int:
    """The `threads` setting: a number wins; "auto" is every core this process may use."""
    return usable_cores() if setting == "auto" else int(setting)


# FLOPs per cycle per core (an FMA counts two) by ISA class and precision, assuming two
# vector FMA pipes. AMD's AVX-512 before Zen 5 runs on 256-bit pipes, hence half the
# AVX-512 rate; Intel's AMX tiles are taken at 1024 bf16 / 2048 int8 operations a cycle.
_PER_CYCLE = {
    "sse": {"fp32": 16, "bf16": 16, "int8": 32},
    "avx2": {"fp32": 32, "bf16": 32, "int8": 64},
    "avx2_vnni": {"fp32": 32, "bf16": 32, "int8": 128},
    "avx512": {"fp32": 64, "bf16": 64, "int8": 128},
    "avx512_vnni": {"fp32": 64, "bf16": 128, "int8": 256},
    "amx": {"fp32": 64, "bf16": 1024, "int8": 2048},
}


def peak_flops(info: CpuInfo, precision: str = "fp32") -> tuple[float, str]:
    """Peak FLOP/s of the cores this process may use, and how it was derived."""
    per_cycle = _PER_CYCLE[info.isa][precision]
    if info.vendor == "AuthenticAMD" and info.isa.startswith("avx512"):
        per_cycle //= 2
    if precision == "bf16" and "avx512_bf16" not in info.flags and info.isa != "amx":
        per_cycle = _PER_CYCLE[info.isa]["fp32"]
    peak = info.cores * info.mhz * 1e6 * per_cycle
    pipes = ", AMD 256-bit pipes" if info.vendor == "AuthenticAMD" else ""
    how = (f"{info.cores} cores x {info.mhz / 1000:.2f} GHz x {per_cycle} {precision} "
           f"FLOP/cycle ({info.isa}{pipes})")
    return peak, how
