"""What this CPU can do, for choosing inference precision and for labelling benchmarks.

The detector's speed and even its outputs depend on the CPU: OpenVINO runs YOLO11n-pose in
bfloat16 on CPUs with AVX512-BF16 or AMX and in float32 elsewhere (docs/perception.md,
"Precision"). Every number `meshvid bench` prints carries `cpu_summary()` so a reader knows
which machine made it.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

# The ISA extensions that decide inference speed and precision, as /proc/cpuinfo names them.
ISA_FLAGS: tuple[str, ...] = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16",
                              "amx_bf16", "amx_int8")


@dataclass(frozen=True)
class CpuInfo:
    model: str  # e.g. "AMD EPYC" or "Intel(R) Xeon(R) Platinum 8480+"
    cores: int  # logical CPUs this process may use
    flags: tuple[str, ...] = field(default_factory=tuple)  # the ISA_FLAGS present

    @property
    def has_bf16(self) -> bool:
        """bfloat16 arithmetic in hardware (OpenVINO's CPU plugin then defaults to bf16)."""
        return "avx512_bf16" in self.flags or "amx_bf16" in self.flags

    @property
    def native_precision(self) -> str:
        """The precision OpenVINO picks on this CPU when not told: "bf16" or "f32"."""
        return "bf16" if self.has_bf16 else "f32"

    def precision_for(self, requested: str) -> str:
        """What OpenVINO computes in for a requested precision ("auto", "f32" or "bf16"): auto
        is the native one, and bf16 on a CPU without it runs float32."""
        if requested == "auto":
            return self.native_precision
        return "f32" if requested == "bf16" and not self.has_bf16 else requested

    def summary(self) -> str:
        """One line for benchmark tables: model, cores, ISA flags."""
        return f"{self.model}, {self.cores} cores, {' '.join(self.flags) or 'no AVX2'}"

    def as_dict(self) -> dict:
        return {"model": self.model, "cores": self.cores, "flags": list(self.flags),
                "native_precision": self.native_precision}


def _parse_cpuinfo(text: str) -> tuple[str, set[str]]:
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return model, flags


@lru_cache(maxsize=1)
def cpu_info() -> CpuInfo:
    """This machine's CPU (Linux: /proc/cpuinfo; elsewhere the platform's processor name)."""
    model, flags = "", set()
    path = Path("/proc/cpuinfo")
    if path.is_file():
        try:
            model, flags = _parse_cpuinfo(path.read_text(errors="replace"))
        except OSError:
            pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return CpuInfo(model=model or platform.processor() or platform.machine(), cores=cores,
                   flags=tuple(f for f in ISA_FLAGS if f in flags))
