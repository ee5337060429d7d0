"""Evaluation equals trec_eval (pytrec_eval called directly) on the real TREC DL runs and qrels."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest
import pytrec_eval

from harness.core.errors import HarnessError
from harness.core.evaluate import EvalScope, aggregate, evaluate, evaluate_per_query
from harness.core.loaders import load_qrels, load_run, load_topics
from harness.core.measures import is_depth_limited, parse_metric
from harness.core.run import Run
from harness.data.datasets import DatasetRef
from tests.conftest import SHARED_DATA

RUNS = SHARED_DATA / "msmarco-passage" / "runs-rankllm"
DL = {"dl19": "msmarco-passage/trec-dl-2019/judged", "dl20": "msmarco-passage/trec-dl-2020/judged"}


@pytest.fixture(scope="module", params=sorted(DL))
def dl(request: pytest.FixtureRequest, irds_home: Path) -> tuple[DatasetRef, dict, EvalScope]:
    ds = DatasetRef(request.param, DL[request.param])
    qrels = ds.qrels()
    return ds, qrels, EvalScope.of(ds.queries(), qrels)


@pytest.mark.parametrize("system", ["BM25", "D_BERT_KD_TASB", "REP_LLAMA"])
def test_matches_pytrec_eval(dl: tuple, system: str) -> None:
    ds, qrels, scope = dl
    run = Run.read_trec(RUNS / f"{system}.trec_results_{ds.name}.txt")
    ours = evaluate_per_query(run, qrels, scope, ["nDCG@10", "AP(rel=2)@1000", "R(rel=2)@1000", "P(rel=2)@10"])
    ours = ours.pivot(index="query_id", columns="metric", values="value")
    judged_run = {q: d for q, d in run.scores.items() if q in scope.query_ids}
    ndcg = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(judged_run)
    rel2 = pytrec_eval.RelevanceEvaluator(qrels, {"map_cut.1000", "recall.1000", "P.10"}, relevance_level=2)
    rel2 = rel2.evaluate(judged_run)
    assert set(ours.index) == set(ndcg)
    for q in ndcg:
        assert ours.loc[q, "nDCG@10"] == pytest.approx(ndcg[q]["ndcg_cut_10"], abs=1e-12)
        assert ours.loc[q, "AP(rel=2)@1000"] == pytest.approx(rel2[q]["map_cut_1000"], abs=1e-12)
        assert ours.loc[q, "R(rel=2)@1000"] == pytest.approx(rel2[q]["recall_1000"], abs=1e-12)
        assert ours.loc[q, "P(rel=2)@10"] == pytest.approx(rel2[q]["P_10"], abs=1e-12)


def test_rr_at_cutoff_is_trec_eval_on_truncated_run(dl: tuple) -> None:
    """RR(rel=2)@10 by hand: first doc with relevance ≥ 2 within the top 10 in trec_eval order."""
    ds, qrels, scope = dl
    run = Run.read_trec(RUNS / f"BM25.trec_results_{ds.name}.txt")
    ours = evaluate_per_query(run, qrels, scope, ["RR(rel=2)@10"]).set_index("query_id")["value"]
    for q in scope.query_ids:
        expected = 0.0
        for rank, (doc, _) in enumerate(run.ranked(q)[:10], start=1):
            if qrels[q].get(doc, 0) >= 2:
                expected = 1 / rank
                break
        assert ours[q] == pytest.approx(expected, abs=1e-15)


def test_published_dl_figures_from_imported_runs(irds_home: Path) -> None:
    """nDCG@10 of the staged runs equals the published Pyserini figures (±0.001)."""
    published = {
        ("dl19", "BM25"): 0.5058, ("dl19", "BM25_RM3"): 0.5216, ("dl19", "D_BERT_KD_TASB"): 0.7210,
        ("dl19", "SPLADE_P_P_ENSEMBLE_DISTIL"): 0.7308, ("dl20", "BM25"): 0.4796,
        ("dl20", "SPLADE_P_P_ENSEMBLE_DISTIL"): 0.7197,
    }  # fmt: skip
    for (name, system), value in published.items():
        ds = DatasetRef(name, DL[name])
        qrels = ds.qrels()
        run = Run.read_trec(RUNS / f"{system}.trec_results_{name}.txt")
        per_query = evaluate_per_query(run, qrels, EvalScope.of(ds.queries(), qrels), ["nDCG@10"])
        assert aggregate(per_query)["nDCG@10"] == pytest.approx(value, abs=0.001), (name, system)


def test_missing_query_scores_zero_and_unjudged_are_dropped() -> None:
    queries = {"q1": "a", "q2": "b", "q3": "never judged"}
    qrels = {"q1": {"d1": 1, "d2": 0}, "q2": {"d3": 1}}
    scope = EvalScope.of(queries, qrels)
    assert scope.query_ids == {"q1", "q2"} and scope.n_unjudged_dropped == 1
    run = Run({"q1": {"d2": 2.0, "d1": 1.0}, "q3": {"d9": 1.0}})  # q2 retrieved nothing
    per_query = evaluate_per_query(run, qrels, scope, ["RR@10", "P@1"])
    values = per_query.set_index(["query_id", "metric"])["value"]
    assert values[("q1", "RR@10")] == 0.5
    assert values[("q2", "RR@10")] == 0.0  # counted as zero, as trec_eval -c does
    assert values[("q1", "P@1")] == 0.0
    assert set(per_query["query_id"]) == {"q1", "q2"}
    assert aggregate(per_query)["RR@10"] == 0.25


def test_ties_broken_by_doc_id_descending_like_trec_eval() -> None:
    qrels = {"q": {"a": 1}}
    scope = EvalScope.of({"q": "x"}, qrels)
    run = Run({"q": {"a": 1.0, "b": 1.0}})  # tie: trec_eval ranks "b" first (doc id descending)
    assert run.ranked("q") == [("b", 1.0), ("a", 1.0)]
    assert evaluate_per_query(run, qrels, scope, ["RR@10"])["value"].item() == 0.5
    assert evaluate_per_query(run.top(1), qrels, scope, ["RR@10"])["value"].item() == 0.0


def test_self_matches_ignored_when_asked() -> None:
    qrels = {"q1": {"d1": 1}}
    scope = EvalScope.of({"q1": "x"}, qrels)
    run = Run({"q1": {"q1": 9.0, "d1": 1.0}})
    with_rule = evaluate_per_query(run, qrels, scope, ["RR@10"], exclude_self_matches=True)
    without = evaluate_per_query(run, qrels, scope, ["RR@10"], exclude_self_matches=False)
    assert with_rule["value"].item() == 1.0 and without["value"].item() == 0.5


def test_depth_limited_flags() -> None:
    assert is_depth_limited(parse_metric("AP(rel=2)@1000"), 100)
    assert is_depth_limited(parse_metric("AP"), 100)
    assert not is_depth_limited(parse_metric("nDCG@10"), 100)
    assert not is_depth_limited(parse_metric("R@1000"), 1000)


def test_per_query_table_shape() -> None:
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}}
    per_query = evaluate_per_query(
        Run({"q1": {"d1": 1.0}}), qrels, EvalScope.of({"q1": "", "q2": ""}, qrels), ["nDCG@10", "R@100"]
    )
    assert isinstance(per_query, pd.DataFrame)
    assert list(per_query.columns) == ["query_id", "metric", "value"]
    assert len(per_query) == 4


def test_evaluate_api_on_dl19_equals_the_suite_path(irds_home: Path, tmp_path: Path) -> None:
    """``evaluate`` with a run file (plain and gzip) and an ir_datasets id: the figure test_imported asserts through
    the suite (BM25 DL19 nDCG@10 0.5058), NumQ summed over the 43 judged queries, no Suite or Store needed."""
    run_file = SHARED_DATA / "msmarco-passage" / "runs-rankllm" / "BM25.trec_results_dl19.txt"
    gz = tmp_path / "bm25.txt.gz"
    gz.write_bytes(gzip.compress(run_file.read_bytes()))
    table = evaluate({"plain": run_file, "gz": gz}, "msmarco-passage/trec-dl-2019/judged", ["nDCG@10", "NumQ"])
    assert list(table.columns) == ["system", "measure", "value"]
    values = table.set_index(["system", "measure"])["value"]
    assert values[("plain", "nDCG@10")] == pytest.approx(0.5058, abs=0.001)
    assert values[("plain", "NumQ")] == 43
    assert values[("gz", "nDCG@10")] == values[("plain", "nDCG@10")]
    topics = load_topics("msmarco-passage/trec-dl-2019/judged")
    assert len(topics) == 43 and all(text for text in topics.values())


def test_loaders_name_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "qrels.txt"
    bad.write_text("q1 0 d1 1\nq1 0 d2\n")
    with pytest.raises(HarnessError, match="expected 4 fields") as e:
        load_qrels(bad)
    assert e.value.line == 2
    with pytest.raises(HarnessError, match="missing: score"):
        load_run(pd.DataFrame({"query_id": ["q"], "doc_id": ["d"]}))
    with pytest.raises(HarnessError, match="neither a file nor an ir_datasets id"):
        load_qrels("no/such/dataset")


def test_numrel_at_another_relevance_level_is_trec_evals(dl: tuple) -> None:
    """NumRel(rel=2) (ir_measures has no evaluator for it) equals trec_eval's num_rel at relevance level 2 (-l2),
    also for a judged query the run misses; summed over queries."""
    ds, qrels, scope = dl
    run = Run.read_trec(RUNS / f"BM25.trec_results_{ds.name}.txt")
    missing = sorted(scope.query_ids)[0]
    run = Run({q: d for q, d in run.scores.items() if q != missing})
    ours = evaluate_per_query(run, qrels, scope, ["NumRel(rel=2)"]).set_index("query_id")["value"]
    judged = {q: qrels[q] for q in scope.query_ids}
    trec = pytrec_eval.RelevanceEvaluator(judged, {"num_rel"}, relevance_level=2).evaluate(
        {q: {"x": 0.0} for q in judged}
    )
    assert ours.to_dict() == {q: trec[q]["num_rel"] for q in judged}
    assert ours[missing] > 0 and aggregate(ours.rename("value").reset_index().assign(metric="NumRel(rel=2)"))[
        "NumRel(rel=2)"
    ] == sum(trec[q]["num_rel"] for q in judged)
