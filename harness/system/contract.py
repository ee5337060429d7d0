"""The system contract: what a family implements and what the runner gives it and gets back.

A family subclasses ``System`` (fingerprint, applicability, corpus timing) and then one role, in that order:
``class BM25(System, Retriever)``. Each role is a Protocol with one method returning a ``StageResult`` (the run, what
to record beside it, files to keep for audit) and a ``stage`` method through which the runner calls it, so the
runner never asks a system its role.
Everything a system may use besides its inputs (artefact directory, threads, the accelerator it holds) comes in the
``Context`` it is built with. Imported runs (run files, a dataset's scoreddocs) are retrievers that read instead of
search.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from harness.core.hashing import digest_value
from harness.core.run import Run
from harness.data.datasets import DatasetRef
from harness.system.code import code_digest


@dataclass(frozen=True)
class Context:
    """What a system may use besides its inputs: a directory for its own derived artefacts (indexes, encodings),
    the threads it may use, and the accelerator it holds for this stage (None: none was assigned)."""

    artifacts_dir: Path
    threads: int = 2
    device: str | None = None


@dataclass(frozen=True)
class StageResult:
    """One stage's output: the run, facts recorded in the stored run's metadata, and files (name → text, e.g. raw
    LLM answers) kept beside it."""

    run: Run
    metadata: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)


def on_accelerator(device: str) -> bool:
    """Whether a configured device (``auto``, ``cuda:1``, ``cpu``...) means a stage may use an accelerator."""
    return not device.startswith("cpu")


class System:
    """Base of every family. Subclasses set ``kind``, ``Config``, derive from one role and implement its method.

    The role comes after ``System`` among the bases, so ``System.__init__`` is the one a family's ``super()`` reaches
    (a Protocol's own ``__init__`` would not initialise it)."""

    kind: ClassVar[str]
    role: ClassVar[str]  # set by the role: "retriever" | "reranker" | "fusion"
    Config: ClassVar[type]
    # Parts of the dataset whose content the output depends on (go into the cache key).
    dataset_parts: ClassVar[tuple[str, ...]] = ("queries", "docs")
    # Seconds of this system's stages spent in corpus_work() blocks (the runner builds one system per stage).
    index_seconds: float = 0.0
    _corpus_depth: int = 0

    def __init__(self, config: Any, context: Context):
        self.config = config
        self.context = context

    @classmethod
    def wants_device(cls, config: Any) -> bool:
        """Whether a stage of this config holds an accelerator slot while it runs (families with a device say)."""
        return False

    @classmethod
    def check_inputs(cls, config: Any, inputs: tuple[str, ...]) -> None:
        """Raise a HarnessError (with the config ``field``) if the config does not fit the stage's upstream systems
        (e.g. one fusion weight per input); checked when the suite is read."""

    @contextlib.contextmanager
    def corpus_work(self) -> Iterator[None]:
        """Time corpus-side work (encoding documents, building an index, or loading either from the cache) into
        ``index_seconds``, so a stage's query-time cost (wall − index) does not depend on what was cached.
        Only the outermost of nested blocks is timed, so nothing is counted twice."""
        self._corpus_depth += 1
        start = time.perf_counter() if self._corpus_depth == 1 else None
        try:
            yield
        finally:
            self._corpus_depth -= 1
            if start is not None:
                self.index_seconds += time.perf_counter() - start

    def applies_to(self, dataset: DatasetRef) -> str | None:
        """None if the system can run on this dataset, else the reason it is skipped."""
        return None

    def content_digests(self, dataset: DatasetRef) -> dict[str, str]:
        """Digests of external content the output depends on (model weights, run files, library versions
        that decide the numbers); the code the system runs is covered by the fingerprint (``code_digest``)."""
        return {}

    def fingerprint(self, dataset: DatasetRef) -> str:
        return digest_value(
            {
                "kind": self.kind,
                "config": dataclasses.asdict(self.config),
                "code": code_digest(type(self)),
                "content": self.content_digests(dataset),
            }
        )


@runtime_checkable
class Retriever(Protocol):
    """Ranks the corpus (or reads a ranking made elsewhere) for every query: the top ``k`` per query."""

    role: ClassVar[str] = "retriever"

    def retrieve(self, dataset: DatasetRef, k: int) -> StageResult: ...

    def stage(self, dataset: DatasetRef, inputs: list[Run], k: int, depth: int | None) -> StageResult:
        """The runner's call: ``inputs`` are the upstream runs (none for a retriever)."""
        return self.retrieve(dataset, k)


@runtime_checkable
class Reranker(Protocol):
    """Rescores the top ``depth`` candidates of one upstream run."""

    role: ClassVar[str] = "reranker"

    def rerank(self, dataset: DatasetRef, candidates: Run, depth: int) -> StageResult: ...

    def stage(self, dataset: DatasetRef, inputs: list[Run], k: int, depth: int | None) -> StageResult:
        assert depth is not None and len(inputs) == 1, "a reranker takes one first stage and a depth"
        return self.rerank(dataset, inputs[0].top(depth), depth)


@runtime_checkable
class Fusion(Protocol):
    """Combines two or more upstream runs into one; the runner keeps its top ``k``."""

    role: ClassVar[str] = "fusion"

    def fuse(self, dataset: DatasetRef, runs: list[Run]) -> StageResult: ...

    def stage(self, dataset: DatasetRef, inputs: list[Run], k: int, depth: int | None) -> StageResult:
        result = self.fuse(dataset, inputs)  # scores every document of every input: keep the top k
        return dataclasses.replace(result, run=result.run.top(k))
