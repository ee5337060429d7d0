"""Ctrl-C: ``irh`` ends within seconds with one line and exit code 130, whatever its main thread is doing.

Python runs a signal handler only between bytecodes of the main thread. A main thread inside a long call into the
JVM (pyjnius releases the GIL there) or another native library would leave Ctrl-C pending until that call returns.
So the CLI, inside ``handling()``:

- raises KeyboardInterrupt from the SIGINT handler, as Python does, except inside ``deferred()`` (code that calls
  into the JVM in chunks): there the handler only flags it, and the code calls ``check()`` between chunks;
- runs a watchdog thread woken by the signal itself (the wakeup fd, written by the C-level handler at once): if the
  process still runs ``GRACE_SECONDS`` later, it prints the line and ends the process. A second Ctrl-C ends it at once.

The line says what the interrupted command had done: ``progress()`` registers that (the runner: jobs stored).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator

EXIT_CODE = 130  # 128 + SIGINT, what shells report for Ctrl-C
GRACE_SECONDS = 3.0

_pending = threading.Event()  # SIGINT received
_armed = threading.Event()  # inside handling(): the watchdog may end the process
_reported = threading.Lock()  # the line is printed once, by whoever gets there first
_deferred = 0
_progress: list[tuple[Callable[[], str], Callable[[], None] | None]] = []
_watchdog_fd: int | None = None


class Interrupted(KeyboardInterrupt):
    """KeyboardInterrupt with what was done by then (e.g. "3 of 12 jobs stored; `irh run` resumes")."""


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed: call it at safe points inside ``deferred()``."""
    if _pending.is_set():
        raise KeyboardInterrupt


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Inside, Ctrl-C does not raise wherever the main thread is: the code calls ``check()`` at safe points."""
    global _deferred
    _deferred += 1
    try:
        yield
    finally:
        _deferred -= 1
    check()


@contextlib.contextmanager
def progress(describe: Callable[[], str], cleanup: Callable[[], None] | None = None) -> Iterator[None]:
    """While inside, an interruption is reported as ``interrupted: describe()``; should the watchdog have to end the
    process, it calls ``cleanup()`` first (e.g. to remove this process's temp files)."""
    entry = (describe, cleanup)
    _progress.append(entry)
    try:
        yield
    finally:
        _progress.remove(entry)


def describe() -> str:
    """The line for an interruption now: what the innermost ``progress()`` says, if any."""
    if not _progress:
        return "interrupted"
    try:
        return f"interrupted: {_progress[-1][0]()}"
    except Exception:  # the line must come out even if counting fails (e.g. the store went away)
        return "interrupted"


def report(line: str | None = None) -> None:
    """Print ``irh: LINE`` on stderr, once per process (the main thread or the watchdog, whichever is first)."""
    if _reported.acquire(blocking=False):
        text = f"\nirh: {line or describe()}\n"  # on a line of its own, after ^C or a worker's progress bar
        with contextlib.suppress(OSError):
            sys.stdout.flush()
        with contextlib.suppress(OSError):
            os.write(2, text.encode("utf-8", errors="replace"))


def exit_now() -> None:
    """End the process now with the interruption's exit code (main thread, after reporting).

    The exit handlers run (they release worker pools' semaphores), the interpreter's own shutdown does not: with many
    Java objects alive it takes seconds, and there is nothing to save (every store write is atomic).
    """
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    _exit()


def _exit() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(EXIT_CODE)


def _end_now() -> None:
    """From the watchdog (the main thread is stuck) or a second Ctrl-C: report, remove our temp files, end."""
    report()
    for _, cleanup in reversed(list(_progress)):
        if cleanup is not None:
            with contextlib.suppress(Exception):
                cleanup()
    exit_now()


def _on_sigint(signum, frame) -> None:
    if _pending.is_set():
        _end_now()  # a second Ctrl-C: the user does not want to wait
    _pending.set()
    if not _deferred:
        raise KeyboardInterrupt


def _watch(fd: int) -> None:
    while True:
        try:
            data = os.read(fd, 64)
        except OSError:
            return
        if signal.SIGINT in data and _armed.is_set():
            time.sleep(GRACE_SECONDS)  # the main thread's chance to end cleanly
            if _armed.is_set():
                _end_now()


def _start_watchdog() -> int:
    global _watchdog_fd
    if _watchdog_fd is None:
        r, w = os.pipe()
        os.set_blocking(w, False)  # the C-level handler must never block on it
        threading.Thread(target=_watch, args=(r,), name="irh-interrupt-watchdog", daemon=True).start()
        _watchdog_fd = w
    return _watchdog_fd


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """Ctrl-C handling for one CLI command (main thread only; elsewhere Python's default handling stays).

    After an interruption the watchdog stays armed: the process is ending, and must end even if shutting down blocks.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _pending.clear()
    previous_handler = signal.signal(signal.SIGINT, _on_sigint)
    previous_fd = signal.set_wakeup_fd(_start_watchdog(), warn_on_full_buffer=False)
    _armed.set()
    try:
        yield
    finally:
        if not _pending.is_set():
            _armed.clear()
            signal.set_wakeup_fd(previous_fd)
            signal.signal(signal.SIGINT, previous_handler)
