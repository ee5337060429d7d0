"""Expand a suite into jobs (dataset × system stage), each with the cache key of its output run.

key = sha256(store format, system fingerprint, dataset id + digests of the parts the system reads,
             upstream run keys, k/depth)
so a changed input of any kind can never address an old entry. Only ``irh run`` plans (building each system to
fingerprint it); reads find the runs through the run manifest (``harness.suite.manifest``).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from harness.core.downloads import downloads_allowed
from harness.core.hashing import digest_value
from harness.data.datasets import DatasetRef
from harness.store import STORE_FORMAT, Store
from harness.suite.config import Pipeline, SystemSpec
from harness.system import Context, System, system_class


@dataclass(frozen=True)
class Job:
    dataset: DatasetRef
    spec: SystemSpec
    key: str | None  # None when skipped
    upstream: tuple[str, ...]  # keys of the runs this stage consumes
    skipped: str | None = None  # why the system does not run on this dataset
    fingerprint: str | None = None
    content: dict[str, str] = field(default_factory=dict, compare=False)  # model weights, run files
    data: dict[str, str] = field(default_factory=dict, compare=False)  # digests of the dataset parts it reads

    @property
    def label(self) -> str:
        return f"{self.dataset.name}/{self.spec.name}"


def make_system(spec: SystemSpec, store: Store, threads: int = 2, device: str | None = None) -> System:
    return system_class(spec.kind)(spec.config, Context(store.artifacts_dir, threads, device))


def plan(suite: Pipeline, store: Store, only: list[str] | None = None) -> list[Job]:
    """Jobs in dependency order. ``only`` holds DATASET/SYSTEM glob patterns; upstream stages come along. Stages
    left out are never instantiated, so their models need not be installed."""
    wanted = selected(suite, only) if only else None
    jobs: list[Job] = []
    for dataset in suite.datasets:
        by_name: dict[str, Job] = {}
        for spec in suite.systems:
            if wanted is not None and f"{dataset.name}/{spec.name}" not in wanted:
                continue
            by_name[spec.name] = job = _job(dataset, spec, by_name, store)
            jobs.append(job)
    return jobs


def _job(dataset: DatasetRef, spec: SystemSpec, earlier: dict[str, Job], store: Store) -> Job:
    if spec.datasets is not None and dataset.name not in spec.datasets:
        return Job(dataset, spec, None, (), f"not listed in systems.{spec.name}.datasets")
    ups = [earlier[u] for u in spec.upstream]
    blocked = [u for u in ups if u.key is None]
    if blocked:
        return Job(dataset, spec, None, (), f"upstream {blocked[0].spec.name!r} skipped: {blocked[0].skipped}")
    system = make_system(spec, store)
    reason = unavailable(dataset, system) or system.applies_to(dataset)
    if reason:
        return Job(dataset, spec, None, (), reason)
    upstream = tuple(u.key for u in ups)
    fingerprint = system.fingerprint(dataset)
    data = {part: dataset.digest(part) for part in system.dataset_parts}
    key = digest_value(
        {
            "format": STORE_FORMAT,
            "system": fingerprint,
            "dataset": dataset.irds_id,
            "data": data,
            "upstream": upstream,
            "k": spec.k,
            "depth": spec.depth,
        }
    )
    return Job(dataset, spec, key, upstream, None, fingerprint, system.content_digests(dataset), data)


def unavailable(dataset: DatasetRef, system: System) -> str | None:
    """Why this dataset cannot be run here (missing parts; a partial corpus for full retrieval), or None."""
    for part in ("queries", "qrels", *system.dataset_parts):
        availability = dataset.availability(part)
        if availability.status == "download" and downloads_allowed():
            continue  # irh run --allow-download: fetched when the job reads it
        if not availability.local:
            where = availability.location()
            return f"{part} not available locally ({availability.describe()}{'; ' + where if where else ''})"
    if system.role == "retriever" and "docs" in system.dataset_parts:
        return dataset.partial_corpus()
    return None


def selected(suite: Pipeline, patterns: list[str]) -> set[str]:
    """DATASET/SYSTEM labels matching the patterns, plus every upstream stage they consume."""
    labels = [f"{d.name}/{s.name}" for d in suite.datasets for s in suite.systems]
    wanted = {label for label in labels if any(fnmatch.fnmatchcase(label, p) for p in patterns)}
    frontier = list(wanted)
    while frontier:
        dataset, _, system = frontier.pop().partition("/")
        for up in suite.system(system).upstream:
            label = f"{dataset}/{up}"
            if label not in wanted:
                wanted.add(label)
                frontier.append(label)
    return wanted
