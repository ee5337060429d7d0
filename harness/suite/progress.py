"""What ``irh run`` says while it works: the plan up front, an overall ``stage k/N`` bar with elapsed time and an ETA,
and one line per stage as it ends (tqdm, as the systems' own bars; lines go through the ``irh`` logger, so ``-q``
silences them all).

The estimate comes from stored timings of similar stages: runs in the store of the same kind on the same dataset
(same parameters first), e.g. computed before a code change gave the stage a new key. Stages with no similar run
are estimated, once some stages have finished, at the mean time of those.
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import threading
import time
from dataclasses import asdict

from tqdm import tqdm

from harness.store import Store
from harness.suite.plan import Job

log = logging.getLogger("irh")


def stored_timings(store: Store) -> dict[tuple, list[float]]:
    """Wall seconds of the stored runs, by (kind, dataset id, parameters), (kind, dataset id) and, for runs stored
    before their sidecar named the kind, (system name, dataset id)."""
    timings: dict[tuple, list[float]] = {}
    for meta in store.entries("runs"):
        seconds, kind, dataset = meta.get("wall_seconds"), meta.get("system_kind"), meta.get("dataset")
        if not isinstance(seconds, int | float) or not dataset:
            continue
        keys = [("name", meta.get("system"), dataset)]
        if kind:
            keys += [(kind, dataset, _params(meta.get("config"))), (kind, dataset)]
        for key in keys:
            timings.setdefault(key, []).append(float(seconds))
    return timings


def _params(config: object) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def estimate(job: Job, timings: dict[tuple, list[float]]) -> float | None:
    """The median stored time of the most similar stages, or None when the store has none."""
    kind, dataset = job.spec.kind, job.dataset.irds_id
    similar = ((kind, dataset, _params(asdict(job.spec.config))), (kind, dataset), ("name", job.spec.name, dataset))
    for key in similar:
        if key in timings:
            return statistics.median(timings[key])
    return None


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


class RunProgress:
    """The plan, the overall bar and the stage lines of one ``run_jobs`` call."""

    def __init__(self, jobs: list[Job], store: Store):
        self.runnable = [j for j in jobs if j.key is not None]
        self.n_skipped = len(jobs) - len(self.runnable)
        cached = {j.key for j in self.runnable if store.has_run(j.key)}
        self.to_compute = [j for j in self.runnable if j.key not in cached]
        self.n_cached = len(self.runnable) - len(self.to_compute)
        timings = stored_timings(store) if self.to_compute else {}
        self.estimates = {j.key: estimate(j, timings) for j in self.to_compute}
        self.done: set[str] = set()
        self.computed_seconds: list[float] = []
        self.bar: tqdm | None = None
        self.label: str | None = None  # the stage running in this process
        self.current: str | None = None  # and its key
        self.last_event = time.monotonic()  # a stage's end: the ETA counts down from there
        self._stop = threading.Event()

    # ------------------------------------------------------------ the plan, said before anything runs
    def plan_lines(self) -> list[str]:
        lines = [
            f"plan: {len(self.runnable) + self.n_skipped} stages: {self.n_cached} cached, "
            f"{len(self.to_compute)} to compute, {self.n_skipped} skipped"
        ]
        if self.to_compute:
            known = [s for s in self.estimates.values() if s is not None]
            if known:
                lines.append(
                    f"estimate: ~{duration(sum(known))} for {len(known)} of the {len(self.to_compute)} stages to "
                    "compute, from stored timings of similar stages (same kind or system, same dataset)"
                )
            else:
                lines.append("estimate: none yet (no stored timings of similar stages)")
        return lines

    # ------------------------------------------------------------ the bar and the stage lines
    def __enter__(self) -> RunProgress:
        for line in self.plan_lines():
            log.info("%s", line)
        if self.runnable and log.isEnabledFor(logging.INFO):
            self.bar = tqdm(
                total=len(self.runnable),
                file=sys.stderr,
                bar_format="{desc} |{bar:20}| {elapsed} elapsed{postfix}",
                leave=False,
                dynamic_ncols=True,
                disable=None,  # no bar where stderr is not a terminal (logs): the stage lines remain
            )
            self._refresh()
            if not self.bar.disable:
                threading.Thread(target=self._tick, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self.bar is not None:
            self.bar.close()

    def _tick(self) -> None:
        """Elapsed time and ETA move while a long stage runs (tqdm redraws only when told)."""
        while not self._stop.wait(1.0):
            self._refresh(self.label)

    def starting(self, job: Job) -> None:
        """A stage starts in this process (one at a time): name it on the bar."""
        self.label, self.current = job.label, job.key
        self._refresh(job.label)

    def ended(self, outcome) -> None:
        """A stage's outcome (``runner.JobOutcome``): its line now, and the bar moves on."""
        if outcome.key is not None:
            self.done.add(outcome.key)
            self.label, self.current, self.last_event = None, None, time.monotonic()
        if outcome.status == "computed":
            self.computed_seconds.append(outcome.seconds)
        line = f"{outcome.status:<9} {outcome.label}"
        if outcome.status == "computed":
            line += f" ({outcome.seconds:.1f}s)"
        elif outcome.detail:
            line += f" ({outcome.detail})"
        if self.bar is not None:
            with tqdm.external_write_mode(file=sys.stderr):
                log.info("%s", line)
            if outcome.key is not None:  # skipped stages are not on the bar
                self.bar.update(1)
                self._refresh()
        else:
            log.info("%s", line)

    def eta(self) -> float | None:
        """Seconds left: stored estimates of the stages still to compute, the others at the mean time of the stages
        computed so far; None while some stage has neither."""
        remaining = [self.estimates[j.key] for j in self.to_compute if j.key not in self.done]
        unknown = sum(s is None for s in remaining)
        if unknown and not self.computed_seconds:
            return None
        mean = statistics.mean(self.computed_seconds) if self.computed_seconds else 0.0
        left = sum(s for s in remaining if s is not None) + unknown * mean
        if self.current is None:  # between stages, or parallel jobs (the sum is then an upper bound)
            return left
        running = self.estimates.get(self.current)
        running = mean if running is None else running
        return left - min(time.monotonic() - self.last_event, running)  # the running stage's share counts down

    def _refresh(self, label: str | None = None) -> None:
        if self.bar is None:
            return
        k = min(len(self.done) + 1, len(self.runnable))
        self.bar.set_description_str(f"stage {k}/{len(self.runnable)}" + (f" {label}" if label else ""), refresh=False)
        eta = self.eta()
        self.bar.set_postfix_str(f"ETA ~{duration(eta)}" if eta is not None else "ETA ?", refresh=False)
        self.bar.refresh()
