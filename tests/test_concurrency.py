"""Concurrent writers: per-key locks, clean-up that spares live writers, device slots, two `irh run` at once, and a
SIGKILLed parallel (loky) run resumed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.core.run import Run
from harness.store import HOST, Store, file_lock, pid_alive
from harness.suite.config import load_suite
from harness.suite.plan import plan
from harness.suite.run import run_suite
from harness.suite.runner import DeviceSlots, device_slot, execute
from harness.system import system_class
from tests.conftest import SHARED_DATA

RUNS = SHARED_DATA / "msmarco-passage" / "runs-rankllm"
DL_RUNS = ("BM25", "BM25_RM3", "D_BERT_KD_TASB", "OPEN_AI_ADA2", "SPLADE_P_P_ENSEMBLE_DISTIL", "REP_LLAMA")


def dl_suite(path: Path, runs: tuple[str, ...] = DL_RUNS, ks: tuple[int, ...] = (100,)) -> Path:
    """Imported real DL19/DL20 runs: cheap jobs (one run file read each), len(runs) × len(ks) × 2 of them."""
    text = [
        'name = "dl-runs"',
        'metrics = ["nDCG@10", "RR(rel=2)@10"]',
        '[datasets.dl19]\nid = "msmarco-passage/trec-dl-2019/judged"',
        '[datasets.dl20]\nid = "msmarco-passage/trec-dl-2020/judged"',
    ]
    for run in runs:
        for k in ks:
            files = ", ".join(f'{d} = "{RUNS}/{run}.trec_results_{d}.txt"' for d in ("dl19", "dl20"))
            text.append(f'[systems.{run.lower()}-{k}]\nkind = "run-file"\nk = {k}\npaths = {{ {files} }}')
    path.write_text("\n".join(text) + "\n")
    return path


# ---------------------------------------------------------------- locks
def test_file_lock_excludes_other_holders_and_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "k.lock"
    seen = []
    with file_lock(path) as got:
        assert got and path.exists()
        with file_lock(path) as again:  # re-entrant in the holding thread
            assert again
        t = threading.Thread(target=lambda: seen.append(file_lock(path, blocking=False).__enter__()))
        t.start()
        t.join()
    assert seen == [False]
    assert not path.exists()
    with file_lock(path, blocking=False) as got:
        assert got


@pytest.fixture
def cran_job(irds_home: Path, tmp_path: Path):
    (tmp_path / "x.run").write_text("1 Q0 184 1 3.0 t\n2 Q0 12 1 1.0 t\n")
    suite_path = tmp_path / "s.toml"
    suite_path.write_text(
        'metrics = ["nDCG@10"]\n[datasets.cran]\nid = "cranfield"\n'
        '[systems.x]\nkind = "run-file"\npaths = { cran = "x.run" }\n'
    )
    store = Store(tmp_path / "results")
    (job,) = plan(load_suite(suite_path, digest_dir=str(store.digests_dir)), store)
    return store, job


def _execute_in_thread(job, store: Store) -> tuple[threading.Thread, list]:
    out: list = []
    t = threading.Thread(target=lambda: out.append(execute(job, store.root)))
    t.start()
    return t, out


def test_second_writer_waits_then_finds_the_entry_cached(cran_job) -> None:
    store, job = cran_job
    with store.lock("runs", job.key):  # "another process" is computing this key
        t, out = _execute_in_thread(job, store)
        time.sleep(0.5)
        assert t.is_alive() and not store.has_run(job.key)
        store.save_run(job.key, Run({"1": {"184": 3.0}}), {"system": "x", "max_depth": 1})
    t.join(30)
    assert out[0].status == "cached" and out[0].detail == "computed by another process"
    assert store.load_run(job.key).scores == {"1": {"184": 3.0}}


def test_writer_that_fails_hands_the_job_to_the_waiter(cran_job) -> None:
    store, job = cran_job
    with store.lock("runs", job.key):
        t, out = _execute_in_thread(job, store)
        time.sleep(0.3)
        assert t.is_alive()
    t.join(30)  # the holder let go without storing anything: the waiter computes it
    assert out[0].status == "computed" and store.has_run(job.key)
    assert store.load_run(job.key).scores["1"] == {"184": 3.0}


# ---------------------------------------------------------------- clean-up of interrupted writes
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_killed_unreaped_writer_counts_as_dead() -> None:
    # a SIGKILLed worker whose parent died stays a zombie under an init that never reaps; its temp files are stale
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(child.pid)
        child.kill()
        deadline = time.time() + 10
        while Path(f"/proc/{child.pid}/stat").read_text().split(") ")[1][0] != "Z" and time.time() < deadline:
            time.sleep(0.01)
        assert not pid_alive(child.pid), "a zombie is not a live writer"
    finally:
        child.wait()


def test_clean_leftovers_spares_live_writers(tmp_path: Path) -> None:
    store = Store(tmp_path / "results")
    d = store.root / "runs" / "ab"
    d.mkdir(parents=True)
    dead, live, day_ago, hour_ago = _dead_pid(), os.getpid(), time.time() - 86_400 * 2, time.time() - 3600

    def temp(name: str, age: float | None = None) -> Path:
        p = d / name
        p.write_text("partial")
        if age is not None:
            os.utime(p, (age, age))
        return p

    kept = [
        temp(f".a.run.gz.tmp-{live}-0123abcd-{HOST}"),  # ours, live
        temp(f".b.run.gz.tmp-{dead}-0123abcd-otherhost"),  # another host's, recently written: may be live
        temp(f".c.run.gz.tmp-{dead}-0123abcd"),  # no host, recent: could be another machine's
        temp(f".d.run.gz.tmp-{live}-0123abcd", hour_ago),  # no host, old, but that pid lives here
    ]
    removed = [
        temp(f".e.run.gz.tmp-{dead}-0123abcd-{HOST}"),  # ours, the writer is dead
        temp(f".f.run.gz.tmp-{live}-0123abcd-otherhost", day_ago),  # another host's, idle for two days
        temp(f".g.run.gz.tmp-{dead}-0123abcd", hour_ago),  # no host, dead here, idle an hour
    ]
    live_payload, dead_payload = d / "abc1.run.gz", d / "abc2.run.gz"  # payloads whose sidecar is not written yet
    live_payload.write_text("x")
    dead_payload.write_text("x")
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:  # a live writer between renaming its payload and writing the sidecar
        with store.lock("runs", "abc1"):
            holding.set()
            release.wait(30)

    t = threading.Thread(target=writer)
    t.start()
    holding.wait(30)
    problems = store.verify()
    assert len(problems) == 4 and all(any(p.name in pr for pr in problems) for p in [*removed, dead_payload])
    assert store.clean_leftovers() == 4
    release.set()
    t.join()
    assert all(p.exists() for p in [*kept, live_payload])
    assert not any(p.exists() for p in [*removed, dead_payload])
    assert store.clean_leftovers() == 1 and not live_payload.exists()  # its writer is gone now


# ---------------------------------------------------------------- accelerators
def _occupancy(slots: DeviceSlots, n_threads: int, hold: float) -> tuple[int, list[str]]:
    """Run n_threads stages that each hold a slot for `hold` seconds; return max simultaneous holders, devices."""
    state = {"now": 0, "max": 0}
    used: list[str] = []
    lock = threading.Lock()

    def stage() -> None:
        with slots.acquire(timeout=30) as device:
            with lock:
                state["now"] += 1
                state["max"] = max(state["max"], state["now"])
                used.append(device)
            time.sleep(hold)
            with lock:
                state["now"] -= 1

    threads = [threading.Thread(target=stage) for _ in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return state["max"], used


def test_one_stage_per_device(tmp_path: Path) -> None:
    peak, used = _occupancy(DeviceSlots(tmp_path, ["cuda:0"], poll_seconds=0.01), 3, 0.15)
    assert peak == 1 and used == ["cuda:0"] * 3
    peak, used = _occupancy(DeviceSlots(tmp_path, ["cuda:0", "cuda:1"], poll_seconds=0.01), 4, 0.3)
    assert peak == 2 and sorted(set(used)) == ["cuda:0", "cuda:1"]
    result: list = []
    with DeviceSlots(tmp_path, ["cuda:0"]).acquire():  # held by a stage: another one times out waiting
        t = threading.Thread(target=lambda: result.append(_try_acquire(tmp_path)))
        t.start()
        t.join()
    assert isinstance(result[0], TimeoutError)
    assert _try_acquire(tmp_path) is None


def _try_acquire(lock_dir: Path) -> BaseException | None:
    try:
        with DeviceSlots(lock_dir, ["cuda:0"], poll_seconds=0.01).acquire(timeout=0.2):
            return None
    except TimeoutError as e:
        return e


def test_device_bound_stages_get_a_device_slot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path)
    dense = system_class("dense")
    assert dense.wants_device(dense.Config(device="auto")) and not dense.wants_device(dense.Config(device="cpu"))
    assert not system_class("bm25").wants_device(system_class("bm25").Config())
    monkeypatch.setenv("IRH_DEVICES", "cuda:0,cuda:1")
    other: list = []

    def other_stage() -> None:
        with device_slot(True, store, "other") as device:
            other.append(device)

    with device_slot(True, store, "first") as first:
        t = threading.Thread(target=other_stage)  # another stage while this one holds its device
        t.start()
        t.join()
    assert {first, *other} == {"cuda:0", "cuda:1"}
    with device_slot(False, store, "cpu") as none:
        assert none is None
    monkeypatch.setenv("IRH_DEVICES", "")  # a host without accelerators: device-bound stages just run
    with device_slot(True, store, "gpu") as none:
        assert none is None


# ---------------------------------------------------------------- processes
OUTCOME = re.compile(r"^irh: (computed|cached)\s+(\S+)", re.M)


def _irh(store: Path, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "--results", str(store), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
        **popen,
    )


@pytest.mark.slow
def test_two_runs_at_once_share_one_consistent_cache(irds_home: Path, tmp_path: Path) -> None:
    suite = dl_suite(tmp_path / "s.toml")
    store = tmp_path / "results"
    procs = [_irh(store, "run", str(suite)) for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outputs]
    computed = [label for _, err in outputs for status, label in OUTCOME.findall(err) if status == "computed"]
    labels = [f"{d}/{r.lower()}-100" for d in ("dl19", "dl20") for r in DL_RUNS]
    assert sorted(computed) == sorted(labels), "every job computed exactly once across both processes"
    assert outputs[0][0] == outputs[1][0] and "nDCG@10" in outputs[0][0]  # identical results tables
    s = Store(store)
    assert s.verify() == [] and len(list(s.entries("runs"))) == len(labels)
    assert not list(store.glob("runs/*/*.lock"))


@pytest.mark.slow
def test_sigkill_parallel_run_then_rerun_completes_only_missing(irds_home: Path, tmp_path: Path) -> None:
    suite_path = dl_suite(tmp_path / "s.toml", ks=(10, 50, 100))
    n_jobs = 2 * len(DL_RUNS) * 3
    store = Store(tmp_path / "results")
    proc = _irh(store.root, "run", str(suite_path), "--jobs", "2", start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and len(list(store.entries("runs"))) < 2:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the main process and its loky workers, as a killed job would be
    proc.communicate()
    done_before = len(list(store.entries("runs")))
    assert 0 < done_before < n_jobs, "the kill should land mid-suite"
    assert all("leftover" in p or "without sidecar" in p for p in store.verify())
    results = run_suite(load_suite(suite_path, digest_dir=str(store.digests_dir)), results=store, jobs=2)
    outcomes = results.outcomes
    assert sum(o.status == "computed" for o in outcomes) == n_jobs - done_before
    assert sum(o.status == "cached" for o in outcomes) == done_before
    assert {o.worker.split(":")[1] for o in outcomes if o.status == "computed"} - {str(os.getpid())}, "ran in workers"
    assert store.verify() == [] and not results.missing
