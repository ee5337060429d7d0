"""The git state of a checkout: which commit results or a report were made from, and whether tracked files differ."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any


def git_state(where: Path) -> dict[str, Any]:
    """``{"commit", "dirty"}`` of the checkout containing ``where``; both None, with ``error``, when it is not a git
    checkout or git is unavailable."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(where), *args], capture_output=True, text=True, check=True, timeout=20
        ).stdout.strip()

    try:
        return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError) as e:
        return {"commit": None, "dirty": None, "error": f"not a git checkout or git unavailable ({e})"}
