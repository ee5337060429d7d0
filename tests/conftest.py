"""Shared fixtures: the offline ir_datasets home built from ../shared/data, fresh stores, suite files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.data.offline import prepare

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("IRH_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()
SUITES = ROOT / "suites"


@pytest.fixture(scope="session")
def irds_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """IR_DATASETS_HOME with the real collections. In CI a missing ../shared is a failure, not a skip."""
    if os.environ.get("IR_DATASETS_HOME"):
        return Path(os.environ["IR_DATASETS_HOME"])
    script = SHARED_DATA / "make_irds_home.py"
    if not script.exists():
        if os.environ.get("CI"):
            pytest.fail(f"shared data not found at {SHARED_DATA}")
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    home = tmp_path_factory.mktemp("irds_home")
    prepare(home, SHARED_DATA)
    os.environ["IR_DATASETS_HOME"] = str(home)
    return home


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "results"


def write_suite(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under a store with its bytes: to prove a failed command changed nothing."""
    return (
        {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
        if root.exists()
        else {}
    )
