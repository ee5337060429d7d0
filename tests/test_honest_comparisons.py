"""Comparisons that are honest: a depth-limited measure is not tested (n/c, outside the correction family), the minimum
detectable effect equals its formula computed by hand with scipy, Judged@10 is evaluated and shown, shallow judgments
are flagged, the suite means have their own paired test, and ``irh compare`` prints p, CI and W/T/L aligned."""

from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path

import ir_datasets
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from harness.analysis.comparison import compare
from harness.api import evaluate
from harness.cli import main
from tests.test_compare import _imported_only

SYSTEMS = {"base": 0.0, "good": 0.1, "same": 0.0}


def _per_query(n: int = 40, seed: int = 3) -> pd.DataFrame:
    """Two datasets, three systems, two measures; 'good' is clearly better than 'base' on both."""
    rng = np.random.default_rng(seed)
    rows = []
    for ds in ("a", "b"):
        for measure in ("nDCG@10", "R@1000"):
            base = rng.random(n) * 0.8
            for system, shift in SYSTEMS.items():
                noise = 0 if system == "base" else rng.normal(0, 0.1, n)
                values = np.clip(base + shift + noise, 0, 1)
                rows += [(ds, system, f"q{i}", measure, float(v)) for i, v in enumerate(values)]
    return pd.DataFrame(rows, columns=["dataset", "system", "query_id", "measure", "value"])


def test_depth_limited_measure_is_not_tested_and_leaves_the_family() -> None:
    pq = _per_query()
    limited = {("a", "good", "R@1000"), ("b", "base", "R@1000")}  # a top-100 system; a top-100 baseline
    judged = pq[pq["measure"] == "nDCG@10"].assign(measure="Judged@10", value=0.9)  # a diagnostic: never tested
    full = compare(pd.concat([pq, judged]), "base", "t-test", "holm").to_frame()
    assert set(full["measure"]) == {"nDCG@10", "R@1000"}
    cmp = compare(pq, "base", "t-test", "holm", depth_limited=limited)
    t = cmp.to_frame().set_index(["dataset", "measure", "system"])
    not_comparable = [("a", "R@1000", "good"), ("b", "R@1000", "good"), ("b", "R@1000", "same")]
    assert full["comparable"].all() and full["significant"].sum() > 0
    assert sorted(t.index[~t["comparable"]]) == sorted(not_comparable)
    nc = t.loc[not_comparable]
    assert nc[["p", "p_corrected", "ci_low", "ci_high", "statistic", "mde", "effect_size"]].isna().all(axis=None)
    assert not nc["significant"].any()
    assert (nc["wins"] + nc["ties"] + nc["losses"] == 40).all()  # descriptive numbers stay
    good = t.loc[("a", "R@1000", "good")]
    assert good["delta"] == pytest.approx(good["mean"] - good["baseline_mean"]) and good["delta"] > 0.05
    # the family is the 5 comparable comparisons: Holm over exactly their p-values
    family = t[t["comparable"]]
    assert cmp.settings["n_comparisons"] == len(family) == 8 - 3 and cmp.settings["n_not_comparable"] == 3
    _, holm, _, _ = multipletests(family["p"].to_numpy(), method="holm")
    assert family["p_corrected"].to_numpy() == pytest.approx(holm, rel=1e-12)
    # and the p-values of the comparable ones are those of the untouched comparison
    ref = full.set_index(["dataset", "measure", "system"]).loc[family.index]
    assert family["p"].to_numpy() == pytest.approx(ref["p"].to_numpy(), rel=1e-12)
    assert "n/c" in cmp.to_latex() and "over all 5 comparisons tested" in cmp.to_latex()


