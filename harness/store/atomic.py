"""The one atomic writer of the project: a temp file beside the target, fsync, rename. Readers see the old file or
the whole new one, never a part.

Temp files are named ``.NAME.tmp-PID-RANDOM-HOST``, so clean-up can tell a killed writer's leftovers from a live
writer's files (``is_stale_temp``), also on a store shared by several machines.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

HOST = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "localhost"
# A temp file of another host (its pid cannot be checked from here) is a leftover only after this long without a
# write: generous, because a writer on a shared filesystem may be slow. Override with $IRH_STALE_TEMP_SECONDS.
STALE_AFTER_SECONDS = 24 * 3600
# Temp names without a host (older writers) are judged by their pid on this host, but only after this long without
# a write, in case they belong to a live process on another machine that shares the store.
HOSTLESS_GRACE_SECONDS = 15 * 60
TEMP_NAME = re.compile(r"\.tmp-(?P<pid>\d+)-(?P<rand>[0-9a-f]{8})(?:-(?P<host>.+))?$")


def temp_path(path: Path) -> Path:
    """A unique temp name beside ``path`` that records who writes it (pid and host), for safe clean-up."""
    return path.parent / f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}-{HOST}"


def is_own_temp(path: Path) -> bool:
    """True for a temp file/dir of this process (``temp_path`` on this host with this pid)."""
    m = TEMP_NAME.search(path.name)
    return m is not None and m["host"] == HOST and int(m["pid"]) == os.getpid()


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
    m = TEMP_NAME.search(path.name)
    if m is None:
        return False
    idle = (time.time() if now is None else now) - _last_write(path)
    pid, host = int(m["pid"]), m["host"]
    if host == HOST:
        return not pid_alive(pid)
    if host is None:
        return not pid_alive(pid) and idle > HOSTLESS_GRACE_SECONDS
    return idle > float(os.environ.get("IRH_STALE_TEMP_SECONDS", STALE_AFTER_SECONDS))


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


def atomic_folder(final: Path, fill: Callable[[Path], None], *, replace: bool = False) -> Path:
    """The folder form of ``atomic_write``: ``fill(tmp)`` fills a new temp folder beside ``final``, which is then
    renamed into place, so readers see no folder or the whole one. If ``final`` exists already, ``replace`` deletes
    it first; otherwise it stays (another process stored the same key first: same inputs, same content) and ours
    is dropped. On any failure (a full disk, Ctrl-C) the temp folder is deleted: nothing partial is left."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(final)
    tmp.mkdir()
    try:
        fill(tmp)
        if replace and final.exists():
            shutil.rmtree(final)
        try:
            os.replace(tmp, final)
        except OSError:
            if not final.exists():  # not a lost race: a real failure
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def write_text_atomic(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, value: Any) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(value, indent=1, sort_keys=True, default=str)))
