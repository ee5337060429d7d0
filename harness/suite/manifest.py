"""The run manifest: what ``irh run`` recorded for each stage of a suite, so reading results never re-plans.

``results/manifests/SUITE.json`` (sealed JSON; read-modify-write under a lock) maps ``DATASET/SYSTEM`` to a
``StageRecord``: the run key, the system fingerprint and the content digests it rested on (model weights, run files),
the dataset digests and judged-query counts, upstream keys, k/depth and label, and ``entry_digest`` — a digest of the
stage's suite entry alone (kind, parameters as written, k/depth, dataset id, and the entries of its upstream stages;
not its name or label, not model weights), cheap to compute from the suite file. ``irh show/eval/compare/report``
find each stage by that digest and read the run it names; they never build a system, resolve a model or start a JVM.

What is recorded, and when:
- ``irh run`` records every stage it planned whose run is stored, and every stage it skipped, even when it stops
  early (a failing stage, an interruption); stages it did not reach keep their previous record.
- ``irh run --only``: the selected stages and their upstream stages are recorded; the others keep theirs.
- A stage skipped here (a model not installed on this machine) never replaces a record whose run is stored.
- Two suites sharing runs: a stage is looked up by its entry digest in its own suite's manifest first, then in the
  other manifests of the store, so a second suite (or a renamed system) with the same entry reads the same run.
- A damaged manifest is a one-line error on read; the next ``irh run`` records the suite anew.
- A stage whose entry changed since it was recorded reads as missing: "changed since it was run: `irh run`".
  Reads cannot see changes outside the suite file (system code, model weights, a run file replaced at the same
  path, dataset files): ``irh run`` re-plans, and records what it finds.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.hashing import digest_value
from harness.core.provenance import now
from harness.data.datasets import DatasetRef
from harness.store import Damaged, Store, file_lock, read_sealed, write_sealed
from harness.suite.config import Pipeline, Suite, SystemSpec
from harness.suite.plan import Job, selected

log = logging.getLogger("irh")

FORMAT = 1
NOT_RUN = "not in the store (not run yet)"


@dataclass(frozen=True)
class StageRecord:
    """One (dataset, system) stage as ``irh run`` last planned it."""

    dataset: str
    system: str
    entry_digest: str
    irds_id: str
    kind: str
    label: str | None
    k: int
    depth: int | None
    recorded: str  # when (UTC, ISO)
    run_key: str | None = None  # None: skipped
    skipped: str | None = None  # why the stage did not run
    upstream: tuple[str, ...] = ()
    fingerprint: str | None = None
    content_digests: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)  # dataset part -> digest (queries and qrels always)
    scope: dict[str, int] = field(default_factory=dict)  # judged_queries, judgments, topics, unjudged_dropped

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> StageRecord:
        return cls(**{**value, "upstream": tuple(value.get("upstream", ()))})


@dataclass(frozen=True)
class Stage:
    """A stage of a suite as a read sees it: a record with a stored run, or why there is none."""

    dataset: DatasetRef
    spec: SystemSpec
    record: StageRecord | None = None
    skipped: str | None = None
    missing: str | None = None


def manifest_path(store: Store, suite_name: str) -> Path:
    return store.manifests_dir / f"{suite_name}.json"


def manifest_name(pipeline: Pipeline) -> str:
    """A suite's name; a pipeline built in code (training's evaluation) is named by the digest of its stages."""
    if isinstance(pipeline, Suite):
        return pipeline.name
    stages = sorted(entry_digest(pipeline, d, s) for d in pipeline.datasets for s in pipeline.systems)
    return "pipeline-" + digest_value(stages)[:16]


def entry_digest(suite: Pipeline, dataset: DatasetRef, spec: SystemSpec) -> str:
    """Digest of what the suite file says about this stage (and, recursively, the stages it consumes)."""
    return digest_value(
        {
            "kind": spec.kind,
            "config": dataclasses.asdict(spec.config),
            "k": spec.k,
            "depth": spec.depth,
            "dataset": dataset.irds_id,
            "upstream": [entry_digest(suite, dataset, suite.system(u)) for u in spec.upstream],
        }
    )


# ---------------------------------------------------------------- recording (irh run)
def record_jobs(store: Store, suite: Pipeline, jobs: list[Job]) -> None:
    """Record the planned jobs whose runs are stored, and the skipped ones, in the suite's manifest."""
    scopes: dict[str, tuple[dict[str, str], dict[str, int]]] = {}
    new: dict[str, StageRecord] = {}
    for job in jobs:
        stored = job.key is not None and store.has_run(job.key)
        if not stored and job.skipped is None:
            continue  # not reached (failed or interrupted): keep what was recorded before
        ds, spec = job.dataset, job.spec
        common = dict(
            dataset=ds.name, system=spec.name, entry_digest=entry_digest(suite, ds, spec), irds_id=ds.irds_id,
            kind=spec.kind, label=spec.label, k=spec.k, depth=spec.depth, recorded=now(),
        )  # fmt: skip
        if not stored:
            new[job.label] = StageRecord(**common, skipped=job.skipped)
            continue
        if ds.name not in scopes:
            scopes[ds.name] = _dataset_facts(ds)
        data, scope = scopes[ds.name]
        new[job.label] = StageRecord(
            **common,
            run_key=job.key,
            upstream=job.upstream,
            fingerprint=job.fingerprint,
            content_digests=dict(job.content),
            data={**job.data, **data},
            scope=scope,
        )
    if not new:
        return
    name = manifest_name(suite)
    path = manifest_path(store, name)
    with file_lock(path.with_suffix(".lock")):
        try:
            entries = _read(path)
        except Damaged as e:  # what this run planned is recorded anew; stages it did not plan read as not run
            log.warning("%s: recording the suite's manifest anew", e.problem)
            entries = {}
        for label, rec in new.items():
            old = entries.get(label)
            if rec.run_key is None and old is not None and old.entry_digest == rec.entry_digest and _stored(store, old):
                continue  # skipped on this machine; the run stored by another stays the answer
            entries[label] = rec
        write_sealed(
            path,
            {"format": FORMAT, "suite": name, "entries": {k: dataclasses.asdict(v) for k, v in entries.items()}},
        )


