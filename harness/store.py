"""Content-addressed store of runs and evaluations under ``results/``.

An entry is a payload file plus a JSON sidecar, both written to a temp file and renamed into place; the sidecar goes
last and records the payload's sha256, so an entry exists only once it is complete, and ``verify`` can prove it.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from harness.hashing import digest_file
from harness.run import Run

# Bump when the on-disk meaning of an entry changes; it is part of every cache key.
STORE_FORMAT = 1


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call write(tmp) then rename tmp to path: readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, value: Any) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(value, indent=1, sort_keys=True, default=str)))


class Store:
    """Runs in ``runs/``, per-query evaluations in ``evals/``, derived artefacts (indexes) in ``artifacts/``."""

    KINDS: ClassVar[dict[str, str]] = {"runs": ".run.gz", "evals": ".parquet"}

    def __init__(self, root: str | Path):
        self.root = Path(root)

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "artifacts"

    @property
    def digests_dir(self) -> Path:
        return self.root / "digests"

    def _paths(self, kind: str, key: str) -> tuple[Path, Path]:
        base = self.root / kind / key[:2] / key
        return base.with_name(key + self.KINDS[kind]), base.with_name(key + ".json")

    # ---------------------------------------------------------------- generic entries
    def has(self, kind: str, key: str) -> bool:
        payload, sidecar = self._paths(kind, key)
        return sidecar.exists() and payload.exists()

    def meta(self, kind: str, key: str) -> dict:
        return json.loads(self._paths(kind, key)[1].read_text())

    def _put(self, kind: str, key: str, write_payload: Callable[[Path], None], meta: dict) -> None:
        payload, sidecar = self._paths(kind, key)
        atomic_write(payload, write_payload)
        write_json(sidecar, {**meta, "key": key, "kind": kind, "sha256": digest_file(payload)})

    def entries(self, kind: str) -> Iterator[dict]:
        for sidecar in sorted((self.root / kind).glob("*/*.json")):
            try:
                yield json.loads(sidecar.read_text())
            except (OSError, json.JSONDecodeError):
                yield {"key": sidecar.stem, "kind": kind, "error": "unreadable sidecar"}

    def remove(self, kind: str, key: str) -> bool:
        found = False
        for p in self._paths(kind, key)[::-1]:  # sidecar first: the entry stops existing before its payload goes
            if p.exists():
                p.unlink()
                found = True
        if kind == "runs":
            shutil.rmtree(self.run_files_dir(key), ignore_errors=True)
        return found

    def verify(self) -> list[str]:
        """Problems found: sidecars without payload, payloads that do not match their recorded hash, leftovers."""
        problems = []
        for kind in self.KINDS:
            for meta in self.entries(kind):
                key = meta["key"]
                payload, _sidecar = self._paths(kind, key)
                if "error" in meta:
                    problems.append(f"{kind}/{key}: {meta['error']}")
                elif not payload.exists():
                    problems.append(f"{kind}/{key}: payload missing")
                elif digest_file(payload) != meta.get("sha256"):
                    problems.append(f"{kind}/{key}: payload does not match its recorded sha256")
            for payload in (self.root / kind).glob(f"*/*{self.KINDS[kind]}"):
                if not payload.with_name(payload.name.removesuffix(self.KINDS[kind]) + ".json").exists():
                    problems.append(f"{kind}/{payload.name}: payload without sidecar (an interrupted write)")
        for tmp in self.root.glob("**/.*.tmp-*"):
            problems.append(f"{tmp.relative_to(self.root)}: leftover temporary file of an interrupted write")
        return problems

    def clean_leftovers(self) -> int:
        """Delete temp files and sidecar-less payloads left by killed processes; returns how many."""
        n = 0
        for tmp in self.root.glob("**/.*.tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
            n += 1
        for kind, suffix in self.KINDS.items():
            for payload in (self.root / kind).glob(f"*/*{suffix}"):
                if not payload.with_name(payload.name.removesuffix(suffix) + ".json").exists():
                    payload.unlink(missing_ok=True)
                    n += 1
        return n

    # ---------------------------------------------------------------- runs
    def has_run(self, key: str) -> bool:
        return self.has("runs", key)

    def load_run(self, key: str) -> Run:
        return Run.read_trec(self._paths("runs", key)[0])

    def save_run(self, key: str, run: Run, meta: dict, files: dict[str, str] | None = None) -> None:
        """Store a run; ``files`` (name → text, e.g. raw LLM responses) are kept beside it for audit."""
        for name, text in (files or {}).items():
            write_text_atomic(self.run_files_dir(key) / name, text)
        self._put("runs", key, lambda tmp: run.write_trec(tmp, tag=meta.get("system", "irh")), meta)

    def run_files_dir(self, key: str) -> Path:
        return self.root / "runs" / key[:2] / f"{key}.files"

    # ---------------------------------------------------------------- evaluations
    def has_eval(self, key: str) -> bool:
        return self.has("evals", key)

    def load_eval(self, key: str) -> pd.DataFrame:
        return pd.read_parquet(self._paths("evals", key)[0])

    def save_eval(self, key: str, per_query: pd.DataFrame, meta: dict) -> None:
        self._put("evals", key, lambda tmp: per_query.to_parquet(tmp, index=False), meta)
