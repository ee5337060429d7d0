"""Which class a suite's ``kind`` names, found without importing any family package by name.

Packages that provide systems register a mapping ``kind → "module:Class"`` under the entry-point group
``irharness.systems`` (this project: ``systems:KINDS`` in pyproject.toml). A kind written as ``module:Class`` names a
system outside any registered package (the module must be importable). Classes are imported only when asked for, and
family modules import heavy libraries inside methods only, so validating a suite stays fast.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Mapping
from importlib.metadata import entry_points

from harness.core.errors import HarnessError
from harness.system.contract import Fusion, Reranker, Retriever, System

ENTRY_POINT_GROUP = "irharness.systems"


@functools.cache
def registered_kinds() -> dict[str, str]:
    """kind → "module:Class" over every installed package's entry point of the group."""
    kinds: dict[str, str] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        where = f"entry point {entry.name} = {entry.value} ({ENTRY_POINT_GROUP})"
        try:
            mapping = entry.load()
        except Exception as e:  # a broken plugin package: name it instead of a traceback from inside it
            raise HarnessError(f"cannot load {where}: {type(e).__name__}: {e}") from None
        if not isinstance(mapping, Mapping) or not all(
            isinstance(k, str) and isinstance(t, str) and ":" in t for k, t in mapping.items()
        ):
            raise HarnessError(f"{where} is not a mapping kind → 'module:Class'")
        for kind, target in mapping.items():
            if kinds.get(kind, target) != target:
                first, second = sorted((kinds[kind], target))  # in a stable order, whichever was found first
                raise HarnessError(f"system kind {kind!r} is registered twice: {first} and {second}")
            kinds[kind] = target
    return kinds


def system_class(kind: str) -> type[System]:
    """The class of a registered kind, or of a ``module:Class`` spec."""
    if ":" in kind:
        target = kind
    else:
        kinds = registered_kinds()
        if kind not in kinds:
            known = ", ".join(sorted(kinds)) or f"none: no package registers {ENTRY_POINT_GROUP} (pip install -e .)"
            raise HarnessError(f"unknown system kind {kind!r} (known: {known})")
        target = kinds[kind]
    module_name, _, class_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as e:
        raise HarnessError(f"cannot load system class {target!r}: {e}") from None
    problem = _not_a_system(cls)
    if problem:
        raise HarnessError(f"{target} is not a system: {problem}")
    return cls


def _not_a_system(cls: object) -> str | None:
    """What ``cls`` lacks of the contract (harness.system.contract), or None."""
    roles = (Retriever, Reranker, Fusion)  # by inheritance: issubclass() refuses protocols with data members (role)
    if not (isinstance(cls, type) and issubclass(cls, System) and any(r in cls.__mro__ for r in roles)):
        return "not a subclass of harness.system.System and one role (Retriever, Reranker or Fusion)"
    if not isinstance(getattr(cls, "kind", None), str):
        return "no kind (a class attribute naming it, e.g. kind = 'my-reranker')"
    if not dataclasses.is_dataclass(getattr(cls, "Config", None)):
        return "no Config dataclass (its parameters; an empty @dataclass(frozen=True) if it has none)"
    return None
