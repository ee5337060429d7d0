"""The suite catalogue: availability of each dataset part, skipped datasets, aggregates, benchmark protocols."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.analysis.aggregate import OVERALL, aggregate
from harness.core.evaluate import EvalScope, evaluate_per_query
from harness.core.run import Run
from harness.data.availability import expected_count, probe
from harness.store import Store
from harness.suite.catalogue import check_suite
from harness.suite.config import load_suite
from harness.suite.plan import plan
from harness.suite.results import Results
from tests.conftest import SUITES


def test_availability_follows_ir_datasets(irds_home: Path) -> None:
    assert probe("beir/scifact/test", "docs").status == "local"
    assert probe("beir/scifact/test", "scoreddocs").status == "absent"
    quora = probe("beir/quora/test", "docs")
    assert quora.status == "download" and quora.size_bytes and quora.size_bytes > 10_000_000
    assert probe("beir/quora/test", "queries").status == "local"
    robust = probe("disks45/nocr/trec-robust-2004", "docs")
    assert robust.status == "licensed" and "disks 4 and 5" in robust.detail
    assert probe("beir/bioasq", "queries").status == "local"  # registered by irharness, Anserini topics
    assert probe("lotte/science/dev/search", "queries").status == "download"
    assert expected_count("beir/cqadupstack/android", "queries") == 699
    assert expected_count("beir/robust04", "queries") == 249


@pytest.mark.parametrize("path", sorted(SUITES.glob("*.toml")), ids=lambda p: p.stem)
def test_every_suite_checks(irds_home: Path, tmp_path: Path, path: Path) -> None:
    store = Store(tmp_path / "results")
    suite = load_suite(path, digest_dir=str(store.digests_dir))
    text = check_suite(suite, store)
    assert all(ds.name in text for ds in suite.datasets)


def test_beir_suite_runs_scifact_and_arguana_and_skips_the_rest(irds_home: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "results")
    suite = load_suite(SUITES / "beir.toml", digest_dir=str(store.digests_dir))
    jobs = plan(suite, store)
    runnable = {j.dataset.name for j in jobs if j.key is not None}
    assert runnable == {"scifact", "arguana"}
    reasons = {j.dataset.name: j.skipped for j in jobs if j.spec.name == "bm25"}
    assert reasons["quora"].startswith("docs not available locally (download needed")
    assert reasons["bioasq"].startswith("docs not available locally (licensed")
    report = check_suite(suite, store)
    assert "local: 10,000 ✓" in report  # Quora's test queries, counted and matching ir_datasets' published count
    assert "local: 932 ≠ 2,214 expected" in report  # Touché v2: Anserini's qrels dropped the zero judgments


def test_full_corpus_retrieval_is_skipped_on_a_partial_corpus(irds_home: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "results")
    suite = load_suite(SUITES / "msmarco-dev.toml", digest_dir=str(store.digests_dir))
    reasons = {j.spec.name: j.skipped for j in plan(suite, store)}
    assert reasons["bm25"] == "only 30,005 of 8,841,823 documents are available locally (a partial corpus)"
    assert reasons["official-bm25"].startswith("scoreddocs not available locally (download needed")


def _results(rows: list[tuple[str, str, float]]) -> Results:
    per_query = pd.DataFrame(
        [(d, s, "q1", "nDCG@10", v) for d, s, v in rows], columns=["dataset", "system", "query_id", "metric", "value"]
    )
    return Results(per_query)


def test_group_mean_and_suite_mean_over_datasets_every_system_ran_on(tmp_path: Path) -> None:
    suite_path = tmp_path / "s.toml"
    suite_path.write_text(
        'metrics = ["nDCG@10"]\n[datasets.a]\nid = "cranfield"\n[datasets.c1]\nid = "vaswani"\ngroup = "cqa"\n'
        '[datasets.c2]\nid = "vaswani"\ngroup = "cqa"\n[datasets.b]\nid = "vaswani"\n'
        '[systems.x]\nkind = "bm25"\n[systems.y]\nkind = "bm25"\nk1 = 1.2\n'
    )
    suite = load_suite(suite_path, check_datasets=False)
    results = _results(
        [("a", "x", 0.5), ("a", "y", 0.7), ("c1", "x", 0.2), ("c2", "x", 0.4), ("c1", "y", 0.6), ("c2", "y", 0.8),
         ("b", "x", 0.9)]  # y has no result on b: b is left out of the mean
    )  # fmt: skip
    results.info[("c2", "y")] = {"depth_limited": ["nDCG@10"]}  # y's run on c2 is shallower than the cut-off
    agg = aggregate(suite, results)
    assert agg.depth_limited["cqa"] == agg.depth_limited[OVERALL] == {("y", "nDCG@10")}  # means that average it
    assert agg.groups["cqa"]["x"]["nDCG@10"] == pytest.approx(0.3)
    assert agg.groups["cqa"]["y"]["nDCG@10"] == pytest.approx(0.7)
    assert agg.units == ["a", "cqa"] and agg.excluded == {"b": "no results for y"}
    assert agg.means["x"]["nDCG@10"] == pytest.approx((0.5 + 0.3) / 2)
    assert agg.means["y"]["nDCG@10"] == pytest.approx((0.7 + 0.7) / 2)


def test_success_at_5_on_a_hand_built_fixture() -> None:
    qrels = {"q1": {"d3": 1}, "q2": {"d9": 1}, "q3": {"d1": 0, "d2": 1}}
    scope = EvalScope.of({"q1": "", "q2": "", "q3": ""}, qrels)
    run = Run(
        {
            "q1": {f"d{i}": 10.0 - i for i in range(1, 8)},  # d3 at rank 3: success
            "q2": {f"d{i}": 10.0 - i for i in range(1, 8)},  # d9 not retrieved: failure
            "q3": {"d1": 5.0, "x1": 4.0, "x2": 3.0, "x3": 2.0, "x4": 1.0, "d2": 0.5},  # d2 at rank 6: failure
        }
    )
    per_query = evaluate_per_query(run, qrels, scope, ["Success@5"]).set_index("query_id")["value"]
    assert per_query.to_dict() == {"q1": 1.0, "q2": 0.0, "q3": 0.0}
