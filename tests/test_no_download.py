"""Nothing needs what is not there: on BEIR TREC-COVID (queries and judgments here, the 171k-document corpus not),
every read path completes without a download attempt, `irh compare` says which features it skipped and why,
`irh suites check` names the file each missing part is read from, and `irh run` downloads only when allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.core.downloads import DownloadBlocked, allowing_downloads, guard
from tests.conftest import SHARED_DATA, snapshot

COVID_RUNS = SHARED_DATA / "trec-covid" / "runs-rankllm"


class Attempted(Exception):
    pass


@pytest.fixture
def attempts(monkeypatch) -> list[str]:
    """ir_datasets' network downloads (every remote mirror kind) patched to record the attempt and fail."""
    from ir_datasets.util import download

    tried: list[str] = []

    def fail(self):
        tried.append(getattr(self, "url", None) or getattr(self, "uri", repr(self)))
        raise Attempted(tried[-1])

    for cls in (download.RequestsDownload, download.GoogleDriveDownload, download.GoogleCloudBucketStream):
        monkeypatch.setattr(cls, "stream", fail)
    monkeypatch.setattr(download.RequestsDownload, "__iter__", fail)
    return tried


@pytest.fixture
def covid(irds_home: Path, tmp_path: Path) -> tuple[Path, str]:
    """A suite of two imported COVID runs, run once (a run file needs queries and judgments only)."""
    suite = tmp_path / "covid.toml"
    suite.write_text(
        'name = "covid"\nmetrics = ["nDCG@10", "P@10"]\nbaseline = "bm25"\n[datasets.covid]\nid = "beir/trec-covid"\n'
        f'[systems.bm25]\nkind = "run-file"\npaths = {{ covid = "{COVID_RUNS / "BM25.trec_results_covid.txt"}" }}\n'
        '[systems.splade]\nkind = "run-file"\n'
        f'paths = {{ covid = "{COVID_RUNS / "SPLADE_P_P_ENSEMBLE_DISTIL.trec_results_covid.txt"}" }}\n'
    )
    store = str(tmp_path / "results")
    assert main(["--results", store, "run", str(suite)]) == 0
    return suite, store


def test_every_read_path_completes_without_a_download(covid, attempts: list[str], tmp_path: Path, capsys) -> None:
    suite, store = covid
    capsys.readouterr()
    assert main(["--results", store, "show", str(suite)]) == 0
    assert main(["--results", store, "eval", str(suite)]) == 0
    assert "0.5947" in capsys.readouterr().out  # BEIR TREC-COVID BM25 as published
    assert main(["--results", store, "compare", str(suite), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "covid: query feature overlap skipped (needs document text: the documents of beir/trec-covid are not on " \
        "this machine (download needed" in out  # fmt: skip
    assert "overlap_rel2 skipped" in out  # TREC-COVID is graded
    assert "bm25_top_rel:" in out and "query_terms:" in out  # the features that need no document are computed
    assert main(["--results", store, "report", str(suite), "--format", "md", "--out", str(tmp_path / "r.md")]) == 0
    assert main(["--results", store, "suites", "check", str(suite)]) == 0
    out = capsys.readouterr().out
    assert "covid docs: read from " in out
    assert f"{Path(out.split('covid docs: read from ')[1].split()[0])}".endswith("beir/trec-covid/source.zip")
    assert main(["eval", str(COVID_RUNS / "BM25.trec_results_covid.txt"), "--qrels", "beir/trec-covid"]) == 0
    assert "0.5947" in capsys.readouterr().out
    assert attempts == []


def test_run_skips_what_needs_a_download_and_fails_when_nothing_ran(
    irds_home: Path, attempts: list[str], tmp_path: Path, capsys
) -> None:
    suite = tmp_path / "bm25.toml"
    suite.write_text('metrics = ["nDCG@10"]\n[datasets.covid]\nid = "beir/trec-covid"\n[systems.bm25]\nkind = "bm25"\n')
    store = tmp_path / "results"
    assert main(["--results", str(store), "run", str(suite)]) == 1
    captured = capsys.readouterr()
    assert "skipped bm25: docs not available locally (download needed (~73.9 MB); read from " in captured.out
    assert "every job was skipped" in captured.err
    assert attempts == []
    before = snapshot(store)
    # allowed: the download is attempted (here it fails: the hook is patched) and reported on one line
    assert main(["--results", str(store), "run", str(suite), "--allow-download"]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after ir_datasets' own log lines
    assert attempts and attempts[0].endswith("trec-covid.zip")
    assert last.startswith("irh: error: ") and "source.zip: download from https://" in last
    assert snapshot(store) == before


def test_the_guard_blocks_ir_datasets_itself_unless_allowed(irds_home: Path, attempts: list[str]) -> None:
    import ir_datasets

    guard()
    with pytest.raises(DownloadBlocked, match=r"source\.zip: not on this machine; ir_datasets would download"):
        next(iter(ir_datasets.load("beir/trec-covid").docs_iter()))
    assert attempts == []
    with allowing_downloads(), pytest.raises(Exception):  # noqa: B017  allowed: the (patched) network is tried
        next(iter(ir_datasets.load("beir/trec-covid").docs_iter()))
    assert attempts


def test_a_suite_may_allow_downloads_for_irh_run(irds_home: Path, attempts: list[str], tmp_path: Path, capsys) -> None:
    suite = tmp_path / "bm25.toml"
    suite.write_text(
        'allow_download = true\nmetrics = ["nDCG@10"]\n[datasets.covid]\nid = "beir/trec-covid"\n'
        '[systems.bm25]\nkind = "bm25"\n'
    )
    store = str(tmp_path / "results")
    assert main(["--results", store, "suites", "check", str(suite)]) == 0  # a read: the suite setting is for runs
    assert attempts == []
    assert main(["--results", store, "run", str(suite)]) == 2  # tried (and failed: the network hook is patched)
    assert attempts and "irh: error: " in capsys.readouterr().err
