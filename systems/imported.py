"""Runs produced elsewhere, imported as systems: a TREC run file per dataset, or the dataset's own scoreddocs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.datasets import DatasetRef
from harness.hashing import digest_file
from harness.run import Run
from harness.system import FilePath, Retriever


@dataclass(frozen=True)
class RunFileConfig:
    # suite dataset name → TREC run file (plain or .gz); relative paths are relative to the suite file
    paths: dict[str, FilePath]


class RunFile(Retriever):
    kind = "run-file"
    Config = RunFileConfig
    dataset_parts = ("queries",)

    def _path(self, dataset: DatasetRef) -> Path:
        return Path(self.config.paths[dataset.name])

    def applies_to(self, dataset: DatasetRef) -> str | None:
        if dataset.name not in self.config.paths:
            return f"no run file given for dataset {dataset.name!r}"
        if not self._path(dataset).exists():
            return f"run file {self._path(dataset)} not found"
        return None

    def content_digests(self, dataset: DatasetRef) -> dict[str, str]:
        return {"run_file": digest_file(self._path(dataset))}

    def retrieve(self, dataset: DatasetRef, k: int) -> Run:
        path = self._path(dataset)
        run = Run.read_trec(path)
        run.validate(dataset.queries().keys(), source=str(path))
        return run.top(k)


@dataclass(frozen=True)
class ScoredDocsConfig:
    pass


class ScoredDocs(Retriever):
    """The candidate run a dataset ships (ir_datasets ``scoreddocs``, e.g. the official TREC DL top-1000)."""

    kind = "scoreddocs"
    Config = ScoredDocsConfig
    dataset_parts = ("queries", "scoreddocs")

    def applies_to(self, dataset: DatasetRef) -> str | None:
        return None if dataset.has_scoreddocs() else f"{dataset.irds_id} has no scoreddocs"

    def retrieve(self, dataset: DatasetRef, k: int) -> Run:
        run = dataset.scoreddocs()
        run.validate(dataset.queries().keys(), source=f"{dataset.irds_id} scoreddocs")
        return run.top(k)
