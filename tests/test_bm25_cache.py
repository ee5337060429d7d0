"""End to end on real collections with Lucene: published BM25 figures, the run cache, interrupted runs, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import harness.core.evaluate as evaluate_module
from harness.cli import main
from harness.store import Store
from harness.suite.config import load_suite
from harness.suite.run import run_suite
from tests.conftest import SUITES, snapshot

pytestmark = pytest.mark.slow


def _load(path: Path, store: Store):
    return load_suite(path, digest_dir=str(store.digests_dir))


@pytest.fixture(scope="module")
def beir_local(irds_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, list]:
    # BM25 only: the suite's neural systems are measured by `nox -s benchmark`, too slow for a 2-core CI
    store = Store(tmp_path_factory.mktemp("beir_local") / "results")
    outcomes = run_suite(_load(SUITES / "beir-local.toml", store), results=store, only=["*/bm25"]).outcomes
    return store, outcomes


def test_bm25_reproduces_published_pyserini_figures(beir_local, capsys: pytest.CaptureFixture) -> None:
    store, outcomes = beir_local
    assert {o.status for o in outcomes} == {"computed"}
    assert main(["--results", str(store.root), "show", str(SUITES / "beir-local.toml"), "--format", "json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["scifact"]["bm25"]["nDCG@10"] == pytest.approx(0.6789, abs=0.005)
    assert table["arguana"]["bm25"]["nDCG@10"] == pytest.approx(0.3970, abs=0.005)


def test_second_run_recomputes_nothing(beir_local, monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = beir_local
    before = snapshot(store.root / "runs"), snapshot(store.root / "evals")
    recomputed: list[str] = []
    # count every search and every evaluation the second run would do: each must come from the store
    monkeypatch.setattr("systems.bm25.BM25.retrieve", lambda self, dataset, k: recomputed.append(dataset.name))
    evaluate = evaluate_module.evaluate_per_query  # read_results imports it from here when it evaluates
    monkeypatch.setattr(
        evaluate_module, "evaluate_per_query", lambda *a, **k: recomputed.append("evaluation") or evaluate(*a, **k)
    )
    results = run_suite(_load(SUITES / "beir-local.toml", store), results=store, only=["*/bm25"])
    outcomes = results.outcomes
    assert [o.status for o in outcomes] == ["cached", "cached"] and recomputed == []
    assert (snapshot(store.root / "runs"), snapshot(store.root / "evals")) == before
    assert results.nested()["scifact"]["bm25"]["nDCG@10"] == pytest.approx(0.6789, abs=0.005)
    assert store.verify() == []


SMALL = """
metrics = ["nDCG@10", "AP"]
[datasets.cranfield]
id = "cranfield"
[datasets.vaswani]
id = "vaswani"
[systems.bm25]
kind = "bm25"
k1 = {k1}
[systems.bm25-classic]
kind = "bm25"
k1 = 1.2
b = 0.75
{extra}
"""


def test_changing_k1_recomputes_only_that_system(irds_home: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "results")
    suite_path = tmp_path / "s.toml"
    suite_path.write_text(SMALL.format(k1=0.9, extra=""))
    first = run_suite(_load(suite_path, store), results=store).outcomes
    assert sorted(o.status for o in first) == ["computed"] * 4
    suite_path.write_text(SMALL.format(k1=1.5, extra=""))
    second = run_suite(_load(suite_path, store), results=store).outcomes
    status = {o.label: o.status for o in second}
    assert status == {
        "cranfield/bm25": "computed",
        "vaswani/bm25": "computed",
        "cranfield/bm25-classic": "cached",
        "vaswani/bm25-classic": "cached",
    }
    assert len(list(store.entries("runs"))) == 6  # the k1=0.9 runs are still there, addressable again


def test_sigkill_mid_suite_then_rerun_completes_only_missing(irds_home: Path, tmp_path: Path) -> None:
    # b=0.4 is left out: it would be bm25 itself (the same key)
    variants = "\n".join(f'[systems.bm25-b{b}]\nkind = "bm25"\nb = 0.{b}' for b in (1, 2, 3, 5))
    suite_path = tmp_path / "s.toml"
    suite_path.write_text(SMALL.format(k1=0.9, extra=variants))
    store = Store(tmp_path / "results")
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "--results", str(store.root), "run", str(suite_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and len(list(store.entries("runs"))) < 3:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list(store.entries("runs")))
    assert 0 < done_before < 12, "the kill should land mid-suite"
    # whatever the kill interrupted, no stored entry is corrupt (only leftovers of the interrupted write may remain)
    assert all("leftover" in p or "without sidecar" in p for p in store.verify())
    outcomes = run_suite(_load(suite_path, store), results=store).outcomes
    assert sum(o.status == "computed" for o in outcomes) == 12 - done_before
    assert sum(o.status == "cached" for o in outcomes) == done_before
    assert store.verify() == []
    assert main(["--results", str(store.root), "cache", "verify"]) == 0


BAD_RUNS = {
    "unknown_qid": "1 Q0 184 1 3.0 t\n999999 Q0 29 1 2.0 t\n",
    "duplicate_docid": "1 Q0 184 1 3.0 t\n1 Q0 184 2 2.0 t\n",
    "nan_score": "1 Q0 184 1 NaN t\n",
}


@pytest.mark.parametrize("case", sorted(BAD_RUNS))
def test_bad_run_file_fails_in_one_line_and_leaves_store_untouched(
    irds_home: Path, tmp_path: Path, case: str, capsys: pytest.CaptureFixture
) -> None:
    good, bad = tmp_path / "good.run", tmp_path / "bad.run"
    good.write_text("1 Q0 184 1 3.0 t\n2 Q0 12 1 1.0 t\n")
    bad.write_text(BAD_RUNS[case])
    suite_path = tmp_path / "s.toml"
    template = 'metrics = ["nDCG@10"]\n[datasets.cran]\nid = "cranfield"\n[systems.imported]\nkind = "run-file"\n'
    suite_path.write_text(template + 'paths = { cran = "good.run" }\n')
    store_root = tmp_path / "results"
    assert main(["--results", str(store_root), "run", str(suite_path)]) == 0
    before = snapshot(store_root)
    capsys.readouterr()
    suite_path.write_text(template + 'paths = { cran = "bad.run" }\n')
    assert main(["--results", str(store_root), "run", str(suite_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err, err
    assert snapshot(store_root) == before


def test_bad_suite_via_cli_leaves_store_untouched(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    store_root = tmp_path / "results"
    (store_root / "runs").mkdir(parents=True)
    (store_root / "runs" / "marker").write_text("x")
    before = snapshot(store_root)
    suite_path = tmp_path / "broken.toml"
    suite_path.write_text('metrics = ["nDCG@10"\n')
    assert main(["--results", str(store_root), "run", str(suite_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"irh: error: {suite_path}:") and "malformed TOML" in err and "\n" not in err
    assert snapshot(store_root) == before
