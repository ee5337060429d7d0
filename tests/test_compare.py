"""Suite-level comparison: p-values and the correction across every comparison of a suite on a hand-built Results
fixture; stored files and plots; ``irh compare`` on the six real TREC DL runs."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

import harness.system
from harness.analysis import plots
from harness.analysis.suite_comparison import compare_suite, cost_table
from harness.cli import main
from harness.core.significance import Test
from harness.report.stored_comparison import read_comparison, save_comparison
from harness.report.terminal import format_comparison
from harness.suite.config import load_suite
from harness.suite.results import Results
from harness.system import System
from tests.conftest import SUITES, write_suite

SUITE = """
name = "fixture"
metrics = ["nDCG@10", "RR@10"]
baseline = "base"
[datasets.a]
id = "beir/scifact/test"
[datasets.b]
id = "beir/arguana"
[systems.base]
kind = "run-file"
paths = {{ a = "x", b = "x" }}
[systems.one]
kind = "run-file"
label = "System One"
paths = {{ a = "x", b = "x" }}
[systems.two]
kind = "run-file"
paths = {{ a = "x", b = "x" }}
[significance]
test = "{test}"
correction = "{correction}"
tie_tolerance = 0.02
"""
SHIFT = {"base": 0.0, "one": 0.12, "two": -0.01}


def _fixture(tmp_path: Path, test: str, correction: str):
    suite = load_suite(
        write_suite(tmp_path / "s.toml", SUITE.format(test=test, correction=correction)), check_datasets=False
    )
    rng = np.random.default_rng(7)
    rows, info = [], {}
    for ds, n in (("a", 30), ("b", 45)):
        for metric in ("nDCG@10", "RR@10"):
            base = rng.random(n) * 0.7
            for system, shift in SHIFT.items():
                noise = 0 if system == "base" else rng.normal(0, 0.15, n)
                values = np.clip(base + shift + noise, 0, 1).round(2)  # rounding: some exact ties
                rows += [(ds, system, f"q{i}", metric, v) for i, v in enumerate(values)]
        for system in SHIFT:
            info[(ds, system)] = {"depth_limited": [], "wall_seconds": 1.5, "index_seconds": 0.5, "run_key": system}
    per_query = pd.DataFrame(rows, columns=["dataset", "system", "query_id", "metric", "value"])
    datasets = {
        ds: {"irds_id": ds, "judged_queries": n, "topics": n, "unjudged_dropped": 0, "exclude_self_matches": False}
        for ds, n in (("a", 30), ("b", 45))
    }
    return suite, Results(per_query, info, datasets)


def _pairs(results: Results, ds: str, metric: str, system: str) -> tuple[np.ndarray, np.ndarray]:
    pq = results.per_query
    pq = pq[(pq["dataset"] == ds) & (pq["metric"] == metric)].pivot(index="query_id", columns="system", values="value")
    return pq[system].to_numpy(), pq["base"].to_numpy()


@pytest.mark.parametrize(
    ("test", "reference", "correction", "sm_method"),
    [("t-test", stats.ttest_rel, "holm", "holm"), ("wilcoxon", stats.wilcoxon, "bh", "fdr_bh")],
)
def test_p_values_and_correction_across_all_comparisons(tmp_path, test, reference, correction, sm_method) -> None:
    suite, results = _fixture(tmp_path, test, correction)
    cmp = compare_suite(suite, results)
    table = cmp.comparisons
    assert len(table) == 2 * 2 * 2  # datasets × metrics × systems, one family
    for row in table.itertuples(index=False):
        system, base = _pairs(results, row.dataset, row.measure, row.system)
        assert row.p == pytest.approx(float(reference(system, base).pvalue), abs=1e-9)
        d = system - base
        assert (row.wins, row.ties, row.losses) == (
            int((d > 0.02).sum()), int((np.abs(d) <= 0.02).sum()), int((d < -0.02).sum())
        )  # fmt: skip
    reject, adjusted, _, _ = multipletests(table["p"].to_numpy(), alpha=0.05, method=sm_method)
    np.testing.assert_allclose(table["p_corrected"].to_numpy(), adjusted, rtol=0, atol=1e-12)
    assert table["significant"].tolist() == reject.tolist()
    # the family is the whole suite, not one dataset's table
    alone = multipletests(table.loc[table["dataset"] == "a", "p"].to_numpy(), method=sm_method)[1]
    assert not np.allclose(table.loc[table["dataset"] == "a", "p_corrected"].to_numpy(), alone)
    one = table[(table["system"] == "one") & (table["dataset"] == "b") & (table["measure"] == "nDCG@10")].iloc[0]
    assert one["significant"] and one["delta"] > 0 and one["system_label"] == "System One"
    assert cmp.settings["n_comparisons"] == 8 and cmp.settings["test"] == Test(test) == suite.significance.test


def test_several_baselines_are_one_family(tmp_path) -> None:
    suite, results = _fixture(tmp_path, "t-test", "bonferroni")
    cmp = compare_suite(suite, results, baselines=["base", "two"])
    table = cmp.comparisons
    assert len(table) == 2 * 2 * (2 + 2)
    assert set(zip(table["baseline"], table["system"], strict=True)) == {
        ("base", "one"), ("base", "two"), ("two", "base"), ("two", "one")
    }  # fmt: skip
    np.testing.assert_allclose(table["p_corrected"], np.minimum(table["p"] * len(table), 1.0))
    text = format_comparison(cmp)
    assert "baseline two" in text and "Bonferroni correction over all 16 comparisons" in text


def _steps(ax) -> set[float]:
    """The distinct non-zero heights of the per-query Δ steps (filled paths, one per run of wins/ties/losses)."""
    return {round(float(y), 6) for c in ax.collections for y in c.get_paths()[0].vertices[:, 1]} - {0.0}


def test_stored_tables_json_and_plots(tmp_path) -> None:
    suite, results = _fixture(tmp_path, "t-test", "holm")
    cmp = compare_suite(suite, results)
    summary = save_comparison(cmp, tmp_path / "out")
    for name in ("means", "comparisons", "per_query_deltas", "cost"):
        assert (
            pd.read_parquet(tmp_path / "out" / f"{name}.parquet").shape
            == pd.read_csv(tmp_path / "out" / f"{name}.csv").shape
        )
    stored = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert stored["settings"]["correction"] == "holm" and len(stored["comparisons"]) == 8
    assert stored["settings"]["test"] == "ttest" and not {"suite_test", "test_name", "correction_name"} & set(
        stored["settings"]
    )  # each stored once, as the enum's value; names for display come from the enum
    assert stored == json.loads(json.dumps(summary, default=str))
    kinds = {(p["kind"], p["dataset"]) for p in stored["plots"]}
    assert kinds == {(k, d) for k in ("deltas", "cost") for d in ("a", "b")}  # no features: no bucket plot
    for p in stored["plots"]:
        assert [Path(f).suffix for f in p["files"]] == [".png", ".svg"]
        png, svg = (tmp_path / "out" / f for f in p["files"])
        assert png.read_bytes()[:4] == b"\x89PNG" and b"<svg" in svg.read_bytes()[:2000]
    assert all((tmp_path / "out" / f).is_file() for f in stored["files"].values())
    cost = pd.read_parquet(tmp_path / "out" / "cost.parquet")
    assert cost["seconds_per_1k"].tolist() == pytest.approx([1.0 / 30 * 1000] * 3 + [1.0 / 45 * 1000] * 3)
    # the plots are drawn from the stored tables: per system the sorted per-query Δ of the first metric vs the baseline
    back = read_comparison(tmp_path / "out")
    specs = plots.plot_specs(back)
    assert [(s.kind, s.dataset, f"plots/{s.name}.png") for s in specs] == [
        (p["kind"], p["dataset"], p["files"][0]) for p in stored["plots"]
    ]
    deltas = next(s for s in specs if s.kind == "deltas" and s.dataset == "b")
    fig = plots.figure(deltas, back.labels, 0.02)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == [
        f"{label}\nW/T/L {r.wins}/{r.ties}/{r.losses}"
        for label, r in zip(
            ["System One", "two"],
            cmp.comparisons.query("dataset == 'b' and measure == 'nDCG@10'").itertuples(),
            strict=True,
        )
    ]
    for ax, system in zip(visible, ["one", "two"], strict=True):
        system_values, base = _pairs(results, "b", "nDCG@10", system)
        assert _steps(ax) == {round(float(d), 6) for d in system_values - base} - {0.0}
    scatter = plots.figure(next(s for s in specs if s.kind == "cost" and s.dataset == "a"), back.labels, 0.02)
    means = results.means().query("dataset == 'a' and metric == 'nDCG@10'")["value"].tolist()
    points = np.concatenate([c.get_offsets() for c in scatter.axes[0].collections])  # one marker per system
    assert points[:, 0].tolist() == pytest.approx([1000 / 30] * 3) and points[:, 1].tolist() == pytest.approx(means)


COST_SUITE = """
name = "cost"
metrics = ["nDCG@10"]
[datasets.a]
id = "beir/scifact/test"
[systems.bm25]
kind = "bm25"
[systems.rerank]
kind = "colbert-rerank"
first_stage = "bm25"
depth = 100
[systems.old]
kind = "run-file"
paths = { a = "x" }
"""


def test_cost_is_query_time_of_the_pipeline(tmp_path) -> None:
    """Corpus-side seconds of every stage are taken out of the pipeline's wall time; a stage stored without them
    makes the row's query time unknown (None) while its raw wall time is kept."""
    suite = load_suite(write_suite(tmp_path / "s.toml", COST_SUITE), check_datasets=False)
    info = {
        ("a", "bm25"): {"wall_seconds": 12.0, "index_seconds": 10.0},
        ("a", "rerank"): {"wall_seconds": 5.0, "index_seconds": 1.0},
        ("a", "old"): {"wall_seconds": 3.0, "index_seconds": None},  # stored before index time was recorded
    }
    per_query = pd.DataFrame(
        [("a", s, f"q{i}", "nDCG@10", 0.1 * i) for s in ("bm25", "rerank", "old") for i in range(4)],
        columns=["dataset", "system", "query_id", "metric", "value"],
    )
    results = Results(per_query, info, {"a": {"topics": 4}})
    cost = cost_table(suite, results, results.means()).set_index("system")
    assert cost.loc["rerank", "pipeline"] == ["bm25", "rerank"]
    assert cost.loc["bm25", ["wall_seconds", "index_seconds", "query_seconds"]].tolist() == [12.0, 10.0, 2.0]
    assert cost.loc["rerank", ["wall_seconds", "index_seconds", "query_seconds"]].tolist() == [17.0, 11.0, 6.0]
    assert cost["seconds_per_1k"].tolist()[:2] == pytest.approx([2.0 / 4 * 1000, 6.0 / 4 * 1000])
    assert cost.loc["old", "wall_seconds"] == 3.0
    assert cost.loc["old", ["index_seconds", "query_seconds", "seconds_per_1k"]].isna().all()
    assert cost.loc["rerank", "nDCG@10"] == pytest.approx(0.15)
    # the scatter leaves the unknown row out (named in a note) instead of failing
    fig = plots.cost_scatter(cost.reset_index().rename(columns={"nDCG@10": "value"}), "nDCG@10", "t")
    ax = fig.axes[0]
    points = np.concatenate([c.get_offsets() for c in ax.collections])  # one marker per system
    np.testing.assert_allclose(points, [[500.0, 0.15], [1500.0, 0.15]])  # bm25, rerank; old has no query time
    assert ax.get_title(loc="left").endswith("query time unknown (run stored before corpus work was timed): old")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["bm25", "rerank"]  # named in the legend


