"""A system's parameters: the suite table of a system → its frozen config dataclass, checked field by field.

Field types the configs use (``PositiveInt``, ``FilePath``...) live here too; every error names the dotted field.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import types
import typing
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import core_schema

from harness.core.errors import HarnessError

T = TypeVar("T")

# Value ranges of config fields, checked by ``validated`` (pydantic); floats are also always finite (``coerce``).
MAX_INT = 2**31 - 1  # Java's int (Lucene's hit counts) and far beyond any useful depth, batch or length
PositiveInt = Annotated[int, Field(ge=1, le=MAX_INT)]
NonNegativeInt = Annotated[int, Field(ge=0, le=MAX_INT)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


class FilePath(str):
    """A config field of this type is a file path. The string is the path as written in the suite (what the
    fingerprint, sidecars and reports show: ``$VARS`` stay unexpanded, so no secret is printed); ``shown`` is the
    same, placed in the suite's folder when relative (for messages); ``resolved`` is the file to open: ``$VARS``
    and ``~`` expanded, relative to the suite file, so a suite means the same files wherever it is run from."""

    resolved: Path
    shown: str

    @classmethod
    def of(cls, written: str, base_dir: Path) -> FilePath:
        path = cls(written)
        path.resolved = (base_dir / os.path.expanduser(os.path.expandvars(written))).resolve()
        path.shown = written if written.startswith(("/", "~", "$")) else os.path.join(base_dir, written)
        return path

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.is_instance_schema(cls)


# ---------------------------------------------------------------- config parsing
def build_config(cls: type, params: dict[str, Any], field_prefix: str, base_dir: Path = Path(".")) -> Any:
    """Build the frozen config dataclass of a system class (its ``Config``) from suite parameters, checking names and
    types."""
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
            values[name] = coerce(params[name], hints[name], f"{field_prefix}.{name}", base_dir)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise HarnessError("required parameter is missing", field=f"{field_prefix}.{name}")
    return validated(config_cls, values, field_prefix)


def validated(cls: type[T], values: dict[str, Any], field_prefix: str) -> T:
    """The dataclass ``cls`` built from ``values`` with its fields' ranges (``Annotated[..., Field(...)]``) and its
    ``__post_init__`` checked by pydantic; the first violation is a one-line error naming the dotted field."""
    try:
        return _adapter(cls).validate_python(values)
    except ValidationError as e:
        error = e.errors(include_url=False)[0]
        field = field_prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        raise HarnessError(_message(error), field=field.lstrip(".") or None) from None


@functools.cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def _message(error: Any) -> str:
    """pydantic's message in this project's words: 'must be ≥ 0, got -3.0' (a __post_init__ error as raised)."""
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    message = error["msg"].replace("Input should be", "must be")
    for words, sign in (("greater than or equal to", "≥"), ("less than or equal to", "≤")):
        message = message.replace(words, sign)
    return f"{message}, got {error['input']!r}"


def coerce(value: Any, hint: Any, field: str, base_dir: Path) -> Any:
    """``value`` as written in TOML, checked and converted to the type ``hint`` (tuples for lists, ``FilePath``)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        alternatives = [a for a in args if a is not type(None)]
        if len(alternatives) == 1:  # X | None: X's own error, with its precise field
            return coerce(value, alternatives[0], field, base_dir)
        errors = []
        for arg in alternatives:
            try:
                return coerce(value, arg, field, base_dir)
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
        return tuple(coerce(v, item, f"{field}[{i}]", base_dir) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise HarnessError(f"expected a table, got {type(value).__name__}", field=field)
        kt, vt = args or (Any, Any)
        return {coerce(k, kt, field, base_dir): coerce(v, vt, f"{field}.{k}", base_dir) for k, v in value.items()}
    if hint is Any:
        return value
    if hint is FilePath:
        if not isinstance(value, str) or not value:
            raise HarnessError(f"expected a path, got {value!r}", field=field)
        path = FilePath.of(value, base_dir)
        if path.resolved.exists() and not path.resolved.is_file():
            raise HarnessError(f"{value} is not a regular file (a directory, device or pipe)", field=field)
        return path
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise HarnessError(f"expected a number, got {value!r}", field=field)
        if not math.isfinite(value):
            raise HarnessError(f"expected a finite number, got {value!r}", field=field)
        return float(value)
    if hint is bool or hint is int or hint is str:
        if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
            raise HarnessError(f"expected {hint.__name__}, got {value!r}", field=field)
        return value
    raise TypeError(f"unsupported config type {hint!r} for {field}")
