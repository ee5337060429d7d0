"""Where a report may be written: a report file replaces a regular file or takes a new path, a LaTeX report is a
folder; never a directory in place of a file, a FIFO, a device node or a socket (they would be replaced, or block)."""

from __future__ import annotations

import stat
from pathlib import Path

from harness.core.errors import HarnessError
from harness.store import write_text_atomic

KINDS = {
    stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket", stat.S_IFREG: "a regular file",
}  # fmt: skip


def _mode(path: Path) -> int | None:
    """The file type at ``path`` (symlinks followed), None when nothing is there yet."""
    try:
        return stat.S_IFMT(path.stat().st_mode)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise HarnessError("a parent of this path is not a folder", file=str(path)) from None
    except OSError as e:
        raise HarnessError(f"cannot write here: {e.strerror}", file=str(path)) from None


def check_file(path: Path) -> None:
    mode = _mode(path)
    if mode is not None and mode != stat.S_IFREG:
        raise HarnessError(
            f"is {KINDS.get(mode, 'not a regular file')}: a report file needs a new path or a regular file to replace",
            file=str(path),
        )


def check_folder(path: Path) -> None:
    mode = _mode(path)
    if mode is not None and mode != stat.S_IFDIR:
        raise HarnessError(
            f"is {KINDS.get(mode, 'not a folder')}: the LaTeX report is a folder (report.tex, tables/, figures/)",
            file=str(path),
        )


def write_file(path: Path, text: str) -> None:
    """Write a report file atomically, after ``check_file``."""
    check_file(path)
    write_text_atomic(path, text)
