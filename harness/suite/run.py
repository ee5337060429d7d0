"""Run a suite: plan it, compute the stages the store does not hold, record them in the manifest, read the results.

from harness.suite.run import run_suite
results = run_suite("suites/smoke.toml", results="results")
results.to_frame()        # dataset, system, one column per measure (means)
results.per_query         # dataset, system, query_id, metric, value
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from harness.core.downloads import allowing_downloads
from harness.store import Store
from harness.suite.config import Pipeline, Suite
from harness.suite.loading import anchor_of, open_store, open_suite, use_project_data
from harness.suite.manifest import record_jobs
from harness.suite.plan import plan
from harness.suite.results import Results, read_results
from harness.suite.runner import check_backend, run_jobs

log = logging.getLogger("irh")


def run_suite(
    suite: str | Path | Pipeline,
    *,
    results: str | Path | Store | None = None,
    only: list[str] | None = None,
    jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    allow_download: bool = False,
) -> Results:
    """Run what is not stored yet (``only``: DATASET/SYSTEM globs; their upstream stages come along), then read the
    results as ``irh show`` does. ``results`` is the store (a path or a ``Store``); ``suite`` a suite file, a ``Suite``
    or any ``Pipeline`` with its measures. ``allow_download`` (or the suite's ``allow_download = true``): ir_datasets
    may download what a job needs (off by default: a job whose data is not here is skipped, with the path it is read
    from)."""
    check_backend(backend, scheduler)  # before planning, which may hash models
    store = open_store(results, anchor_of(suite))
    use_project_data(anchor_of(suite))
    suite = open_suite(suite, store)
    with allowing_downloads(allow_download or (isinstance(suite, Suite) and suite.allow_download)):
        planned = plan(suite, store, only)
        try:
            outcomes = run_jobs(planned, store, n_jobs=jobs, backend=backend, scheduler=scheduler)
        except BaseException:
            with contextlib.suppress(Exception):  # best effort: what did get stored is read without a re-run
                record_jobs(store, suite, planned)
            raise
    record_jobs(store, suite, planned)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("computed", "cached", "skipped")}
    log.info("%(computed)d computed, %(cached)d cached, %(skipped)d skipped", counts)
    out = read_results(suite, store, only)
    out.outcomes = outcomes
    return out


def nothing_ran(results: Results) -> bool:
    """True when every job of a run was skipped (no data here, no run file, ...): ``irh run`` then fails."""
    return bool(results.outcomes) and all(o.status == "skipped" for o in results.outcomes)
