"""Entry locks: an exclusive ``flock`` on a lock file beside the entry, re-entrant within a thread.

Several processes, on this machine or on others that mount the same store root, may write at once: a lock is held
while an entry is computed and written, so a second process wanting the same entry waits and then finds it stored.
Linux NFS clients map ``flock`` onto NFS byte-range locks.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

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
