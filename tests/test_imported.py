"""Imported runs as systems: a dataset's scoreddocs and TREC run files, through the whole harness path."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.store import Store
from harness.suite.config import load_suite
from harness.suite.run import run_suite
from tests.conftest import SHARED_DATA, SUITES

RUNS = SHARED_DATA / "msmarco-passage" / "runs-rankllm"


def test_scoreddocs_and_run_file_agree_on_dl19(irds_home: Path, tmp_path: Path) -> None:
    """ir_datasets' DL19 scoreddocs here are the staged Pyserini BM25 top-100: both routes give nDCG@10 0.5058."""
    suite_path = tmp_path / "s.toml"
    suite_path.write_text(
        'metrics = ["nDCG@10", "AP(rel=2)@1000"]\n[datasets.dl19]\nid = "msmarco-passage/trec-dl-2019/judged"\n'
        '[systems.shipped]\nkind = "scoreddocs"\n'
        f'[systems.file]\nkind = "run-file"\npaths = {{ dl19 = "{RUNS / "BM25.trec_results_dl19.txt"}" }}\n'
    )
    store = Store(tmp_path / "results")
    results = run_suite(load_suite(suite_path, digest_dir=str(store.digests_dir)), results=store)
    means = results.nested()["dl19"]
    assert means["shipped"]["nDCG@10"] == pytest.approx(0.5058, abs=0.001)
    assert means["shipped"] == means["file"]
    assert results.info[("dl19", "file")]["depth_limited"] == ["AP(rel=2)@1000"]


def test_run_file_skipped_where_no_file_is_given(irds_home: Path, tmp_path: Path) -> None:
    suite_path = tmp_path / "s.toml"
    suite_path.write_text(
        'metrics = ["nDCG@10"]\n[datasets.dl19]\nid = "msmarco-passage/trec-dl-2019/judged"\n'
        '[datasets.cran]\nid = "cranfield"\n'
        f'[systems.file]\nkind = "run-file"\npaths = {{ dl19 = "{RUNS / "BM25.trec_results_dl19.txt"}" }}\n'
    )
    store = Store(tmp_path / "results")
    results = run_suite(load_suite(suite_path, digest_dir=str(store.digests_dir)), results=store)
    outcomes = results.outcomes
    assert {o.label: o.status for o in outcomes} == {"cran/file": "skipped", "dl19/file": "computed"}
    assert results.skipped == [("cran", "file", "no run file given for dataset 'cran'")]


def test_trec_dl_suite_table_marks_depth_limited(irds_home: Path, tmp_path: Path, capsys) -> None:
    store = str(tmp_path / "results")
    assert main(["--results", store, "run", str(SUITES / "trec-dl.toml"), "--only", "*/bm25", "--only", "*/tas-b"]) == 0
    out = capsys.readouterr().out
    assert "0.5058" in out and "0.7210" in out and "0.4796" in out  # nDCG@10 DL19 BM25, TAS-B; DL20 BM25
    assert "0.2476†" in out  # AP(rel=2)@1000 of a top-100 run is marked depth-limited
    assert "depth-limited" in out
