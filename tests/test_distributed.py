"""Jobs on a real Dask cluster (LocalCluster, 2 worker processes) give exactly what local loky workers give."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli import main
from harness.store import Store
from harness.suite.config import load_suite
from harness.suite.run import run_suite
from tests.test_concurrency import dl_suite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> Iterator:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as c:
        with Client(c) as client:
            pids = set(client.run(os.getpid).values())
        yield c, pids


def _payloads(store: Store) -> dict[str, bytes]:
    return {m["key"]: store._paths("runs", m["key"])[0].read_bytes() for m in store.entries("runs")}


def test_dask_cluster_results_identical_to_loky(
    irds_home: Path, tmp_path: Path, cluster, capsys: pytest.CaptureFixture
) -> None:
    lc, worker_pids = cluster
    suite_path = dl_suite(tmp_path / "s.toml", runs=("BM25", "D_BERT_KD_TASB", "SPLADE_P_P_ENSEMBLE_DISTIL"))
    local = Store(tmp_path / "loky")
    local_results = run_suite(load_suite(suite_path, digest_dir=str(local.digests_dir)), results=local, jobs=2)
    outcomes = local_results.outcomes
    assert [o.status for o in outcomes] == ["computed"] * 6

    remote = Store(tmp_path / "dask")
    capsys.readouterr()
    args = ["--results", str(remote.root), "run", str(suite_path), "--backend", "dask"]
    assert main([*args, "--scheduler", lc.scheduler_address]) == 0
    dask_table = capsys.readouterr().out
    workers = {m["worker"] for m in remote.entries("runs")}
    assert {int(w.rsplit(":", 1)[1]) for w in workers} <= worker_pids, "every run computed in a cluster worker"

    assert _payloads(remote) == _payloads(local)  # same keys, byte-identical runs
    assert remote.verify() == []
    remote_results = run_suite(load_suite(suite_path, digest_dir=str(remote.digests_dir)), results=remote)
    remote_outcomes = remote_results.outcomes
    assert {o.status for o in remote_outcomes} == {"cached"}
    assert remote_results.nested() == local_results.nested()
    assert "nDCG@10" in dask_table


def test_ray_backend_without_ray_is_a_one_line_error(
    irds_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    suite_path = dl_suite(tmp_path / "s.toml", runs=("BM25",))
    assert main(["--results", str(tmp_path / "r"), "run", str(suite_path), "--backend", "ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "irh: error: backend 'ray' needs the ray package: pip install 'ray[default]'"


def test_scheduler_without_cluster_backend_is_refused(
    irds_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    suite_path = dl_suite(tmp_path / "s.toml", runs=("BM25",))
    args = ["--results", str(tmp_path / "r"), "run", str(suite_path), "--scheduler", "tcp://127.0.0.1:8786"]
    assert main(args) == 2
    assert "--scheduler needs --backend dask or ray" in capsys.readouterr().err
