"""Run a suite's jobs, skipping every one whose run is already in the store.

Jobs run level by level (a stage after the stages it consumes) through joblib: in this process, on local ``loky``
workers, or on a Dask or Ray cluster whose workers reach the store root through a shared filesystem. Each job takes
its entry's lock before computing, so concurrent runs of the same suite (or two workers given the same job) compute
it once; a stage that wants an accelerator also holds one device slot per device while it runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import multiprocessing
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from joblib import Parallel, delayed, parallel_config

from harness.core import interrupt, quiet
from harness.core.errors import HarnessError
from harness.core.provenance import hardware, library_versions, now
from harness.store import HOST, Store, file_lock, is_own_temp
from harness.suite.config import Pipeline
from harness.suite.plan import Job, make_system, plan
from harness.suite.progress import RunProgress
from harness.system import system_class

log = logging.getLogger("irh")

BACKENDS = ("loky", "dask", "ray")


@dataclass(frozen=True)
class JobOutcome:
    label: str
    key: str | None
    status: str  # "cached" | "computed" | "skipped"
    seconds: float = 0.0
    detail: str = ""
    worker: str = ""  # host:pid of the process that handled the job


def check_backend(backend: str, scheduler: str | None) -> None:
    if backend not in BACKENDS:
        raise HarnessError(f"unknown backend {backend!r} (known: {', '.join(BACKENDS)})", field="--backend")
    if scheduler and backend == "loky":
        raise HarnessError("--scheduler needs --backend dask or ray", field="--scheduler")


def run_stages(pipeline: Pipeline, store: Store) -> dict[tuple[str, str], str]:
    """Run (or find stored) every stage of a pipeline, in this process; (dataset, system) → run key. A stage that
    cannot run on its dataset is an error here (a pipeline built in code, e.g. by training, needs every stage)."""
    jobs = plan(pipeline, store)
    for job in jobs:
        if job.skipped:
            raise HarnessError(f"system {job.spec.name!r} cannot run on {job.dataset.irds_id}: {job.skipped}")
    run_jobs(jobs, store)
    return {(job.dataset.name, job.spec.name): job.key for job in jobs}


def run_jobs(
    jobs: list[Job], store: Store, n_jobs: int = 1, backend: str = "loky", scheduler: str | None = None
) -> list[JobOutcome]:
    """Execute jobs level by level (a stage only after the stages it consumes); independent jobs run in parallel.

    ``backend``: "loky" (local processes; ``n_jobs`` of them, in this process when 1), "dask" (a
    ``distributed`` cluster at ``scheduler``, e.g. tcp://host:8786, or a local one when None) or "ray" (``scheduler``
    is the Ray address). On a cluster the store root must be a path every worker sees (a shared filesystem).
    """
    check_backend(backend, scheduler)
    removed = store.clean_leftovers()
    if removed:
        log.info("removed %d leftover(s) of interrupted writes", removed)
    outcomes: list[JobOutcome] = [JobOutcome(j.label, None, "skipped", detail=j.skipped) for j in jobs if j.skipped]
    level: dict[str, int] = {}
    for job in jobs:
        if job.key is not None:
            level[job.key] = 1 + max((level.get(u, -1) for u in job.upstream), default=-1)
    runnable = [j for j in jobs if j.key is not None]
    root = store.root.resolve()  # workers elsewhere need a path that does not depend on our cwd
    local = backend == "loky" and n_jobs == 1
    threads = 2 if local else 1  # with parallel jobs, each job gets one core
    keys = [j.key for j in runnable]
    # as each job ends (Ray's joblib backend returns a wave at once)
    return_as = "list" if backend == "ray" else "generator_unordered"
    progress = RunProgress(jobs, store)
    with progress, interrupt.progress(lambda: stored_line(store, keys), cleanup=lambda: discard_partial(store)):
        for o in outcomes:
            progress.ended(o)
        try:
            with _cluster(backend, scheduler) if not local and runnable else contextlib.nullcontext():
                for depth in sorted(set(level.values())):
                    wave = [j for j in runnable if level[j.key] == depth]
                    if local or (backend == "loky" and len(wave) == 1):
                        for job in wave:
                            progress.starting(job)
                            outcomes.append(execute(job, root, threads))
                            progress.ended(outcomes[-1])
                    else:
                        workers = n_jobs if backend == "loky" else -1  # a cluster: all its workers
                        parallel = Parallel(n_jobs=workers, return_as=return_as)
                        for outcome in parallel(delayed(execute)(j, root, threads) for j in wave):
                            outcomes.append(outcome)
                            progress.ended(outcome)
        except KeyboardInterrupt:  # joblib has stopped the workers by now
            discard_partial(store)
            raise interrupt.Interrupted(f"interrupted: {stored_line(store, keys)}") from None
    order = {job.label: i for i, job in enumerate(jobs)}
    return sorted(outcomes, key=lambda o: order[o.label])  # in plan order, whatever order the jobs ended in


def stored_line(store: Store, keys: list[str]) -> str:
    """What an interruption leaves: how many of the jobs are stored (the rest run on the next ``irh run``)."""
    done = sum(store.has_run(k) for k in keys)
    return f"{done} of {len(keys)} jobs stored; `irh run` resumes"


def discard_partial(store: Store) -> None:
    """After a failed or interrupted command: remove this process's temp files and leftovers of dead writers.

    Best effort (a read-only store keeps what it has; nothing partial was written there).
    """
    with contextlib.suppress(OSError):
        for tmp in store.root.glob("**/.*.tmp-*"):
            if not is_own_temp(tmp):
                continue
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
        store.clean_leftovers()


@contextlib.contextmanager
def _cluster(backend: str, scheduler: str | None) -> Iterator[None]:
    """joblib's parallel configuration for the backend, connected to its cluster for the duration."""
    if backend == "loky":
        with parallel_config(backend="loky"):
            yield
        return
    if backend == "dask":
        if importlib.util.find_spec("distributed") is None:
            raise HarnessError("backend 'dask' needs dask.distributed: pip install 'dask[distributed]'")
        from distributed import Client

        try:
            client = Client(scheduler, timeout="30s") if scheduler else Client()
        except OSError as e:
            raise HarnessError(f"cannot reach the Dask scheduler {scheduler}: {e}", field="--scheduler") from None
        info = client.scheduler_info()
        log.info("dask: %d worker(s) at %s", len(info.get("workers", {})), info.get("address"))
        try:
            with parallel_config(backend="dask", client=client):
                yield
        finally:
            client.close()
        return
    try:
        import ray
        from ray.util.joblib import register_ray
    except ImportError:
        raise HarnessError("backend 'ray' needs the ray package: pip install 'ray[default]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=scheduler, log_to_driver=False)
    register_ray()
    try:
        with parallel_config(backend="ray"):
            yield
    finally:
        if started:
            ray.shutdown()


def execute(job: Job, store_root, threads: int = 2) -> JobOutcome:
    """Compute one job's run unless it is stored; waits for another process computing the same key."""
    store = Store(store_root)
    worker = f"{HOST}:{os.getpid()}"
    if multiprocessing.parent_process() is not None:
        _quiet_worker_bars()
        quiet.apply()
    if store.has_run(job.key):
        return JobOutcome(job.label, job.key, "cached", worker=worker)
    with store.lock("runs", job.key, blocking=False) as free:
        if free:
            return _compute(job, store, threads, worker)
    log.info("waiting for %s: another process is computing it", job.label)
    with store.lock("runs", job.key):
        if store.has_run(job.key):
            return JobOutcome(job.label, job.key, "cached", detail="computed by another process", worker=worker)
        return _compute(job, store, threads, worker)  # the other process failed: our turn


def _quiet_worker_bars() -> None:
    """tqdm's default lock is a multiprocessing semaphore, which a worker stopped by an interruption leaks (the
    resource tracker then warns about it on stderr); within one worker a thread lock does the same job."""
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())