def _dataset_facts(ds: DatasetRef) -> tuple[dict[str, str], dict[str, int]]:
    from harness.core.evaluate import EvalScope  # pandas: recording runs, never reading them

    queries, qrels = ds.queries(), ds.qrels()
    scope = EvalScope.of(queries, qrels)
    facts = {
        "judged_queries": len(scope.query_ids),
        "judgments": sum(len(qrels[q]) for q in scope.query_ids),
        "topics": scope.n_topics,
        "unjudged_dropped": scope.n_unjudged_dropped,
    }
    return {"queries": ds.digest("queries"), "qrels": ds.digest("qrels")}, facts


def _stored(store: Store, rec: StageRecord) -> bool:
    return rec.run_key is not None and store.has_run(rec.run_key)


def _read(path: Path) -> dict[str, StageRecord]:
    if not path.exists():
        return {}
    return {label: StageRecord.from_json(v) for label, v in read_sealed(path)["entries"].items()}


# ---------------------------------------------------------------- reading (show, eval, compare, report)
class Manifests:
    """The store's manifests, read once: this suite's first, the others only when a stage is not found in it."""

    def __init__(self, store: Store, suite: Pipeline):
        self.store, self.suite = store, suite
        self.own_path = manifest_path(store, manifest_name(suite))
        self.own = _read(self.own_path)
        self._others: dict[str, StageRecord] | None = None

    def find(self, dataset: DatasetRef, spec: SystemSpec) -> Stage:
        label = f"{dataset.name}/{spec.name}"
        digest = entry_digest(self.suite, dataset, spec)
        rec = self.own.get(label)
        if rec is None or rec.entry_digest != digest:
            rec = next((r for r in self.own.values() if r.entry_digest == digest), None) or self._other(digest)
        if rec is None:
            if label in self.own:
                return Stage(dataset, spec, missing="its suite entry changed since it was run: `irh run` the suite")
            return Stage(dataset, spec, missing=NOT_RUN)
        if rec.run_key is None:
            return Stage(dataset, spec, skipped=rec.skipped)
        if not self.store.has_run(rec.run_key):
            return Stage(dataset, spec, missing=f"its run {rec.run_key[:16]} was removed from the store: `irh run`")
        return Stage(dataset, spec, record=rec)

    def _other(self, digest: str) -> StageRecord | None:
        if self._others is None:
            own = self.own_path
            self._others = {}
            for path in sorted(own.parent.glob("*.json")):
                if path == own:
                    continue
                try:
                    records = _read(path)
                except Damaged as e:  # another suite's record: that suite's next `irh run` writes it anew
                    log.warning("%s; not used", e.problem)
                    continue
                for rec in records.values():  # a stored run is the better answer than a skip
                    if rec.entry_digest not in self._others or rec.run_key is not None:
                        self._others[rec.entry_digest] = rec
        return self._others.get(digest)


def stages(store: Store, suite: Pipeline, only: list[str] | None = None) -> Iterator[Stage]:
    """Every (dataset, system) of the suite, in suite order, as recorded (``only``: DATASET/SYSTEM globs)."""
    wanted = selected(suite, only) if only else None
    manifests = Manifests(store, suite)
    for dataset in suite.datasets:
        found: dict[str, Stage] = {}
        for spec in suite.systems:
            if wanted is not None and f"{dataset.name}/{spec.name}" not in wanted:
                continue
            found[spec.name] = stage = _stage(manifests, dataset, spec, found)
            yield stage


def _stage(manifests: Manifests, dataset: DatasetRef, spec: SystemSpec, earlier: dict[str, Stage]) -> Stage:
    if spec.datasets is not None and dataset.name not in spec.datasets:
        return Stage(dataset, spec, skipped=f"not listed in systems.{spec.name}.datasets")
    for up in (earlier[u] for u in spec.upstream if u in earlier):
        if up.skipped:
            return Stage(dataset, spec, skipped=f"upstream {up.spec.name!r} skipped: {up.skipped}")
    return manifests.find(dataset, spec)
