"""Content-addressed store of runs and evaluations under ``results/``, and the manifests of derived artefacts.

An entry is a payload file plus a JSON sidecar, both written to a temp file and renamed into place; the sidecar goes
last and records the payload's sha256 and its own, so an entry exists only once it is complete. Every read checks
both (each file hashed once per process): a damaged entry is a one-line error naming the repair, never a number.
An artefact folder (an index, cached encodings, a stored comparison) gets a manifest (file → sha256, size) written
last; readers check it before using the folder (``artefact_ready``), ``verify`` checks everything, ``repair`` drops
what fails so the next ``irh run`` recomputes exactly that.

Several processes, on this machine or on others that mount the same store root, may write at once: each entry has a
lock file beside it (``flock``; Linux NFS clients map it onto NFS byte-range locks), held while the entry is computed
and written, so a second process wanting the same entry waits and then finds it stored. Temp files are named
``.NAME.tmp-PID-RANDOM-HOST``, so clean-up can tell a killed writer's leftovers from a live writer's files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from harness.core.errors import HarnessError
from harness.core.hashing import digest_file_once, digest_value
from harness.core.run import Run

log = logging.getLogger("irh")

# Bump when the on-disk meaning of an entry changes; it is part of every cache key (runs, evaluations, artefacts).
# 2: sidecars carry their own digest and artefact folders a manifest. Entries of format 1 cannot be checked, so they
# are never read: their keys differ; `irh cache verify` reports them and `--repair` drops them.
STORE_FORMAT = 2
REPAIR = "run `irh cache verify --repair`, then `irh run` the suite again"
MANIFEST = "irh-manifest.json"
OWN_DIGEST = "sidecar_sha256"

HOST = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "localhost"
# A temp file of another host (its pid cannot be checked from here) is a leftover only after this long without a
# write: generous, because a writer on a shared filesystem may be slow. Override with $IRH_STALE_TEMP_SECONDS.
STALE_AFTER_SECONDS = 24 * 3600
# Temp names without a host (older writers) are judged by their pid on this host, but only after this long without
# a write, in case they belong to a live process on another machine that shares the store.
HOSTLESS_GRACE_SECONDS = 15 * 60
_TMP_RE = re.compile(r"\.tmp-(?P<pid>\d+)-(?P<rand>[0-9a-f]{8})(?:-(?P<host>.+))?$")


def temp_path(path: Path) -> Path:
    """A unique temp name beside ``path`` that records who writes it (pid and host), for safe clean-up."""
    return path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{HOST}"


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (killed, not yet reaped, e.g. under an init that never reaps) is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # no procfs (macOS): the signal probe is all there is
        return True
    return stat[stat.rindex(")") + 2] not in "ZX"


def _last_write(path: Path) -> float:
    """Newest mtime of a file, or of a directory and everything in it (a temp dir being filled is live)."""
    try:
        newest = path.lstat().st_mtime
    except FileNotFoundError:
        return time.time()
    if path.is_dir():
        for dirpath, dirnames, filenames in os.walk(path):
            for name in dirnames + filenames:
                with contextlib.suppress(FileNotFoundError):
                    newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
    return newest


def is_stale_temp(path: Path, now: float | None = None) -> bool:
    """True when a temp file/dir was left by a writer that is gone; never for a live writer's file.

    Ours (this host): its pid is dead. Another host's: no write for ``STALE_AFTER_SECONDS``. No host in the name:
    pid dead here and no write for ``HOSTLESS_GRACE_SECONDS``.
    """
    m = _TMP_RE.search(path.name)
    if m is None:
        return False
    idle = (time.time() if now is None else now) - _last_write(path)
    pid, host = int(m["pid"]), m["host"]
    if host == HOST:
        return not pid_alive(pid)
    if host is None:
        return not pid_alive(pid) and idle > HOSTLESS_GRACE_SECONDS
    return idle > float(os.environ.get("IRH_STALE_TEMP_SECONDS", STALE_AFTER_SECONDS))


_held = threading.local()  # lock files this thread holds, so a holder may re-enter (save_run inside execute)


def _open_locked(path: Path, blocking: bool) -> int | None:
    """fd of ``path`` holding an exclusive flock, or None if not ``blocking`` and another holds it."""
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return None
        # The previous holder deletes the file when it lets go: if we locked a file that is no longer at ``path``,
        # someone may already hold a new one there, so start again.
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextlib.contextmanager
def file_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """Exclusive ``flock`` on ``path``; yields False if ``blocking`` is off and another process holds it.

    Re-entrant within a thread. The kernel releases it when the holder dies, so a killed process never leaves a held
    lock; the holder deletes the file as it lets go (waiters notice and retry), so no lock files pile up.
    """
    held: set[str] = _held.__dict__.setdefault("paths", set())
    name = os.path.abspath(path)
    if name in held:
        yield True
        return
    fd = _open_locked(path, blocking)
    if fd is None:
        yield False
        return
    held.add(name)
    try:
        yield True
    finally:
        held.discard(name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)  # releases the flock


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call write(tmp) then rename tmp to path: readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
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


# ---------------------------------------------------------------- checked reads
class Damaged(HarnessError):
    """A stored file that does not match the digest recorded when it was written (or is missing or unreadable)."""

    def __init__(self, path: Path, why: str):
        super().__init__(f"damaged ({why}); {REPAIR}", file=str(path))
        self.path, self.why = path, why

    @property
    def problem(self) -> str:
        """The finding without the repair advice (what ``irh cache verify`` lists)."""
        return f"{self.path}: damaged ({self.why})"


def write_sealed(path: Path, value: dict) -> None:
    """Write a JSON object with the digest of its own content, so an edited or broken file is detected on read."""
    plain = json.loads(json.dumps(value, default=str))  # the value exactly as it will be read back
    plain.pop(OWN_DIGEST, None)
    write_json(path, {**plain, OWN_DIGEST: digest_value(plain)})


def read_sealed(path: Path) -> dict:
    """A JSON object written by ``write_sealed``, after checking its own digest."""
    try:
        value = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise Damaged(path, "missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Damaged(path, f"unreadable: {type(e).__name__}") from None
    if not isinstance(value, dict) or not isinstance(value.get(OWN_DIGEST), str):
        raise Damaged(path, "no digest of its own: edited, or written by an older irharness")
    recorded = value.pop(OWN_DIGEST)
    if digest_value(value) != recorded:
        raise Damaged(path, "edited: its content does not match its own digest")
    return value


def _files_under(directory: Path) -> dict[str, Path]:
    return {
        p.relative_to(directory).as_posix(): p
        for p in sorted(directory.rglob("*"))
        if p.name != MANIFEST and (p.is_file() or p.is_symlink())
    }


def write_manifest(directory: Path) -> None:
    """Record every file under ``directory`` (relative path → sha256, size) in its manifest. Call it last: a folder
    is complete, and checkable, once its manifest exists."""
    files = {
        rel: {"sha256": digest_file_once(p), "size": p.stat().st_size} for rel, p in _files_under(directory).items()
    }
    write_sealed(directory / MANIFEST, {"format": STORE_FORMAT, "files": files})


def check_manifest(directory: Path, what: str) -> None:
    """Raise ``Damaged`` unless the files under ``directory`` are exactly those its manifest lists, byte for byte.
    Each file is hashed once per process (``digest_file_once``); later checks only stat the files."""
    manifest = directory / MANIFEST
    if not manifest.exists():
        raise Damaged(directory, f"{what} without a manifest: interrupted, edited, or written by an older irharness")
    recorded: dict[str, dict] = read_sealed(manifest)["files"]
    present = _files_under(directory)
    for rel in sorted(recorded.keys() - present.keys()):
        raise Damaged(directory / rel, f"{what}: file missing")
    for rel in sorted(present.keys() - recorded.keys()):
        raise Damaged(directory / rel, f"{what}: file not in its manifest")
    for rel, rec in sorted(recorded.items()):
        path = present[rel]
        if path.stat().st_size != rec["size"] or digest_file_once(path) != rec["sha256"]:
            raise Damaged(path, f"{what}: sha256 does not match its manifest")


def artefact_ready(directory: Path, what: str) -> bool:
    """True when the artefact folder is stored and checked against its manifest, False when it is not stored;
    ``Damaged`` when it is stored but does not match."""
    if not directory.exists():
        return False
    check_manifest(directory, what)
    return True


def check_trained_model(folder: Path) -> None:
    """Raise ``Damaged`` unless the trained model under ``folder`` (``results/models/NAME``) has the digest its model
    card recorded when it was written."""
    from harness.models.resolve import model_digest

    card_path, model = folder / "model_card.json", folder / "model"
    try:
        recorded = json.loads(card_path.read_text()).get("digest")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as e:
        raise Damaged(card_path, f"trained model card unreadable: {type(e).__name__}") from None
    if not model.is_dir():
        raise Damaged(model, "trained model missing; its model card is there")
    if model_digest(model) != recorded:
        raise Damaged(model, "trained model: digest does not match its model card")


def publish_artefact(tmp: Path, final: Path) -> None:
    """Seal a fully written temp folder with its manifest, then rename it into place; when another process stored
    the same key first, theirs stays (same inputs, same content) and ours is deleted."""
    try:
        write_manifest(tmp)
        try:
            os.replace(tmp, final)
        except OSError:
            if not final.exists():  # not a lost race: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


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
        for tmp in self._stale_temps():
            yield (
                f"{tmp}: leftover temporary file of an interrupted write",
                lambda tmp=tmp: shutil.rmtree(tmp, ignore_errors=True) if tmp.is_dir() else tmp.unlink(missing_ok=True),
            )

    def _artefact_dirs(self) -> Iterator[tuple[Path, str]]:
        """(folder, what) of every sealed folder: artefacts (``artifacts/FAMILY/KEY``) and stored comparisons."""
        for family in sorted(p for p in self.artifacts_dir.glob("*") if p.is_dir()):
            for entry in sorted(p for p in family.iterdir() if p.is_dir() and not _TMP_RE.search(p.name)):
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
        return pd.read_parquet(self.checked_payload("evals", key))

    def save_eval(self, key: str, per_query: pd.DataFrame, meta: dict) -> None:
        self._put("evals", key, lambda tmp: per_query.to_parquet(tmp, index=False), meta)
