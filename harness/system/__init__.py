"""What a system is: a kind with a frozen config, a fingerprint, and one role (retrieve, rerank or fuse) returning a
``StageResult``. ``contract`` defines the classes, ``params`` turns suite tables into configs, ``registry`` finds the
class of a kind (families register themselves through entry points; nothing here imports them), ``code`` digests the
code a system runs (its import closure) for the cache key."""

from harness.system.code import code_digest, code_modules
from harness.system.contract import (
    Context,
    Fusion,
    Reranker,
    Retriever,
    StageResult,
    System,
    on_accelerator,
)
from harness.system.params import (
    MAX_INT,
    FilePath,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    build_config,
    coerce,
    validated,
)
from harness.system.registry import ENTRY_POINT_GROUP, registered_kinds, system_class

__all__ = [
    "ENTRY_POINT_GROUP",
    "MAX_INT",
    "Context",
    "FilePath",
    "Fusion",
    "NonNegativeFloat",
    "NonNegativeInt",
    "PositiveInt",
    "Reranker",
    "Retriever",
    "StageResult",
    "System",
    "build_config",
    "code_digest",
    "code_modules",
    "coerce",
    "on_accelerator",
    "registered_kinds",
    "system_class",
    "validated",
]
