"""What a system is: a kind with a frozen config, a fingerprint, and one of retrieve / rerank / fuse.

Families live in ``systems/`` (one module each) and are listed in ``systems.KINDS``; their modules import heavy
libraries (torch, pyserini) inside methods only, so validating a suite stays fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import inspect
import os
import time
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NewType

from harness.datasets import DatasetRef
from harness.errors import HarnessError
from harness.hashing import digest_file, digest_value
from harness.run import Run

# A config field of this type is a file path: ``$VARS`` and ``~`` are expanded and relative paths are taken relative
# to the suite file, so a suite means the same files wherever it is run from.
FilePath = NewType("FilePath", str)


@dataclass(frozen=True)
class Context:
    """What a system may use besides its inputs: a directory for its own derived artefacts (indexes, encodings)."""

    artifacts_dir: Path
    threads: int = 2


class System:
    """Base of every family. Subclasses set ``kind``, ``role``, ``Config`` and implement their stage method."""

    kind: ClassVar[str]
    role: ClassVar[str]  # "retriever" | "reranker" | "fusion"
    Config: ClassVar[type]
    # Parts of the dataset whose content the output depends on (go into the cache key).
    dataset_parts: ClassVar[tuple[str, ...]] = ("queries", "docs")
    # Seconds of the current stage spent in corpus_work() blocks (the runner resets and records it).
    index_seconds: float = 0.0
    _corpus_depth: int = 0

    def __init__(self, config: Any, context: Context):
        self.config = config
        self.context = context

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
        """Digests of external content the output depends on (model weights, run files)."""
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


class Retriever(System):
    role = "retriever"

    def retrieve(self, dataset: DatasetRef, k: int) -> Run:
        raise NotImplementedError


class Reranker(System):
    role = "reranker"

    def rerank(self, dataset: DatasetRef, candidates: Run, depth: int) -> Run:
        raise NotImplementedError


class Fusion(System):
    role = "fusion"
    dataset_parts = ()

    def fuse(self, dataset: DatasetRef, runs: list[Run]) -> Run:
        raise NotImplementedError


def code_digest(cls: type) -> str:
    """Digest of the source file that defines a system, so a code change invalidates its cached runs."""
    return digest_file(inspect.getsourcefile(cls))


def system_class(kind: str) -> type[System]:
    from systems import KINDS

    if kind not in KINDS:
        raise HarnessError(f"unknown system kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    module_name, _, class_name = KINDS[kind].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


# ---------------------------------------------------------------- config parsing
def build_config(cls: type[System], params: dict[str, Any], field_prefix: str, base_dir: Path = Path(".")) -> Any:
    """Build the frozen config dataclass from suite parameters, checking names and types."""
    config_cls = cls.Config
    hints = typing.get_type_hints(config_cls)
    known = {f.name: f for f in dataclasses.fields(config_cls)}
    for key in params:
        if key not in known:
            raise HarnessError(
                f"unknown parameter for kind {cls.kind!r} (known: {', '.join(sorted(known))})",
                field=f"{field_prefix}.{key}",
            )
    values = {}
    for name, f in known.items():
        if name in params:
            values[name] = _coerce(params[name], hints[name], f"{field_prefix}.{name}", base_dir)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise HarnessError("required parameter is missing", field=f"{field_prefix}.{name}")
    try:
        return config_cls(**values)
    except (ValueError, TypeError) as e:
        raise HarnessError(str(e), field=field_prefix) from None


def _coerce(value: Any, hint: Any, field: str, base_dir: Path) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, field, base_dir)
            except HarnessError as e:
                errors.append(e.message)
        raise HarnessError("; ".join(errors), field=field)
    if origin is typing.Literal:
        if value not in args:
            raise HarnessError(f"must be one of {', '.join(map(repr, args))}, got {value!r}", field=field)
        return value
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise HarnessError(f"expected a list, got {type(value).__name__}", field=field)
        item = args[0] if args else Any
        return tuple(_coerce(v, item, f"{field}[{i}]", base_dir) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise HarnessError(f"expected a table, got {type(value).__name__}", field=field)
        kt, vt = args or (Any, Any)
        return {_coerce(k, kt, field, base_dir): _coerce(v, vt, f"{field}.{k}", base_dir) for k, v in value.items()}
    if hint is Any:
        return value
    if hint is FilePath:
        if not isinstance(value, str):
            raise HarnessError(f"expected a path, got {value!r}", field=field)
        return str((base_dir / os.path.expanduser(os.path.expandvars(value))).resolve())
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise HarnessError(f"expected a number, got {value!r}", field=field)
        return float(value)
    if hint is bool or hint is int or hint is str:
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise HarnessError(f"expected {hint.__name__}, got {value!r}", field=field)
        return value
    raise TypeError(f"unsupported config type {hint!r} for {field}")
