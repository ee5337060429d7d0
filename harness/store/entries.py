"""Content-addressed store of runs and evaluations under ``results/``, and ``verify``/``repair`` of everything in it.

An entry is a payload file plus a sealed JSON sidecar, both written atomically; the sidecar goes last and records the
payload's sha256, so an entry exists only once it is complete. Every read checks both (each file hashed once per
process): a damaged entry is a one-line error naming the repair, never a number. ``verify`` checks entries,
artefact folders, trained models, dataset digest memos and score caches; ``repair`` drops what fails so the next
``irh run`` recomputes exactly that.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from harness.core.hashing import digest_file_once
from harness.core.run import Run
from harness.store.atomic import TEMP_NAME, atomic_write, is_stale_temp, write_text_atomic
from harness.store.locks import file_lock
from harness.store.manifest import check_manifest, check_trained_model
from harness.store.score_cache import damaged_rows, drop_rows
from harness.store.sealed import Damaged, read_sealed, write_sealed

if TYPE_CHECKING:  # pandas is loaded by the first evaluation read or written, not by every store user
    import pandas as pd


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

    @property
    def manifests_dir(self) -> Path:
        """Suites' run manifests (written by harness.suite.manifest): what `irh run` recorded, read by every read."""
        return self.root / "manifests"

    def _paths(self, kind: str, key: str) -> tuple[Path, Path]:
        base = self.root / kind / key[:2] / key
        return base.with_name(key + self.KINDS[kind]), base.with_name(key + ".json")

    def lock_path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / f"{key}.lock"

    @contextlib.contextmanager
    def lock(self, kind: str, key: str, blocking: bool = True) -> Iterator[bool]:
        """Hold the entry's lock: one process computes and writes an entry, others wait (see ``file_lock``)."""
        with file_lock(self.lock_path(kind, key), blocking) as got:
            yield got

    # ---------------------------------------------------------------- generic entries
    def has(self, kind: str, key: str) -> bool:
        payload, sidecar = self._paths(kind, key)
        return sidecar.exists() and payload.exists()

    def meta(self, kind: str, key: str) -> dict:
        """The entry's sidecar, checked against its own digest."""
        return read_sealed(self._paths(kind, key)[1])

    def checked_payload(self, kind: str, key: str) -> Path:
        """The entry's payload file, after checking its bytes against the sha256 its (checked) sidecar recorded."""
        payload, _ = self._paths(kind, key)
        recorded = self.meta(kind, key).get("sha256")
        if not payload.exists():
            raise Damaged(payload, "missing; its sidecar is there")
        if digest_file_once(payload) != recorded:
            raise Damaged(payload, "sha256 does not match its sidecar")
        return payload

    def _put(self, kind: str, key: str, write_payload: Callable[[Path], None], meta: dict) -> None:
        payload, sidecar = self._paths(kind, key)
        with self.lock(kind, key):  # between payload and sidecar, clean-up must not take the payload for a leftover
            atomic_write(payload, write_payload)
            write_sealed(sidecar, {**meta, "key": key, "kind": kind, "sha256": digest_file_once(payload)})

    def entries(self, kind: str) -> Iterator[dict]:
        """Every entry's checked sidecar; a damaged one as {key, kind, error}."""
        for sidecar in sorted((self.root / kind).glob("*/*.json")):
            try:
                yield read_sealed(sidecar)
            except Damaged as e:
                yield {"key": sidecar.stem, "kind": kind, "error": e.message}

    def remove(self, kind: str, key: str) -> bool:
        found = False
        for p in self._paths(kind, key)[::-1]:  # sidecar first: the entry stops existing before its payload goes
            if p.exists():
                p.unlink()
                found = True
        if kind == "runs":
            shutil.rmtree(self.run_files_dir(key), ignore_errors=True)
        return found

    # ---------------------------------------------------------------- verify and repair
    def verify(self) -> list[str]:
        """Problems found: damaged entries, artefacts and comparisons, sidecar-less payloads, leftovers."""
        return [problem for problem, _ in self._problems()]

    def repair(self) -> list[str]:
        """Drop exactly what ``verify`` finds (an entry, an artefact folder, a leftover), so the next ``irh run``
        recomputes that and nothing else; returns the problems repaired."""
        fixed = []
        for problem, drop in self._problems():
            drop()
            fixed.append(problem)
        return fixed

    def _problems(self) -> Iterator[tuple[str, Callable[[], object]]]:
        for kind in self.KINDS:
            for sidecar in sorted((self.root / kind).glob("*/*.json")):
                key = sidecar.stem
                try:
                    self.checked_payload(kind, key)
                except Damaged as e:
                    yield e.problem, lambda kind=kind, key=key: self.remove(kind, key)
            for payload in self._orphans(kind):
                yield (
                    f"{payload}: payload without sidecar (an interrupted write)",
                    lambda payload=payload: payload.unlink(missing_ok=True),
                )
        for directory, what in self._artefact_dirs():
            try:
                check_manifest(directory, what)
            except Damaged as e:
                yield e.problem, lambda d=directory: shutil.rmtree(d, ignore_errors=True)
        for card in sorted((self.root / "models").glob("*/model_card.json")):
            try:
                check_trained_model(card.parent)
            except Damaged as e:
                yield (
                    e.problem,
                    lambda card=card: (
                        shutil.rmtree(card.parent / "model", ignore_errors=True),
                        card.unlink(missing_ok=True),
                    ),
                )
        # dataset digest memos and suites' run manifests: derived records, rewritten by the next `irh run`
        for memo in [*sorted(self.digests_dir.glob("*.json")), *sorted(self.manifests_dir.glob("*.json"))]:
            try:
                read_sealed(memo)
            except Damaged as e:
                yield e.problem, lambda memo=memo: memo.unlink(missing_ok=True)
        yield from self._score_cache_problems()
        for tmp in self._stale_temps():
            yield (
                f"{tmp}: leftover temporary file of an interrupted write",
                lambda tmp=tmp: shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True),
            )

    def _score_cache_problems(self) -> Iterator[tuple[str, Callable[[], object]]]:
        """Score caches SQLite cannot read (dropped whole) and rows that fail their digest (dropped one by one)."""
        for db in sorted(self.artifacts_dir.glob("*/*.sqlite")):
            try:
                bad = damaged_rows(db)
            except Damaged as e:
                yield e.problem, lambda db=db: [p.unlink(missing_ok=True) for p in db.parent.glob(db.name + "*")]
                continue
            if bad:
                yield (
                    f"{db}: damaged ({len(bad)} score cache row(s) do not match their digest)",
                    lambda db=db, bad=bad: drop_rows(db, bad),
                )

    def _artefact_dirs(self) -> Iterator[tuple[Path, str]]:
        """(folder, what) of every sealed folder: artefacts (``artifacts/FAMILY/KEY``) and stored comparisons."""
        for family in sorted(p for p in self.artifacts_dir.glob("*") if p.is_dir()):
            for entry in sorted(p for p in family.iterdir() if p.is_dir() and not TEMP_NAME.search(p.name)):
                yield entry, f"{family.name} artefact"
        for entry in sorted(p for p in (self.root / "compare").glob("*") if p.is_dir()):
            yield entry, "stored comparison"

    def _orphans(self, kind: str) -> Iterator[Path]:
        """Payloads without a sidecar whose writer is gone (a live writer holds the entry's lock)."""
        suffix = self.KINDS[kind]
        for payload in sorted((self.root / kind).glob(f"*/*{suffix}")):
            key = payload.name.removesuffix(suffix)
            if payload.with_name(key + ".json").exists():
                continue
            with self.lock(kind, key, blocking=False) as free:
                if free and payload.exists() and not payload.with_name(key + ".json").exists():
                    yield payload

    def _stale_temps(self) -> list[Path]:
        return [t for t in sorted(self.root.glob("**/.*.tmp-*")) if is_stale_temp(t)]

    def clean_leftovers(self) -> int:
        """Delete temp files and sidecar-less payloads left by killed processes; returns how many.

        Safe while other processes write to the same store: files of live writers are left alone.
        """
        n = 0
        for tmp in self._stale_temps():
            shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True)
            n += 1
        for kind in self.KINDS:
            for payload in self._orphans(kind):
                payload.unlink(missing_ok=True)
                n += 1
        return n

    # ---------------------------------------------------------------- runs
    def has_run(self, key: str) -> bool:
        return self.has("runs", key)

    def load_run(self, key: str) -> Run:
        return Run.read_trec(self.checked_payload("runs", key))

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
        import pandas as pd

        return pd.read_parquet(self.checked_payload("evals", key))

    def save_eval(self, key: str, per_query: pd.DataFrame, meta: dict) -> None:
        self._put("evals", key, lambda tmp: per_query.to_parquet(tmp, index=False), meta)
