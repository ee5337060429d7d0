"""The README's Python API example, executed as written: its numbers equal `irh show`'s, and compare() agrees with
the suite path's significance test (issue 21, acceptance 3)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return block


@pytest.fixture(scope="module")
def example(irds_home, tmp_path_factory) -> dict:
    store = tmp_path_factory.mktemp("api-store")
    mp = pytest.MonkeyPatch()
    mp.setenv("IRH_RESULTS", str(store))
    mp.chdir(ROOT)  # the example's paths are relative to the checkout, as a reader runs it
    namespace: dict = {}
    try:
        exec(compile(readme_example(), "README.md#python-api", "exec"), namespace)
    finally:
        mp.undo()
    namespace["store"] = store
    return namespace


def show(store: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "harness.cli", "-q", "--results", str(store), "show", "suites/trec-dl.toml",
         "--format", "json"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


def test_readme_example_equals_irh_show(example):
    shown = show(example["store"])["dl19"]
    means = example["means"]
    assert set(means["system"]) == {"bm25", "tas-b", "splade-pp"}
    for row in means[means["measure"] != "NumQ"].itertuples():
        assert row.value == pytest.approx(shown[row.system][row.measure], abs=1e-12), (row.system, row.measure)
    assert means.loc[means["measure"] == "NumQ", "value"].tolist() == [43.0, 43.0, 43.0]  # summed, as trec_eval
    assert shown["bm25"]["nDCG@10"] == pytest.approx(0.5058, abs=1e-4)  # the published Pyserini figure
    frame = example["suite"].to_frame().set_index("system")
    for system, metrics in shown.items():
        for metric, value in metrics.items():
            assert frame.loc[system, metric] == pytest.approx(value, abs=1e-12)


def test_readme_comparison_matches_its_per_query_scores(example):
    table = example["comparison"].to_frame()
    per_query = example["per_query"]
    assert len(table) == 4 and set(table["system"]) == {"tas-b", "splade-pp"}
    for row in table.itertuples():
        rows = per_query[per_query["measure"] == row.measure]
        scores = rows.pivot(index="query_id", columns="system", values="value")
        assert row.delta == pytest.approx((scores[row.system] - scores["bm25"]).mean(), abs=1e-12)
        assert row.p_corrected >= row.p
    # Holm over the 4 comparisons: the smallest p is multiplied by 4
    assert table["p_corrected"].min() == pytest.approx(min(1.0, 4 * table["p"].min()), abs=1e-12)
    assert "\\toprule" in example["latex"] and "splade-pp" in example["latex"]
