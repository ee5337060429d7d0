"""The headline of a report: the suite means with how often each system is significantly better or worse than the
baseline across the datasets, and one row per dataset (systems as columns) on the comparison metric. Built from the
per-dataset tables and the stored comparison: nothing is tested here, the per-dataset tests are counted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from harness.report.tables import Cell, Table


@dataclass
class OverviewRow:
    dataset: str
    anchor: str  # the id of the dataset's section
    cells: list[Cell | None]  # per system of the overview; None: not run on this dataset


@dataclass
class Overview:
    """Datasets × systems on one metric, with the marks of each dataset's table (best, second, ▲/▼ vs baseline)."""

    metric: str
    baseline_label: str | None
    systems: list[tuple[str, str]]  # (name, label) in suite order
    rows: list[OverviewRow]


def overview(metric: str, sections: list[tuple[str, str, Table]], systems: Mapping[str, str]) -> Overview | None:
    """``sections``: (dataset, anchor, its table against the suite baseline, or its only table) per dataset;
    ``systems``: name → label in suite order. None when no table has ``metric``."""
    shown = [(d, a, t) for d, a, t in sections if metric in t.metrics]
    if not shown:
        return None
    present = {r.system for _d, _a, t in shown for r in t.rows}
    cols = [(s, label) for s, label in systems.items() if s in present]
    rows = []
    for dataset, anchor, table in shown:
        j = table.metrics.index(metric)
        by_system = {r.system: r.cells[j] for r in table.rows}
        rows.append(OverviewRow(dataset, anchor, [by_system.get(s) for s, _label in cols]))
    baseline = next((t.baseline_label for _d, _a, t in shown if t.baseline_label), None)
    return Overview(metric, baseline, cols, rows)


def count_significant(table: Table, comparisons: pd.DataFrame, baseline: str, datasets: list[str]) -> None:
    """Mark each cell of a table of means over ``datasets`` with (better, worse, n): on how many of the datasets the
    system is significantly better / worse than ``baseline`` on that metric (the stored per-dataset tests, after the
    suite's correction). Cells of the baseline and of metrics never compared stay unmarked."""
    if comparisons.empty or "dataset" not in comparisons.columns:
        return
    rows = comparisons[(comparisons["baseline"] == baseline) & comparisons["dataset"].isin(datasets)]
    for row in table.rows:
        if row.system == baseline:
            continue
        mine = rows[rows["system"] == row.system]
        for metric, cell in zip(table.metrics, row.cells, strict=True):
            tests = mine[mine["measure"] == metric]
            if tests.empty:
                continue
            significant = tests[tests["significant"].astype(bool)]
            better = int((significant["delta"] > 0).sum())
            cell.significant_on = (better, len(significant) - better, len(datasets))
