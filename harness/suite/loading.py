"""Where a command's store and data are, and its suite loaded against the store: one way for the CLI and the API.

A suite belongs to a **project**: the nearest folder, from the suite file upwards, that holds ``irharness.toml`` or
``pyproject.toml``. ``irharness.toml`` (optional; ``nox`` writes one) sets the project's ``results`` (the store) and
``ir_datasets_home`` (the offline ir_datasets home), both relative to the file. The store is, first found:
``--results``, ``$IRH_RESULTS``, the settings' ``results``, ``PROJECT/results``; never the current directory by
accident (commands without a suite file use the project of the current directory, as git does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.errors import HarnessError
from harness.store import Store
from harness.suite.config import Pipeline, load_suite
from harness.suite.toml_fields import read_toml

DEFAULT_RESULTS = "results"
SETTINGS_FILE = "irharness.toml"
PROJECT_MARKERS = (SETTINGS_FILE, "pyproject.toml")
SETTINGS_KEYS = ("results", "ir_datasets_home")


@dataclass(frozen=True)
class Project:
    """A project folder and its settings (paths already resolved against the settings file)."""

    root: Path
    settings: dict[str, Path] = field(default_factory=dict)

    @property
    def settings_file(self) -> Path:
        return self.root / SETTINGS_FILE


@dataclass(frozen=True)
class StoreLocation:
    path: Path
    source: str  # how it was found, for the line every command starts with

    def describe(self) -> str:
        return f"store {self.path} ({self.source})"


def find_project(start: str | Path) -> Project | None:
    """The project holding ``start`` (a file or folder): the nearest ancestor with a project marker."""
    here = Path(start).resolve()
    for folder in (here, *here.parents) if here.is_dir() else here.parents:
        if any((folder / marker).is_file() for marker in PROJECT_MARKERS):
            return Project(folder, read_settings(folder / SETTINGS_FILE))
    return None


def read_settings(path: Path) -> dict[str, Path]:
    """``irharness.toml``: ``results`` and ``ir_datasets_home``, paths relative to the file; absent file → {}."""
    if not path.is_file():
        return {}
    data, f = read_toml(path, "settings file")
    f.check_keys(data, SETTINGS_KEYS, "")
    return {key: (path.parent / f.get(data, key, str, "")).resolve() for key in SETTINGS_KEYS if key in data}


def anchor_of(suite: str | Path | Pipeline | None) -> Path | None:
    """The file a command's project is found from: a suite file (or a loaded suite's), else None (the cwd)."""
    if suite is None:
        return None
    if isinstance(suite, Pipeline):
        return getattr(suite, "path", None)
    return Path(suite)


def project_of(anchor: Path | None) -> Project | None:
    return find_project(anchor if anchor is not None else Path.cwd())


def locate_store(results: str | Path | None = None, anchor: Path | None = None) -> StoreLocation:
    """Where the store is (see the module docstring); no project and nothing given is a one-line error."""
    if results is not None:
        return StoreLocation(Path(results).resolve(), "--results")
    if os.environ.get("IRH_RESULTS"):
        return StoreLocation(Path(os.environ["IRH_RESULTS"]).resolve(), "$IRH_RESULTS")
    project = project_of(anchor)
    if project is None:
        where = f"the folders above {anchor}" if anchor is not None else f"{Path.cwd()} or above it"
        raise HarnessError(
            f"no project found ({SETTINGS_FILE} or pyproject.toml in {where}), so no store: give --results DIR, "
            f"set IRH_RESULTS, or create {SETTINGS_FILE} (it may be empty) in the project folder"
        )
    if "results" in project.settings:
        return StoreLocation(project.settings["results"], f"results in {project.settings_file}")
    return StoreLocation(project.root / DEFAULT_RESULTS, f"project {project.root}")


def open_store(results: str | Path | Store | None = None, anchor: Path | None = None) -> Store:
    """The store at ``results``; else found from the project of ``anchor`` (a suite file; default: the cwd)."""
    if isinstance(results, Store):
        return results
    return Store(locate_store(results, anchor).path)


def use_project_data(anchor: Path | None = None) -> str | None:
    """Point ir_datasets at the project's ``ir_datasets_home`` unless $IR_DATASETS_HOME is set; call this before
    ir_datasets is imported (it fixes its folders then). Returns where the home comes from, or None."""
    if os.environ.get("IR_DATASETS_HOME"):
        return f"$IR_DATASETS_HOME={os.environ['IR_DATASETS_HOME']}"
    project = project_of(anchor)
    if project is None or "ir_datasets_home" not in project.settings:
        return None
    os.environ["IR_DATASETS_HOME"] = str(project.settings["ir_datasets_home"])
    return f"ir_datasets_home in {project.settings_file}"


def missing_data_hint() -> str:
    """What to set when a dataset part is not local: said wherever a missing part is reported."""
    home = os.environ.get("IR_DATASETS_HOME")
    now = f"IR_DATASETS_HOME is {home}" if home else "IR_DATASETS_HOME is not set"
    return (
        f"{now}; to use an offline copy, set ir_datasets_home in the project's {SETTINGS_FILE} (or IR_DATASETS_HOME) "
        "to a folder laid out by `irh data prepare DIR`"
    )


def open_suite(suite: str | Path | Pipeline, store: Store, check_datasets: bool = True) -> Pipeline:
    """The suite (a path or a loaded ``Suite``). Reads pass ``check_datasets=False``: they look stages up in the run
    manifest, which only holds dataset ids a run checked, so they need not load ir_datasets' registry."""
    if isinstance(suite, Pipeline):
        return suite
    return load_suite(suite, check_datasets=check_datasets, digest_dir=str(store.digests_dir))
