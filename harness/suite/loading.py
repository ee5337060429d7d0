"""Where a command's store is, and its suite loaded against it: one way for the CLI and the Python API."""

from __future__ import annotations

import os
from pathlib import Path

from harness.store import Store
from harness.suite.config import Pipeline, load_suite

DEFAULT_RESULTS = "results"


def open_store(results: str | Path | Store | None = None) -> Store:
    """The store at ``results``; by default $IRH_RESULTS, else ./results."""
    if isinstance(results, Store):
        return results
    return Store(results if results is not None else os.environ.get("IRH_RESULTS") or DEFAULT_RESULTS)


def open_suite(suite: str | Path | Pipeline, store: Store, check_datasets: bool = True) -> Pipeline:
    """The suite (a path or a loaded ``Suite``). Reads pass ``check_datasets=False``: they look stages up in the run
    manifest, which only holds dataset ids a run checked, so they need not load ir_datasets' registry."""
    if isinstance(suite, Pipeline):
        return suite
    return load_suite(suite, check_datasets=check_datasets, digest_dir=str(store.digests_dir))