def test_corpus_work_accumulates_and_counts_nested_blocks_once(monkeypatch) -> None:
    clock = iter([10.0, 13.0, 20.0, 21.5])  # one reading at the start and end of each outermost block
    monkeypatch.setattr(harness.system.contract.time, "perf_counter", lambda: next(clock))
    system = System(config=None, context=None)
    assert system.index_seconds == 0.0
    with system.corpus_work(), system.corpus_work():  # nested: timed by the outer block only
        pass
    assert system.index_seconds == 3.0
    with pytest.raises(RuntimeError), system.corpus_work():
        raise RuntimeError("failed build")  # still timed, and the nesting depth is restored
    assert system.index_seconds == 4.5 and system._corpus_depth == 0


def test_unknown_baseline_or_metric_is_a_one_line_error(tmp_path) -> None:
    from harness.core.errors import HarnessError

    suite, results = _fixture(tmp_path, "t-test", "holm")
    with pytest.raises(HarnessError, match="baseline 'nope' is not a system"):
        compare_suite(suite, results, baselines=["nope"])
    with pytest.raises(HarnessError, match="not one of this suite's metrics"):
        compare_suite(suite, results, metric="P@5")


# ---------------------------------------------------------------- the real TREC DL runs
def _imported_only(tmp: Path) -> Path:
    """suites/trec-dl.toml restricted to its imported runs (the six real DL runs; its LLM rerankers take hours)."""
    src = SUITES / "trec-dl.toml"
    data = tomllib.loads(src.read_text())
    lines = [f"name = {json.dumps(data['name'])}", f"metrics = {json.dumps(data['metrics'])}"]
    lines += [f"baseline = {json.dumps(data['baseline'])}"]
    for name, ds in data["datasets"].items():
        lines += [f"[datasets.{name}]", f"id = {json.dumps(ds['id'])}"]
    for name, system in data["systems"].items():
        if system["kind"] != "run-file":
            continue
        paths = ", ".join(f"{d} = {json.dumps(str((src.parent / p).resolve()))}" for d, p in system["paths"].items())
        lines += [f"[systems.{name}]", 'kind = "run-file"', f"label = {json.dumps(system['label'])}"]
        lines += [f"paths = {{ {paths} }}"]
    lines += ["[significance]", *(f"{k} = {json.dumps(v)}" for k, v in data["significance"].items())]
    return write_suite(tmp / "trec-dl.toml", "\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def dl_suite(irds_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("dl")
    suite = _imported_only(tmp)
    assert main(["-q", "--results", str(tmp / "results"), "run", str(suite)]) == 0
    return suite, tmp / "results"


def test_irh_compare_json_on_trec_dl(dl_suite: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    suite, dl_store = dl_suite
    capsys.readouterr()
    assert main(["-q", "--results", str(dl_store), "compare", str(suite), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["suite"] == "trec-dl" and len(out["labels"]) == 6
    assert out["baselines"] == ["bm25"] and out["metric"] == "nDCG@10"
    assert out["settings"]["test"] == "randomization" and out["settings"]["correction"] == "holm"
    assert len(out["comparisons"]) == 2 * 4 * 5  # datasets × metrics × systems
    # the runs are top-100: AP/R@1000 are depth-limited, so not tested and not in the family (datasets × 2 × systems)
    untested = {(r["dataset"], r["measure"]) for r in out["comparisons"] if not r["comparable"]}
    assert untested == {(d, m) for d in ("dl19", "dl20") for m in ("AP(rel=2)@1000", "R(rel=2)@1000")}
    assert out["settings"]["n_comparisons"] == 2 * 2 * 5 and out["settings"]["n_not_comparable"] == 2 * 2 * 5
    assert all(r["p"] is None and not r["significant"] for r in out["comparisons"] if not r["comparable"])
    assert out["missing"] == []
    rows = {(r["dataset"], r["measure"], r["system"]): r for r in out["comparisons"]}
    tasb = rows[("dl19", "nDCG@10", "tas-b")]
    assert tasb["significant"] and tasb["p_corrected"] < 0.05 and tasb["delta"] > 0.1
    assert tasb["wins"] + tasb["ties"] + tasb["losses"] == tasb["n"] == 43
    deltas = pd.read_parquet(dl_store / "compare" / "trec-dl" / "per_query_deltas.parquet")
    d = deltas[(deltas["dataset"] == "dl19") & (deltas["metric"] == "nDCG@10") & (deltas["system"] == "tas-b")]
    assert (tasb["wins"], tasb["losses"]) == (int((d["delta"] > 0).sum()), int((d["delta"] < 0).sum()))
    assert out["datasets"]["dl19"]["features"]["bm25_source"].startswith("scores in the stored run of system 'bm25'")
    buckets = pd.DataFrame(out["buckets"])
    for ds, n in (("dl19", 43), ("dl20", 54)):
        part = buckets[(buckets["dataset"] == ds) & (buckets["system"] == "tas-b") & (buckets["metric"] == "nDCG@10")]
        assert set(part["feature"]) == {"query_terms", "overlap", "overlap_rel2", "bm25_top_rel", "bm25_top_rel2"}
        for _, g in part.groupby("feature"):
            assert g["n"].sum() == n  # every judged query in exactly one bucket
    worst = [w for w in out["worst_queries"] if w["system"] == "tas-b" and w["metric"] == "nDCG@10"]
    assert worst and all(w["delta"] < 0 and w["query"] for w in worst)
    assert {p["kind"] for p in out["plots"]} == {"deltas", "buckets", "cost"}
    assert all(c["index_seconds"] == 0.0 and c["seconds_per_1k"] > 0 for c in out["cost"])  # imported: no corpus work
    assert all((Path(out["dir"]) / f).is_file() for p in out["plots"] for f in p["files"])
    back = read_comparison(Path(out["dir"]))
    spec = next(s for s in plots.plot_specs(back) if s.kind == "buckets" and s.dataset == "dl19")
    fig = plots.figure(spec, back.labels, 0.0)
    overlap = next(i for i, ax in enumerate(fig.axes[:5]) if ax.get_title() == "overlap")
    line = next(ln for ln in fig.axes[overlap].get_lines() if ln.get_label() == "TAS-B")
    b = buckets[(buckets["dataset"] == "dl19") & (buckets["system"] == "tas-b") & (buckets["metric"] == "nDCG@10")]
    b = b[b["feature"] == "overlap"].sort_values("bucket")
    assert line.get_ydata().tolist() == pytest.approx(b["win_rate"].tolist())  # the stored win rates, plotted


def test_irh_compare_names_missing_runs(irds_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    root = tmp_path / "results"
    suite = str(_imported_only(tmp_path))
    assert main(["-q", "--results", str(root), "run", suite, "--only", "dl19/bm25", "--only", "dl19/tas-b"]) == 0
    capsys.readouterr()
    assert main(["-q", "--results", str(root), "compare", suite, "--no-plots"]) == 0
    captured = capsys.readouterr()
    assert "missing run dl19/repllama" in captured.err and "missing run dl20/bm25" in captured.err
    assert "TAS-B" in captured.out and "RepLLaMA" not in captured.out.split("missing:")[0]
