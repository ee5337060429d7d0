"""One error type for bad input: always a single line naming where the problem is."""

from __future__ import annotations

import errno
from pathlib import Path


class HarnessError(Exception):
    """Bad input (suite, dataset, system, metric, run file, model).

    Rendered as ``file:line: field: message`` with the parts that are known, so the CLI can print it on one line.
    """

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None, line: int | None = None):
        self.message = " ".join(str(message).split())  # one line, whatever the cause said
        self.file = file
        self.field = field
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"


# Failures of the filesystem rather than of irharness: one line saying what to do, not a traceback
STORAGE_ERRNOS = {errno.EROFS: "a read-only file system", errno.ENOSPC: "no space left on the device",
                  errno.EDQUOT: "the disk quota is exceeded", errno.EACCES: "permission denied",
                  errno.EPERM: "permission denied"}  # fmt: skip


def storage_message(e: OSError, store_root: str | Path) -> str:
    """The one-line error for a storage failure ``e`` (an errno of ``STORAGE_ERRNOS``) while writing the store."""
    where = e.filename or store_root  # a write through an open file names no path: the store is the likely place
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = "free some space"
    elif e.errno == errno.EROFS:
        fix = "remount it writable"
    else:
        fix = "fix its permissions"
    return (
        f"{where}: {STORAGE_ERRNOS[e.errno]}: {fix} (or use another --results), then run the command again; "
        "nothing partial was stored"
    )