@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_minimum_detectable_effect_is_the_paired_t_approximation(alpha: float) -> None:
    pq = _per_query()
    t = compare(pq, "base", "t-test", "holm", alpha).to_frame()
    for r in t.itertuples(index=False):
        part = pq[(pq["dataset"] == r.dataset) & (pq["measure"] == r.measure)]
        wide = part.pivot(index="query_id", columns="system", values="value")
        d = (wide[r.system] - wide["base"]).to_numpy()
        n = d.size
        by_hand = (stats.t.ppf(1 - alpha / 2, n - 1) + stats.t.ppf(0.8, n - 1)) * np.std(d, ddof=1) / math.sqrt(n)
        assert r.mde == pytest.approx(by_hand, rel=1e-12)
        # close to the exact (noncentral t) power calculation: a true effect of MDE is detected ~80 % of the time
        power = TTestPower().power(effect_size=r.mde / np.std(d, ddof=1), nobs=n, alpha=alpha)
        assert power == pytest.approx(0.8, abs=0.01)


# ---------------------------------------------------------------- the six real TREC DL runs


@pytest.fixture(scope="module")
def dl(irds_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("dl-honest")
    suite = _imported_only(tmp)
    assert main(["-q", "--results", str(tmp / "results"), "run", str(suite)]) == 0
    return suite, tmp / "results"


def _judged_at_10_by_hand(run_file: Path, irds_id: str) -> float:
    """Mean over judged queries of |top 10 ∩ judged| / |top 10|, the top 10 in trec_eval's order (score descending,
    then doc id descending)."""
    judged: dict[str, set[str]] = {}
    for q in ir_datasets.load(irds_id).qrels_iter():
        judged.setdefault(q.query_id, set()).add(q.doc_id)
    run = pd.read_csv(run_file, sep=r"\s+", header=None, names=["q", "x", "d", "rank", "score", "tag"], dtype=str)
    run["score"] = run["score"].astype(float)
    fractions = []
    for qid, docs in judged.items():
        ranking = run[run["q"] == qid].sort_values(["score", "d"], ascending=[False, False]).head(10)
        fractions.append(ranking["d"].isin(docs).sum() / len(ranking) if len(ranking) else 0.0)
    return float(np.mean(fractions))


def test_irh_show_reports_judged_at_10_for_every_dl_run(dl: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    suite, store = dl
    capsys.readouterr()
    assert main(["-q", "--results", str(store), "show", str(suite)]) == 0
    table = capsys.readouterr().out
    assert table.count("Judged@10") >= 2 * 2  # a column of each dataset's table and its line in the legend
    assert main(["-q", "--results", str(store), "show", str(suite), "--format", "json"]) == 0
    numbers = json.loads(capsys.readouterr().out)
    assert all("Judged@10" in values for ds in numbers.values() for values in ds.values())
    assert len([v for ds in numbers.values() for v in ds.values()]) == 12
    paths = tomllib.loads(suite.read_text())["systems"]
    for ds, year in (("dl19", 2019), ("dl20", 2020)):
        irds_id = f"msmarco-passage/trec-dl-{year}/judged"
        for system in ("bm25", "tas-b"):
            expected = _judged_at_10_by_hand(Path(paths[system]["paths"][ds]), irds_id)
            assert numbers[ds][system]["Judged@10"] == pytest.approx(expected, abs=1e-12)
            assert f"{expected:.4f}" in table


def test_irh_compare_prints_p_ci_mde_wtl_aligned_and_nc_on_dl(
    dl: tuple[Path, Path], capsys: pytest.CaptureFixture
) -> None:
    suite, store = dl
    capsys.readouterr()
    assert main(["-q", "--results", str(store), "compare", str(suite), "--no-plots"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    heads = [i for i, line in enumerate(lines) if re.match(r"\s+system\s+measure\s+Δ\s+95% CI\s+p\s+p \(adj\.\)", line)]
    assert len(heads) == 2  # one per dataset
    deltas = pd.read_parquet(store / "compare" / "trec-dl" / "per_query_deltas.parquet")
    for head in heads:
        grid = lines[head : head + 2 + 5 * 4]  # header, dashes, 5 systems × 4 measures
        assert lines[head + len(grid)].startswith("  ▲/▼: significantly better/worse")
        assert len({len(line) for line in grid}) == 1  # aligned: every row as wide as the header
        measure_col = grid[0].index("measure")
        rows = [line for line in grid[2:] if "@1000" in line[measure_col:]]
        assert len(rows) == 10 and all("n/c" in r and not re.search(r"\d\.\d{4}\s+\d\.\d{4}", r) for r in rows)
    # the MDE printed for TAS-B on dl19 nDCG@10 is the formula on its per-query differences
    d = deltas[(deltas["dataset"] == "dl19") & (deltas["metric"] == "nDCG@10") & (deltas["system"] == "tas-b")]
    d = d["delta"].to_numpy()
    mde = (stats.t.ppf(0.975, d.size - 1) + stats.t.ppf(0.8, d.size - 1)) * np.std(d, ddof=1) / math.sqrt(d.size)
    tasb = next(line for line in lines[heads[0] :] if line.strip().startswith("TAS-B"))
    assert f"{mde:.4f}" in tasb.split()
    assert "over all 20 comparisons of the suite" in out and "n/c: not comparable" in out
    assert "(20 such comparisons in the suite)" in out
    # the suite means, tested paired over the two datasets as a family of their own (AP/R@1000 n/c there too)
    assert "trec-dl · suite means over 2 datasets" in out and "correction over these 10 comparisons" in out


def test_long_query_ids_keep_the_largest_margin_columns() -> None:
    from harness.analysis.suite_comparison import SuiteComparison
    from harness.report.terminal import format_comparison

    worst = pd.DataFrame(
        {
            "dataset": "a", "metric": "nDCG@10", "baseline": "base", "system": "good", "rank": [1, 2, 3],
            "query_id": ["q1", "a-very-long-query-identifier-from-a-pooled-collection-0001", "q33"],
            "query": ["short", "a query text", "another"], "baseline_value": [0.9, 0.75, 0.5],
            "system_value": [0.1, 0.25, 0.125], "delta": [-0.8, -0.5, -0.375],
        }
    )  # fmt: skip
    empty = pd.DataFrame()
    means = pd.DataFrame(
        {"dataset": "a", "system": ["base", "good"], "metric": "nDCG@10", "value": [0.7, 0.6], "depth_limited": False}
    )
    settings = {"test": "ttest", "correction": "holm", "alpha": 0.05, "n_comparisons": 1, "tie_tolerance": 0.0}
    cmp = SuiteComparison(
        "s", settings, ["base"], "nDCG@10", {"base": "Base", "good": "Good"}, {"a": {}}, means, empty,
        empty, empty, empty, worst, empty,
    )  # fmt: skip
    lines = format_comparison(cmp).splitlines()
    at = lines.index("    Good:")
    header, dashes, *rows = lines[at + 1 : at + 6]  # header, dashes, 3 queries
    spans = [m.span() for m in re.finditer(r"-+", dashes)]  # each column's extent
    cells = [[row[a:b].strip() for a, b in spans] for row in rows]
    assert [header[a:b].strip() for a, b in spans] == ["query", "Base", "Good", "text"]
    assert cells == [
        ["q1", "0.900", "0.100", "short"],
        ["a-very-long-query-ident…", "0.750", "0.250", "a query text"],
        ["q33", "0.500", "0.125", "another"],
    ]


# ---------------------------------------------------------------- the suite comparison on a hand-built fixture


def test_shallow_judgments_are_flagged_and_suite_means_are_tested_across_datasets(tmp_path: Path) -> None:
    from harness.analysis.suite_comparison import JUDGED_GAP, compare_suite
    from harness.report.terminal import format_comparison
    from tests.test_compare import _fixture

    suite, results = _fixture(tmp_path, "t-test", "holm")
    judged = {"base": 0.95, "one": 0.95 - JUDGED_GAP - 0.01, "two": 0.95 - JUDGED_GAP + 0.01}
    qids = results.per_query[["dataset", "query_id"]].drop_duplicates()
    extra = pd.concat([qids.assign(system=s, metric="Judged@10", value=v) for s, v in judged.items()])
    results.per_query = pd.concat([results.per_query, extra], ignore_index=True)
    cmp = compare_suite(suite, results)
    c = cmp.comparisons
    assert "Judged@10" not in set(c["measure"])  # a diagnostic: shown, never tested
    flagged = set(c.loc[c["shallow_judgments"], "system"])
    assert flagged == {"one"} and (c["baseline_judged_at_10"] == 0.95).all()
    text = format_comparison(cmp)
    assert "! System One: Judged@10 0.84 vs 0.95 for base" in text and "! two" not in text
    # the suite means: per-dataset means tested paired across the 2 datasets, a family of their own
    t = cmp.mean_tests.set_index(["measure", "system"])
    assert len(t) == 2 * 2 and (t["n_datasets"] == 2).all()
    means = results.means()
    for (measure, system), r in t.iterrows():
        m = means[means["metric"] == measure].pivot(index="dataset", columns="system", values="value")
        ref = stats.ttest_rel(m[system], m["base"])
        assert r["p"] == pytest.approx(float(ref.pvalue), rel=1e-9)
        assert r["delta"] == pytest.approx(float((m[system] - m["base"]).mean()))
    _, holm, _, _ = multipletests(t["p"].to_numpy(), method="holm")
    assert t["p_corrected"].to_numpy() == pytest.approx(holm)
    assert "fixture · suite means over 2 datasets: paired t-test over the datasets (pairs: datasets)" in text


# ---------------------------------------------------------------- condensed lists


def test_condensed_evaluation_removes_unjudged_documents() -> None:
    qrels = pd.DataFrame({"query_id": "q1", "doc_id": ["a", "b", "c"], "relevance": [1, 0, 1]})
    run = pd.DataFrame({"query_id": "q1", "doc_id": ["x", "a", "y", "c", "b"], "score": [5.0, 4, 3, 2, 1]})
    full = evaluate(run, qrels, ["AP", "P@2", "Judged@10"]).set_index("measure")["value"]
    condensed = evaluate(run, qrels, ["AP", "P@2", "Judged@10"], condensed=True).set_index("measure")["value"]
    # full ranking x a y c b: relevant at ranks 2 and 4; condensed a c b: at ranks 1 and 2
    assert full.to_dict() == pytest.approx({"AP": (1 / 2 + 2 / 4) / 2, "P@2": 0.5, "Judged@10": 3 / 5})
    assert condensed.to_dict() == pytest.approx({"AP": 1.0, "P@2": 1.0, "Judged@10": 1.0})


def test_irh_compare_condensed_on_dl(dl: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    suite, store = dl
    capsys.readouterr()
    assert main(["-q", "--results", str(store), "compare", str(suite), "--no-plots", "--format", "json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert (
        main(["-q", "--results", str(store), "compare", str(suite), "--no-plots", "--condensed", "--format", "json"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert out["settings"]["condensed"] is True and plain["settings"]["condensed"] is False
    assert out["dir"] != plain["dir"] and json.loads((Path(plain["dir"]) / "compare.json").read_text()) == plain
    means = {(m["dataset"], m["system"], m["metric"]): m["value"] for m in out["means"]}
    assert all(v == 1.0 for (_, _, metric), v in means.items() if metric == "Judged@10")
    # TAS-B's condensed nDCG@10 on dl19: its run file with the unjudged passages removed by hand, then evaluated
    qrels = pd.DataFrame(
        [
            (q.query_id, q.doc_id, q.relevance)
            for q in ir_datasets.load("msmarco-passage/trec-dl-2019/judged").qrels_iter()
        ],
        columns=["query_id", "doc_id", "relevance"],
    )
    path = tomllib.loads(suite.read_text())["systems"]["tas-b"]["paths"]["dl19"]
    run = pd.read_csv(path, sep=r"\s+", header=None, names=["query_id", "x", "doc_id", "r", "score", "t"], dtype=str)
    run = run.merge(qrels[["query_id", "doc_id"]], on=["query_id", "doc_id"])  # judged documents only
    by_hand = evaluate(run.astype({"score": float}), qrels, ["nDCG@10"])["value"].iloc[0]
    assert means[("dl19", "tas-b", "nDCG@10")] == pytest.approx(by_hand, abs=1e-12)
    plain_means = {(m["dataset"], m["system"], m["metric"]): m["value"] for m in plain["means"]}
    assert by_hand > plain_means[("dl19", "tas-b", "nDCG@10")] + 0.01  # unjudged passages had counted as non-relevant
