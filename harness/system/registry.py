"""Which class a suite's ``kind`` names, found without importing any family package by name.

Packages that provide systems register a mapping ``kind → "module:Class"`` under the entry-point group
``irharness.systems`` (this project: ``systems:KINDS`` in pyproject.toml). A kind written as ``module:Class`` names a
system outside any registered package (the module must be importable). Classes are imported only when asked for, and
family modules import heavy libraries inside methods only, so validating a suite stays fast.
"""

from __future__ import annotations

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
        mapping = entry.load()
        if not isinstance(mapping, Mapping):
            raise HarnessError(
                f"entry point {entry.value!r} ({ENTRY_POINT_GROUP}) is not a mapping kind → module:Class"
            )
        for kind, target in mapping.items():
            if kinds.get(kind, target) != target:
                raise HarnessError(f"system kind {kind!r} is registered twice: {kinds[kind]} and {target}")
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
    roles = (Retriever, Reranker, Fusion)  # by inheritance: issubclass() refuses protocols with data members (role)
    if not (isinstance(cls, type) and issubclass(cls, System) and any(r in cls.__mro__ for r in roles)):
        raise HarnessError(f"{target} is not a system (a subclass of harness.system.System and one role)")
    return cls
