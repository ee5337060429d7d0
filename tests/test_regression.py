"""Regression baselines: verdicts, the baseline file, and `irh regress` against the committed smoke baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.core.errors import HarnessError
from harness.suite.config import load_suite
from harness.suite.regression import compare, make_baseline, passed, save_baseline, verdict
from harness.suite.results import Results
from tests.conftest import ROOT, SUITES

BASELINES = ROOT / "results" / "baselines"

SUITE = """
name = "tiny"
metrics = ["nDCG@10", "RR@10"]
[datasets.a]
id = "cranfield"
[datasets.b]
id = "vaswani"
[systems.x]
kind = "run-file"
paths = { a = "x.a.run", b = "x.b.run" }
[systems.y]
kind = "run-file"
paths = { a = "y.a.run", b = "y.b.run" }
[regression]
tolerance = 0.01
metrics = { "RR@10" = 0.05 }
"""


def _results(means: dict[tuple[str, str, str], float]) -> Results:
    """Results whose per-query table has two queries per (dataset, system, metric) averaging to the given mean."""
    rows = [(d, s, q, m, v + off) for (d, s, m), v in means.items() for q, off in (("1", -0.1), ("2", 0.1))]
    per_query = pd.DataFrame(rows, columns=["dataset", "system", "query_id", "metric", "value"])
    datasets = {d: {"irds_id": d, "judged_queries": 2, "judgments": 6} for d, _, _ in means}
    return Results(per_query, datasets=datasets)


@pytest.fixture
def tiny(tmp_path: Path):
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE)
    return load_suite(path, check_datasets=False)


def test_verdict_bounds() -> None:
    assert verdict(0.5, 0.5, 0.01) == "OK"
    assert verdict(0.5, 0.49, 0.01) == "OK"  # exactly at the tolerance
    assert verdict(0.5, 0.51, 0.01) == "OK"
    assert verdict(0.5, 0.4899, 0.01) == "REGRESSED"
    assert verdict(0.5, 0.5101, 0.01) == "IMPROVED"
    assert verdict(0.5, None, 0.01) == "MISSING"
    assert verdict(None, 0.3, 0.01) == "NEW"
    assert verdict(0.5, 0.5 - 1e-9, 0.0) == "REGRESSED"  # tolerance 0 means exact


def test_baseline_file_is_deterministic_and_records_tolerances(tiny, tmp_path: Path) -> None:
    results = _results({("a", "x", "nDCG@10"): 0.4, ("a", "x", "RR@10"): 0.6, ("b", "y", "nDCG@10"): 0.3})
    first, second = tmp_path / "1.json", tmp_path / "2.json"
    save_baseline(first, make_baseline(tiny, results))
    shuffled = Results(results.per_query.sample(frac=1, random_state=0), datasets=results.datasets)
    save_baseline(second, make_baseline(tiny, shuffled))
    assert first.read_bytes() == second.read_bytes()
    doc = json.loads(first.read_text())
    assert list(doc) == sorted(doc)
    assert doc["suite"] == "tiny" and doc["suite_digest"] == tiny.digest and doc["format"] == 2
    assert doc["expected"]["a"]["x"] == {
        "RR@10": {"value": 0.6, "tolerance": 0.05},
        "nDCG@10": {"value": 0.4, "tolerance": 0.01},
    }
    assert doc["datasets"]["a"] == {"id": "a", "queries": 2, "judgments": 6}
    assert "versions" in doc and "created" in doc and "git_commit" in doc


def test_baseline_values_are_rounded_with_the_tolerance_beside_them(tiny, tmp_path: Path) -> None:
    """Readable in review, like Anserini's YAMLs: one line per expected value, 4 decimals, no 17-digit floats; a fresh
    value equal to the unrounded number still passes at tolerance 0."""
    results = _results({("a", "x", "nDCG@10"): 0.123456789, ("a", "x", "RR@10"): 2 / 3})
    path = tmp_path / "b.json"
    save_baseline(path, make_baseline(tiny, results))
    text = path.read_text()
    assert '"nDCG@10": {"tolerance": 0.01, "value": 0.1235}' in text
    assert '"RR@10": {"tolerance": 0.05, "value": 0.6667}' in text
    assert "0.12345" not in text and "0.6666" not in text
    baseline = json.loads(text)
    baseline["expected"]["a"]["x"]["nDCG@10"]["tolerance"] = 0.0
    rows = compare(baseline, results, tiny)
    assert {r.metric: r.verdict for r in rows} == {"nDCG@10": "OK", "RR@10": "OK"}


def test_a_changed_corpus_is_an_error_not_a_regression(tiny) -> None:
    results = _results({("a", "x", "nDCG@10"): 0.4})
    baseline = make_baseline(tiny, results)
    baseline["datasets"]["a"]["judgments"] = 7
    with pytest.raises(HarnessError, match="'a' is not the one the baseline was measured on: judgments 7 → 6"):
        compare(baseline, results, tiny)


def test_compare_verdicts_per_metric_tolerance_and_scope(tiny) -> None:
    saved = _results(
        {
            ("a", "x", "nDCG@10"): 0.40,
            ("a", "x", "RR@10"): 0.60,
            ("a", "y", "nDCG@10"): 0.30,
            ("b", "x", "nDCG@10"): 0.50,
        }
    )
    baseline = make_baseline(tiny, saved)
    now = _results(
        {
            ("a", "x", "nDCG@10"): 0.385,  # -0.015 beyond 0.01: regressed
            ("a", "x", "RR@10"): 0.56,  # -0.04 within RR@10's own 0.05: ok
            ("a", "y", "nDCG@10"): 0.32,  # +0.02: improved
            ("b", "y", "nDCG@10"): 0.10,  # no expectation: new
        }  # b/x nDCG@10 not produced: missing
    )
    rows = compare(baseline, now, tiny)
    got = {(r.dataset, r.system, r.metric): r.verdict for r in rows}
    assert got == {
        ("a", "x", "nDCG@10"): "REGRESSED",
        ("a", "x", "RR@10"): "OK",
        ("a", "y", "nDCG@10"): "IMPROVED",
        ("b", "x", "nDCG@10"): "MISSING",
        ("b", "y", "nDCG@10"): "NEW",
    }
    regressed = next(r for r in rows if r.verdict == "REGRESSED")
    assert regressed.delta == pytest.approx(-0.015) and regressed.tolerance == 0.01
    assert not passed(rows)
    only_a_y = compare(baseline, now, tiny, only=["a/y"])
    assert [r.verdict for r in only_a_y] == ["IMPROVED"] and passed(only_a_y)


# ---------------------------------------------------------------- the real harness against the committed baseline
@pytest.fixture(scope="module")
def smoke_store(irds_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("regress") / "results"


def _regress(store: Path, suite: Path, *extra: str) -> int:
    args = ["--results", str(store), "regress", str(suite), "--baselines", str(BASELINES), "--only", "cranfield/bm25"]
    return main([*args, *extra])


@pytest.mark.slow
def test_committed_smoke_baseline_passes(smoke_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # Cranfield BM25 only (the cheapest part of smoke): `nox -s regression` checks the whole suite.
    report = tmp_path / "report.json"
    assert _regress(smoke_store, SUITES / "smoke.toml", "--out", str(report)) == 0
    rows = json.loads(report.read_text())["rows"]
    assert {r["metric"] for r in rows} == {"nDCG@10", "AP@1000", "P@10", "R@1000", "RR@10"}
    assert {r["verdict"] for r in rows} == {"OK"} and {r["dataset"] for r in rows} == {"cranfield"}
    out = capsys.readouterr().out.rstrip()
    assert out.endswith("5 OK, 0 IMPROVED, 0 REGRESSED, 0 MISSING, 0 INVALID, 0 UNCOVERED, 0 NEW → PASS")


@pytest.mark.slow
def test_perturbed_k1_regresses_with_nonzero_exit(
    smoke_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    text = (SUITES / "smoke.toml").read_text()
    assert "\nk1 = 0.9\n" in text
    perturbed = tmp_path / "smoke.toml"  # same suite name, so the same baseline file
    perturbed.write_text(text.replace("\nk1 = 0.9\n", "\nk1 = 0.3\n"))
    capsys.readouterr()
    assert _regress(smoke_store, perturbed) == 2  # another version of the suite: refused unless allowed
    assert "--allow-suite-change" in capsys.readouterr().err
    out = ["--out", str(tmp_path / "r.md"), "--out", str(tmp_path / "r.json")]
    assert _regress(smoke_store, perturbed, "--allow-suite-change", *out) != 0
    table = capsys.readouterr().out
    regressed = [line.split() for line in table.splitlines() if line.rstrip().endswith("REGRESSED")]
    assert ["cranfield", "bm25", "nDCG@10"] in [cells[:3] for cells in regressed], table
    assert "note: the suite file changed since the baseline was saved" in table
    doc = json.loads((tmp_path / "r.json").read_text())
    ndcg = next(r for r in doc["rows"] if r["metric"] == "nDCG@10")
    assert ndcg["verdict"] == "REGRESSED" and ndcg["delta"] < -ndcg["tolerance"] and not doc["passed"]
    assert "| cranfield | bm25 | nDCG@10 |" in (tmp_path / "r.md").read_text()
