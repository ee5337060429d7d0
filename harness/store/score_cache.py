"""Pair-score and answer caches: (query text, doc text) → JSON value in one SQLite file per scorer.

Each row carries the sha256 of its key and value, checked on every read. A row that does not match (a flipped byte, an
edited value) is a cache miss: the value is derived data, so it is recomputed and the row overwritten — it never
becomes a score. A file SQLite itself cannot read (``file is not a database``, ``malformed``) is a one-line
``Damaged`` error; ``irh cache verify --repair`` deletes it (or only the damaged rows of a readable file).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.core.hashing import digest_value
from harness.store.atomic import write_json
from harness.store.sealed import Damaged

log = logging.getLogger("irh")

# Rows of format 1 (table ``scores``, no digest) are never read.
TABLE = "checked_scores"
_CORRUPT = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


def row_digest(key: str, value: str) -> str:
    return hashlib.sha256(f"{key}\x00{value}".encode()).hexdigest()


@contextmanager
def _readable(path: Path) -> Iterator[None]:
    """SQLite's own corruption errors as ``Damaged``; a locked or full database stays what it is."""
    try:
        yield
    except sqlite3.DatabaseError as e:
        if getattr(e, "sqlite_errorcode", None) in _CORRUPT or type(e) is sqlite3.DatabaseError:
            raise Damaged(path, f"score cache unreadable: {e}") from None
        raise


class ScoreCache:
    """(query text, doc text) → JSON value, in one SQLite file per scorer (model digest + settings).

    SQLite makes every batch's insert atomic and lets parallel jobs share the file; an interrupted rerank resumes
    from the pairs it already scored."""

    def __init__(self, root: Path, scorer: dict):
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / f"{digest_value(scorer)[:32]}.sqlite"
        self._db = sqlite3.connect(self.path, timeout=120)
        with _readable(self.path), self._db:
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (pair TEXT PRIMARY KEY, value TEXT NOT NULL, sha256 TEXT NOT NULL)"
            )
        if not (root / f"{self.path.stem}.json").exists():  # what the file holds, for people
            write_json(root / f"{self.path.stem}.json", scorer)

    @staticmethod
    def pair_key(query: str, doc: str) -> str:
        return hashlib.sha256(f"{query}\x00{doc}".encode()).hexdigest()

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        """The stored values of ``keys``; a key whose row fails its digest is left out (recomputed by the caller)."""
        out: dict[str, Any] = {}
        damaged = 0
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            with _readable(self.path):
                rows = self._db.execute(
                    f"SELECT pair, value, sha256 FROM {TABLE} WHERE pair IN ({','.join('?' * len(chunk))})", chunk
                ).fetchall()
            for key, value, recorded in rows:
                if row_digest(key, value) != recorded:
                    damaged += 1
                    continue
                out[key] = json.loads(value)
        if damaged:
            log.warning("%s: %d damaged row(s) do not match their digest; recomputing them", self.path, damaged)
        return out

    def put_many(self, values: dict[str, Any]) -> None:
        rows = []
        for key, value in values.items():
            text = json.dumps(value)
            rows.append((key, text, row_digest(key, text)))
        with _readable(self.path), self._db:
            self._db.executemany(f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()


def damaged_rows(path: Path) -> list[str]:
    """Keys of the rows of a score cache that fail their digest; ``Damaged`` if SQLite cannot read the file."""
    db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        with _readable(path):
            (status,) = db.execute("PRAGMA quick_check").fetchone()
            if status != "ok":
                raise Damaged(path, f"score cache fails SQLite's check: {status}")
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (TABLE,)).fetchone():
                return []
            return [k for k, v, d in db.execute(f"SELECT pair, value, sha256 FROM {TABLE}") if row_digest(k, v) != d]
    finally:
        db.close()


def drop_rows(path: Path, keys: list[str]) -> None:
    db = sqlite3.connect(path)
    try:
        with db:
            db.executemany(f"DELETE FROM {TABLE} WHERE pair = ?", [(k,) for k in keys])
    finally:
        db.close()
