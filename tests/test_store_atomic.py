"""The one atomic writer (issue 21): files and folders appear whole or not at all, and a failure leaves nothing."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from harness.core.java import java_storage_errors
from harness.store import MANIFEST, atomic_folder, atomic_write, build_artefact, check_manifest, is_own_temp


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if ".tmp-" in p.name)


def test_atomic_write_failure_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "a" / "x.txt"
    atomic_write(path, lambda tmp: tmp.write_text("old"))

    def half(tmp: Path) -> None:
        tmp.write_text("ne")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(path, half)
    assert path.read_text() == "old" and _leftovers(tmp_path) == []


def test_atomic_folder_whole_or_nothing_and_first_writer_wins(tmp_path: Path) -> None:
    final = tmp_path / "f"
    seen: list[Path] = []

    def fill(tmp: Path) -> None:
        seen.append(tmp)
        assert tmp.is_dir() and is_own_temp(tmp) and not final.exists()
        (tmp / "a").write_text("1")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_folder(final, fill)
    assert not final.exists() and _leftovers(tmp_path) == []
    atomic_folder(final, lambda tmp: (tmp / "a").write_text("first"))
    atomic_folder(final, lambda tmp: (tmp / "a").write_text("second"))  # same key stored meanwhile: theirs stays
    assert (final / "a").read_text() == "first"
    atomic_folder(final, lambda tmp: (tmp / "a").write_text("again"), replace=True)
    assert (final / "a").read_text() == "again" and _leftovers(tmp_path) == []


def test_build_artefact_seals_last_and_leaves_no_manifest_on_failure(tmp_path: Path) -> None:
    final = tmp_path / "artifacts" / "x" / "key"

    def failing(tmp: Path) -> None:
        (tmp / "part").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        build_artefact(final, failing)
    assert not final.exists() and _leftovers(tmp_path) == []
    build_artefact(final, lambda tmp: (tmp / "part").write_bytes(b"whole"))
    assert (final / MANIFEST).exists()
    check_manifest(final, "test artefact")


class JavaException(Exception):  # pyjnius's exception class, by name: the JVM is not needed to test the mapping
    pass


@pytest.mark.parametrize(
    ("java", "code"),
    [
        ("java.io.IOException: No space left on device", errno.ENOSPC),
        ("java.io.IOException: Disk quota exceeded", errno.EDQUOT),
        ("java.nio.file.FileSystemException: /x: Read-only file system", errno.EROFS),
    ],
)
def test_java_storage_failures_become_the_oserror_python_raises(tmp_path: Path, java: str, code: int) -> None:
    with pytest.raises(OSError) as raised, java_storage_errors(tmp_path / "index"):
        raise JavaException(f"JVM exception occurred: AlreadyClosedException: this IndexWriter is closed\n{java}")
    assert raised.value.errno == code and raised.value.filename == str(tmp_path / "index")
    with pytest.raises(JavaException), java_storage_errors(tmp_path):  # any other Java failure stays what it is
        raise JavaException("java.lang.IllegalArgumentException: bad")
