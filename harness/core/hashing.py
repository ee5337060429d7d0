"""Stable digests for cache keys: JSON-canonical values, files and streams."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace, so equal values always hash equally."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest_value(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def digest_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


_checked: dict[tuple[str, int, int, int, int], str] = {}
_checked_lock = threading.Lock()


def digest_file_once(path: str | Path) -> str:
    """``digest_file``, memoised per process by (path, size, mtime_ns, inode, device): reading a stored file many
    times hashes it once; a file replaced or rewritten in between (new inode, size or mtime) is hashed again."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)
    with _checked_lock:
        hit = _checked.get(key)
    if hit is None:
        hit = digest_file(path)
        with _checked_lock:
            _checked[key] = hit
    return hit


def digest_rows(rows: Iterable[Iterable[Any]]) -> str:
    """Digest of a stream of tuples (docs, queries, qrels); fields are tab-joined, rows newline-terminated."""
    h = hashlib.sha256()
    for row in rows:
        h.update("\t".join("" if v is None else str(v) for v in row).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


# Files that are documentation, not model: they do not change what a model computes.
NOT_MODEL_FILES = {"README.md", ".gitattributes", "LICENSE", "LICENSE.txt", "model_card.md"}


def model_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        p for p in path.rglob("*") if p.is_file() and p.name not in NOT_MODEL_FILES and "__pycache__" not in p.parts
    )


def model_digest(path: Path) -> str:
    """sha256 over (relative name, file sha256) of every model file (a folder or one file, e.g. a GGUF); each file
    hashed once per process (``digest_file_once``)."""
    root = path if path.is_dir() else path.parent
    return digest_value([[str(f.relative_to(root)), digest_file_once(f)] for f in model_files(path)])
