"""The command line's own surface (issue 23): `irh --version`."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import harness


def test_version_is_the_installed_distributions() -> None:
    out = subprocess.run([sys.executable, "-m", "harness.cli", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"irh {harness.__version__}"
    # written once (harness.__version__); pyproject.toml reads it, so the installed metadata says the same
    assert importlib.metadata.version("irharness") == harness.__version__
