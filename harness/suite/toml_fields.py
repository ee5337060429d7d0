"""TOML files read with errors that point at the file, the dotted field and its line (suites and training configs)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from harness.core.errors import HarnessError


class TomlFields:
    """Reads typed values out of a TOML table, raising errors that point at the file and line."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()

    def error(self, message: str, field: str) -> HarnessError:
        return HarnessError(message, file=str(self.path), field=field, line=self.line_of(field))

    def line_of(self, field: str) -> int | None:
        """Best-effort line of a dotted field: the key inside its [table], or the table header."""
        parts = field.split(".")
        table, key = parts[:-1], parts[-1]
        key = re.sub(r"\[\d+\]$", "", key)
        start = 0
        if table:
            header = re.compile(r"^\s*\[+\s*" + r"\s*\.\s*".join(_key(p) for p in table) + r"\s*\]+")
            start = next((i for i, ln in enumerate(self.lines) if header.match(ln)), None)
            if start is None:  # an inline table (paths = { x = ... }): the line of its key
                return self.line_of(".".join(table))
        key_re = re.compile(r"^\s*" + _key(key) + r"\s*=")
        header_re = re.compile(r"^\s*\[" + _key(key) + r"[\].]")
        for i in range(start, len(self.lines)):
            if i > start and table and self.lines[i].lstrip().startswith("["):
                break
            if key_re.match(self.lines[i]) or header_re.match(self.lines[i]):
                return i + 1
        return start + 1 if table else None

    def check_keys(self, table: dict, allowed: tuple[str, ...], prefix: str) -> None:
        for key in table:
            if key not in allowed:
                where = f"{prefix}.{key}" if prefix else key
                raise self.error(f"unknown key (allowed: {', '.join(allowed)})", where)

    def get(self, table: dict, key: str, kind: type | tuple, prefix: str, default: Any = ...) -> Any:
        where = f"{prefix}.{key}" if prefix else key
        if key not in table:
            if default is ...:
                raise self.error("required key is missing", where)
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if not ok:
            names = " or ".join(k.__name__ for k in kinds)
            raise self.error(f"expected {names}, got {type(value).__name__} {value!r}", where)
        return value

    def str_list(self, table: dict, key: str, prefix: str, default: Any = ...) -> tuple[str, ...] | None:
        value = self.get(table, key, list, prefix, default)
        if value is None or value is default:
            return value
        for i, v in enumerate(value):
            if not isinstance(v, str):
                raise self.error(f"expected a list of strings, item {i} is {v!r}", f"{prefix}.{key}".lstrip("."))
        return tuple(value)


def _key(part: str) -> str:
    """A TOML key as a regex: bare, or quoted (\"my bm25\")."""
    return r"[\"']?" + re.escape(part) + r"[\"']?"


def read_toml(path: Path, what: str) -> tuple[dict, TomlFields]:
    """The parsed TOML file and a field reader over it; a missing, unreadable or malformed file is a one-line error."""
    if not path.exists():
        raise HarnessError(f"{what} not found", file=str(path))
    if not path.is_file():
        raise HarnessError(f"{what} is not a regular file (a directory, device or pipe)", file=str(path))
    try:
        text = path.read_bytes().decode("utf-8-sig")  # a BOM some editors write is not part of the TOML
    except UnicodeDecodeError as e:
        message = f"{what} is not UTF-8 text (byte {e.start} is {e.object[e.start]:#04x}; a binary file?)"
        raise HarnessError(message, file=str(path)) from None
    except OSError as e:
        raise HarnessError(f"{what} cannot be read: {e.strerror}", file=str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        raise HarnessError(f"malformed TOML: {e}", file=str(path), line=int(m.group(1)) if m else None) from None
    return data, TomlFields(path, text)
