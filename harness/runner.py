"""Run a suite's jobs, skipping every one whose run is already in the store."""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass

from joblib import Parallel, delayed

from harness.errors import HarnessError
from harness.plan import Job, make_system, plan
from harness.provenance import hardware, library_versions, now
from harness.results import Results, evaluate_jobs
from harness.store import Store
from harness.suite import Suite

log = logging.getLogger("irh")


@dataclass(frozen=True)
class JobOutcome:
    label: str
    key: str | None
    status: str  # "cached" | "computed" | "skipped"
    seconds: float = 0.0
    detail: str = ""


def run_suite(
    suite: Suite, store: Store, only: list[str] | None = None, n_jobs: int = 1
) -> tuple[list[JobOutcome], Results]:
    """Plan, run what is not cached, evaluate."""
    jobs = plan(suite, store, only)
    outcomes = run_jobs(jobs, store, n_jobs=n_jobs)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("computed", "cached", "skipped")}
    log.info("%(computed)d computed, %(cached)d cached, %(skipped)d skipped", counts)
    return outcomes, evaluate_jobs(suite, jobs, store)


def run_jobs(jobs: list[Job], store: Store, n_jobs: int = 1, backend: str = "loky") -> list[JobOutcome]:
    """Execute jobs level by level (a stage only after the stages it consumes); independent jobs run in parallel."""
    removed = store.clean_leftovers()
    if removed:
        log.info("removed %d leftover(s) of interrupted writes", removed)
    outcomes: list[JobOutcome] = [JobOutcome(j.label, None, "skipped", detail=j.skipped) for j in jobs if j.skipped]
    level: dict[str, int] = {}
    for job in jobs:
        if job.key is not None:
            level[job.key] = 1 + max((level.get(u, -1) for u in job.upstream), default=-1)
    runnable = [j for j in jobs if j.key is not None]
    threads = 2 if n_jobs == 1 else 1  # with parallel jobs, each job gets one core
    for depth in sorted(set(level.values())):
        wave = [j for j in runnable if level[j.key] == depth]
        if n_jobs == 1 or len(wave) == 1:
            outcomes += [execute(j, store.root, threads) for j in wave]
        else:
            outcomes += Parallel(n_jobs=n_jobs, backend=backend)(delayed(execute)(j, store.root, threads) for j in wave)
    for o in outcomes:
        log.info("%-9s %s%s", o.status, o.label, f" ({o.seconds:.1f}s)" if o.status == "computed" else "")
    return outcomes


def execute(job: Job, store_root, threads: int = 2) -> JobOutcome:
    store = Store(store_root)
    if store.has_run(job.key):
        return JobOutcome(job.label, job.key, "cached")
    spec, dataset = job.spec, job.dataset
    system = make_system(spec, store, threads)
    start = time.perf_counter()
    if spec.role == "retriever":
        run = system.retrieve(dataset, spec.k)
    elif spec.role == "reranker":
        candidates = store.load_run(job.upstream[0]).top(spec.depth)
        run = system.rerank(dataset, candidates, spec.depth)
    else:
        run = system.fuse(dataset, [store.load_run(k) for k in job.upstream]).top(spec.k)
    seconds = time.perf_counter() - start
    try:
        run.validate(dataset.queries().keys(), source=f"system {spec.name!r} on {dataset.name}")
    except HarnessError as e:
        raise HarnessError(e.message, file=f"systems.{spec.name}") from None
    store.save_run(
        job.key,
        run,
        {
            "system": spec.name,
            "kind": spec.kind,
            "config": dataclasses.asdict(spec.config),
            "k": spec.k,
            "depth": spec.depth,
            "dataset": dataset.irds_id,
            "dataset_name": dataset.name,
            "upstream": list(job.upstream),
            "n_queries": len(run),
            "n_pairs": run.n_pairs(),
            "max_depth": run.depth(),
            "wall_seconds": seconds,
            "created": now(),
            "versions": library_versions(),
            "hardware": hardware(),
            **getattr(system, "run_metadata", {}),
        },
        files=getattr(system, "run_files", None),
    )
    return JobOutcome(job.label, job.key, "computed", seconds)