def _compute(job: Job, store: Store, threads: int, worker: str) -> JobOutcome:
    """Run the stage and store its run; the caller holds the entry's lock."""
    if store.has_run(job.key):
        return JobOutcome(job.label, job.key, "cached", worker=worker)
    spec, dataset = job.spec, job.dataset
    inputs = [store.load_run(k) for k in job.upstream]
    with device_slot(system_class(spec.kind).wants_device(spec.config), store, spec.name) as device:
        system = make_system(spec, store, threads, device)
        start = time.perf_counter()
        result = system.stage(dataset, inputs, spec.k, spec.depth)
        seconds = time.perf_counter() - start
    run = result.run
    try:
        run.validate(dataset.queries().keys(), source=f"system {spec.name!r} on {dataset.name}")
    except HarnessError as e:
        raise HarnessError(e.message, file=f"systems.{spec.name}") from None
    store.save_run(
        job.key,
        run,
        {
            "system": spec.name,
            "system_kind": spec.kind,  # the store writes its own "kind" ("runs") over the sidecar's
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
            "index_seconds": round(system.index_seconds, 3),  # corpus-side share of the wall time (corpus_work)
            "created": now(),
            "worker": worker,
            **({"device": device} if device else {}),
            "versions": library_versions(),
            "hardware": hardware(),
            **result.metadata,
        },
        files=result.files,
    )
    return JobOutcome(job.label, job.key, "computed", seconds, worker=worker)


# ---------------------------------------------------------------- accelerators: one stage per device
def visible_devices() -> list[str]:
    """Accelerators of this host: $IRH_DEVICES (comma-separated, e.g. "cuda:0,cuda:1") or torch's CUDA devices."""
    env = os.environ.get("IRH_DEVICES")
    if env is not None:
        return [d.strip() for d in env.split(",") if d.strip()]
    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        return []
    import torch

    return [f"cuda:{i}" for i in range(torch.cuda.device_count())]


class DeviceSlots:
    """One holder per device across every process of this host: a lock file per device under the store.

    ``acquire`` takes the first free device, or waits until one frees (polling, since a process may wait for any).
    """

    def __init__(self, lock_dir: Path, devices: list[str], poll_seconds: float = 0.2):
        self.lock_dir = Path(lock_dir)
        self.devices = list(devices)
        self.poll_seconds = poll_seconds

    def _path(self, device: str) -> Path:
        return self.lock_dir / f"{HOST}-{device.replace(':', '_')}.lock"

    @contextlib.contextmanager
    def acquire(self, timeout: float | None = None) -> Iterator[str]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            for device in self.devices:
                with file_lock(self._path(device), blocking=False) as got:
                    if got:
                        yield device
                        return
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"no free device among {', '.join(self.devices)}")
            time.sleep(self.poll_seconds)


@contextlib.contextmanager
def device_slot(wanted: bool, store: Store, name: str) -> Iterator[str | None]:
    """The device a stage may use, held for its duration; None when it wants none or the host has none."""
    devices = visible_devices() if wanted else []
    if not devices:
        yield None
        return
    slots = DeviceSlots(store.root / "locks" / "devices", devices)
    with slots.acquire() as device:
        log.info("%s: using %s", name, device)
        yield device
