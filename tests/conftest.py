"""Shared fixtures: the offline ir_datasets home built from ../shared/data, fresh stores, suite files."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.data.offline import prepare

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("IRH_SHARED_DATA", ROOT.parent / "shared" / "data")).resolve()
SUITES = ROOT / "suites"


# ir_datasets fixes every dataset's folder under IR_DATASETS_HOME when it is first imported, so the tests' home is
# set before anything imports it, not when a test first asks for the collections (by then an earlier test may have
# imported ir_datasets, e.g. to check a suite's dataset ids, and the collections would be looked for elsewhere).
OWN_HOME = not os.environ.get("IR_DATASETS_HOME")
if OWN_HOME:
    os.environ["IR_DATASETS_HOME"] = tempfile.mkdtemp(prefix="irh-tests-irds-")
    atexit.register(shutil.rmtree, os.environ["IR_DATASETS_HOME"], ignore_errors=True)


@pytest.fixture(scope="session")
def irds_home() -> Path:
    """IR_DATASETS_HOME with the real collections. In CI a missing ../shared is a failure, not a skip."""
    home = Path(os.environ["IR_DATASETS_HOME"])
    if not OWN_HOME:
        return home
    script = SHARED_DATA / "make_irds_home.py"
    if not script.exists():
        if os.environ.get("CI"):
            pytest.fail(f"shared data not found at {SHARED_DATA}")
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    prepare(home, SHARED_DATA)
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
