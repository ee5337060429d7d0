"""Runs produced elsewhere, imported as systems: a TREC run file per dataset, or the dataset's own scoreddocs."""

from __future__ import annotations

from dataclasses import dataclass

from harness.core.errors import HarnessError
from harness.core.hashing import digest_file
from harness.core.run import Run
from harness.data.datasets import DatasetRef
from harness.system import FilePath, Retriever, StageResult, System


@dataclass(frozen=True)
class RunFileConfig:
    # suite dataset name → TREC run file (plain or .gz); relative paths are relative to the suite file
    paths: dict[str, FilePath]


class RunFile(System, Retriever):
    kind = "run-file"
    Config = RunFileConfig
    dataset_parts = ("queries",)

    def _path(self, dataset: DatasetRef) -> FilePath:
        """The run file: ``.resolved`` to open; ``.shown`` (as written in the suite, never expanded) for messages."""
        return self.config.paths[dataset.name]

    def applies_to(self, dataset: DatasetRef) -> str | None:
        if dataset.name not in self.config.paths:
            return f"no run file given for dataset {dataset.name!r}"
        if not self._path(dataset).resolved.exists():
            return f"run file {self._path(dataset).shown} not found"
        return None

    def content_digests(self, dataset: DatasetRef) -> dict[str, str]:
        path = self._path(dataset)
        if not path.resolved.is_file():  # reading a device or FIFO would never end
            raise HarnessError("run file is not a regular file (a directory, device or pipe)", file=path.shown)
        return {"run_file": digest_file(path.resolved)}

    def retrieve(self, dataset: DatasetRef, k: int) -> StageResult:
        path = self._path(dataset)
        run = Run.read_trec(path.resolved, shown=path.shown)
        if not len(run):
            # an import that ranks nothing is a mistake (wrong or truncated file), never a row of zeros
            raise HarnessError("run file has no rankings (empty)", file=path.shown)
        run.validate(dataset.queries().keys(), source=path.shown)
        return StageResult(run.top(k))


@dataclass(frozen=True)
class ScoredDocsConfig:
    pass


class ScoredDocs(System, Retriever):
    """The candidate run a dataset ships (ir_datasets ``scoreddocs``, e.g. the official TREC DL top-1000)."""

    kind = "scoreddocs"
    Config = ScoredDocsConfig
    dataset_parts = ("queries", "scoreddocs")

    def applies_to(self, dataset: DatasetRef) -> str | None:
        return None if dataset.has_scoreddocs() else f"{dataset.irds_id} has no scoreddocs"

    def retrieve(self, dataset: DatasetRef, k: int) -> StageResult:
        run = dataset.scoreddocs()
        run.validate(dataset.queries().keys(), source=f"{dataset.irds_id} scoreddocs")
        return StageResult(run.top(k))
